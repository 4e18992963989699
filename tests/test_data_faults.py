"""Bad values in data: each is found when the data is loaded and named in one line (or skipped on request)."""

import numpy as np
import pytest
import soundfile
from conftest import compose_config

from cnnlstm.data import ImageFolder, WavFolder
from cnnlstm.data.images import load_image
from cnnlstm.data.make_tones import make_tone_folder
from cnnlstm.data.uea import load_split
from cnnlstm.engine.run import train
from cnnlstm.errors import DataError


@pytest.fixture
def tones(tmp_path):
    make_tone_folder(tmp_path / "tones", per_class=4, freqs=(400.0, 1600.0), sample_rate=8000, max_s=0.4)
    return tmp_path / "tones"


def test_nan_audio_is_named_or_skipped(tones):
    bad = tones / "tone0" / "000.wav"
    audio, rate = soundfile.read(bad, dtype="float32")
    audio[10:20] = np.nan
    soundfile.write(bad, audio, rate, subtype="FLOAT")
    with pytest.raises(DataError, match=r"tone0/000\.wav: 10 samples are NaN or infinite"):
        WavFolder(root=str(tones), sample_rate=8000).setup()
    data = WavFolder(root=str(tones), sample_rate=8000, skip_bad=True)
    data.setup()
    assert len(data.skipped) == 1 and "NaN" in data.skipped[0]


def test_stream_refuses_nan_and_missing_audio(tones, tmp_path, capsys):
    from cnnlstm.stream import main

    cfg = compose_config("model=cldnn_streaming", "data=wav_folder", f"data.root={tones}", "data.sample_rate=8000",
                         "model.conv_channels=[4,4]", "model.hidden_size=8", "model.num_layers=1", "model.reduce_dim=8",
                         "model.dnn_hidden=[8]", "trainer.max_steps=1", "trainer.device=cpu", "logger=none")
    train(cfg, tmp_path / "run")
    ckpt = tmp_path / "run" / "checkpoints" / "last.pt"
    nan = tmp_path / "nan.wav"
    soundfile.write(nan, np.full(4000, np.nan, dtype=np.float32), 8000, subtype="FLOAT")
    for wav, message in ((nan, "4000 samples are NaN or infinite"), (tmp_path / "missing.wav", "no such file")):
        assert main([f"ckpt_path={ckpt}", f"wav={wav}"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "prediction" not in err


def test_a_folder_with_one_class_is_refused_before_training(tones, tmp_path):
    import shutil

    shutil.rmtree(tones / "tone1")
    for name in ("validation_list.txt", "testing_list.txt"):
        lines = (tones / name).read_text().splitlines()
        (tones / name).write_text("".join(f"{line}\n" for line in lines if line.startswith("tone0")))
    cfg = compose_config("model=cldnn_streaming", "data=wav_folder", f"data.root={tones}", "data.sample_rate=8000",
                         "trainer.device=cpu", "logger=none")
    with pytest.raises(DataError, match=r"the data has 1 class \['tone0'\]: classification needs at least 2"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path):
    from PIL import Image

    bomb = tmp_path / "bomb.png"
    Image.new("L", (14000, 14000)).save(bomb, optimize=True)  # ~200 KB on disk, 196 Mpixels decoded
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(DataError, match=r"bomb\.png is 14000x14000 pixels, more than data\.max_pixels"):
        load_image(bomb, 1, (8, 8))
    small = tmp_path / "folder"
    small.mkdir()
    for i in range(3):
        Image.new("L", (40, 40)).save(small / f"{i}.png")
    data = ImageFolder(root=str(small), size=8, max_pixels=1000)
    with pytest.raises(DataError, match=r"is 40x40 pixels, more than data\.max_pixels=1000"):
        data.setup()


def test_nan_inside_a_uea_series_is_named_or_left_out(monkeypatch):
    import aeon.datasets

    good = np.ones((2, 5))
    inside = np.ones((2, 5))
    inside[1, 2] = np.nan
    trailing = np.ones((2, 5))
    trailing[:, 3:] = np.nan  # a shorter series, not bad data
    fake = (np.stack([good, inside, trailing]), np.array(["a", "b", "a"]))
    monkeypatch.setattr(aeon.datasets, "load_classification", lambda *a, **k: fake)
    with pytest.raises(DataError, match=r"'Fake' \(train\) series 1 holds NaN or infinite values"):
        load_split("Fake", "train", extract_path="anywhere")
    series, labels = load_split("Fake", "train", extract_path="anywhere", skip_bad=True)
    assert [s.shape for s in series] == [(2, 5), (2, 3)] and list(labels) == ["a", "a"]
