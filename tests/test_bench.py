"""The benchmark code runs (numbers come from `make bench`, never from timed tests)."""

import torch

from cnnlstm.bench.__main__ import print_table
from cnnlstm.bench.measure import measure
from cnnlstm.bench.tutorial import data_generation_seconds


def test_measure_one_variant_reports_every_field():
    spec = {"overrides": ["data.size=16", "data.seq_len=8", "data.n_test=8"], "device": "cpu",
            "warmup": 1, "steps": 2, "infer_calls": 4}
    record = measure(spec)
    for key in ("train_samples_per_s", "infer_samples_per_s_b1", "infer_samples_per_s_b256", "peak_mem_mb",
                "data_share"):
        assert record[key] > 0, key


def test_data_generation_and_table(capsys):
    assert data_generation_seconds(torch.device("cpu"), n=64) > 0
    print_table([{"family": "a", "variant": "eager", "x": 1.23456}, {"family": "b", "y": 2}])
    out = capsys.readouterr().out
    assert "family" in out and "1.235" in out


def test_speech_corpora_and_featurize_rate(tmp_path):
    from cnnlstm.bench.speech import featurize_rate
    from cnnlstm.bench.speech_corpora import write_speech_commands, write_timit
    from cnnlstm.data.timit import TIMIT

    assert featurize_rate(str(write_speech_commands(tmp_path / "sc", 40)), 0) > 0
    data = TIMIT(str(write_timit(tmp_path / "timit", 8, per_speaker=2)), num_workers=0)
    assert data.split_size("train") == 12 and data.split_size("test") == 2
