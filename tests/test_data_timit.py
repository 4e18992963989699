"""TIMIT: the LDC tree in NIST SPHERE (and RIFF, lower case), frame labels at the front end's hop, folding, bad files."""

import json

import numpy as np
import pytest
import soundfile
import torch
from conftest import run_script
from speech_miniatures import make_timit, write_utterance

from cnnlstm.data.phones import PHONES_39, PHONES_48, PHONES_61, fold, label_table, score_map
from cnnlstm.data.timit import TIMIT
from cnnlstm.errors import DataError
from cnnlstm.models import CLDNN
from cnnlstm.nn.log_mel import LogMel
from cnnlstm.nn.masking import IGNORE_LABEL
from cnnlstm.tasks import FrameLabelling


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_timit(tmp_path_factory.mktemp("timit"))


def data_of(root, **kw):
    data = TIMIT(str(root), batch_size=4, num_workers=0, **kw)
    data.setup("cpu")
    return data


def test_sphere_tree_splits_by_the_standard_speaker_lists(tree):
    assert open(next(tree.rglob("*.WAV")), "rb").read(7) == b"NIST_1A"  # the real format
    data = data_of(tree)
    # SA sentences left out: 3 utterances per speaker; MDAB0 is a core test speaker, FAKS0 a dev one
    assert [data.split_size(s) for s in ("train", "val", "test")] == [12, 3, 3]
    assert all("/MDAB0/" in a for a, _ in data.items["test"]) and all("/FAKS0/" in a for a, _ in data.items["val"])
    assert data_of(tree, include_sa=True).split_size("train") == 16
    assert data.model_args == {"num_outputs": 61, "sample_rate": 16000}


def test_without_the_standard_speakers_validation_is_held_out_train_speakers(tmp_path):
    root = make_timit(tmp_path, test_speakers=("MXYZ0",), utterances=("SI1", "SX2"))
    data = data_of(root, val_fraction=0.25)
    val = {a.split("/")[-2] for a, _ in data.items["val"]}
    train = {a.split("/")[-2] for a, _ in data.items["train"]}
    assert len(val) == 1 and not val & train and data.split_size("test") == 2


def test_lower_case_riff_tree(tmp_path):
    root = make_timit(tmp_path, sphere=False, upper=False)
    assert (root / "train" / "dr1" / "fcjf0" / "si648.wav").is_file()
    assert data_of(root).split_size("train") == 12


def test_frame_labels_are_the_phone_at_each_frame_centre(tmp_path):
    folder = tmp_path / "TRAIN" / "DR1" / "FAAA0"
    write_utterance(folder, "SI1", np.random.default_rng(0))
    write_utterance(tmp_path / "TEST" / "DR1" / "MZZZ0", "SI2", np.random.default_rng(1))
    n = 4000  # 25 ms window, 10 ms hop at 16 kHz: 400 and 160 samples, frame centres at 200 + 160 t
    (folder / "SI1.PHN").write_text("0 500 h#\n500 1000 sh\n1000 1100 q\n1100 2000 iy\n2000 4000 h#\n")
    import soundfile

    soundfile.write(folder / "SI1.WAV", np.zeros(n, np.float32) + 0.1, 16000, format="NIST", subtype="PCM_16")
    data = data_of(tmp_path, val_fraction=0.0)
    batch = data.make_batch("train", torch.tensor([0]))
    frames = int(LogMel(sample_rate=16000).num_frames(torch.tensor(n)))
    assert batch["y"].shape == (1, frames) == (1, 23)
    ids = {p: i for i, p in enumerate(PHONES_61)}
    centres = 200 + 160 * np.arange(frames)
    expected = [ids["h#"] if c < 500 or c >= 2000 else ids["sh"] if c < 1000 else ids["q"] if c < 1100 else ids["iy"]
                for c in centres]
    assert batch["y"][0].tolist() == expected
    # trained on 48 phones, q (centre 1000 -> frame 5) is not trained on
    y48 = data_of(tmp_path, val_fraction=0.0, train_phones=48).make_batch("train", torch.tensor([0]))["y"][0]
    assert y48[5] == IGNORE_LABEL and (y48 != IGNORE_LABEL).sum() == frames - 1
    # other framing: the data follows the front end's hop and window
    data20 = data_of(tmp_path, val_fraction=0.0, hop_ms=20.0, win_ms=30.0)
    assert data20.make_batch("train", torch.tensor([0]))["y"].shape[1] == (n - 480) // 320 + 1


def test_labels_match_the_models_frames_with_an_output_delay(tree):
    data = data_of(tree)
    model = CLDNN(num_outputs=61, sample_rate=16000, variant="lstm", hidden_size=8, proj_size=0, causal=True,
                  frontend={"normalize": "none"}).eval()
    batch = next(data.batches("train"))
    task = FrameLabelling(delay=3, tbptt_steps=None)
    out = task.step(model, batch).outputs
    assert out.shape[:2] == batch["y"].shape
    frames = model.frontend.num_frames(batch["lengths"])
    valid = (batch["y"] != IGNORE_LABEL).sum(1)
    assert bool((valid <= frames).all()) and int(frames.max()) == batch["y"].shape[1]


def test_the_61_48_39_folding():
    assert (len(PHONES_61), len(PHONES_48), len(PHONES_39)) == (61, 48, 39)
    for phone, folded in {"ao": "aa", "zh": "sh", "pcl": "sil", "h#": "sil", "ix": "ih", "em": "m", "ux": "uw",
                          "axr": "er", "el": "l", "en": "n", "nx": "n", "hv": "hh"}.items():
        assert fold(phone, 39) == folded
    assert fold("q", 48) is None and fold("q", 39) is None and fold("bcl", 48) == "vcl"
    to39 = score_map(61)
    assert to39[PHONES_61.index("q")] == -1 and sorted(set(to39) - {-1}) == list(range(39))
    assert score_map(39) == list(range(39)) and label_table(39)["q"] == -1
    assert all(to39[PHONES_61.index(p)] == PHONES_39.index(fold(p, 39)) for p in PHONES_61 if p != "q")


def test_fer_is_scored_on_the_folded_phones(tree):
    data = data_of(tree)
    task = FrameLabelling(delay=0, tbptt_steps=None)
    task.check_data(data)
    ids = {p: i for i, p in enumerate(PHONES_61)}
    y = torch.tensor([[ids["aa"], ids["ao"], ids["q"], ids["s"], IGNORE_LABEL]])
    guess = torch.tensor([[ids["ao"], ids["ao"], ids["s"], ids["z"], ids["s"]]])  # ao~aa right in 39; q not scored
    outputs = torch.nn.functional.one_hot(guess, 61).float()
    metrics = task.metrics()
    task.update_metrics(metrics, type("S", (), {"outputs": outputs, "loss": torch.tensor(0.0)})(), {"y": y})
    values = {k: float(v) for k, v in metrics.compute().items()}
    assert values["acc"] == pytest.approx(1 / 4) and values["acc39"] == pytest.approx(2 / 3)
    assert values["fer"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("damage,match", [
    (lambda wav, phn: wav.write_bytes(b"NIST_1A\n   1024\nsample_count -i oops\nend_head\n" + b"\0" * 1200),
     "unreadable or corrupt audio header"),
    (lambda wav, phn: phn.write_text("0 900 h#\n800 2000 sh\n"), r"line 2: segment 800-2000 overlaps the previous"),
    (lambda wav, phn: phn.write_text("0 900 h#\n900 99999999 sh\n"), r"line 2: segment 900-99999999 ends past"),
    (lambda wav, phn: phn.write_text("0 900 h#\n900 1000 xx\n"), r"line 2: unknown phone 'xx'"),
    (lambda wav, phn: phn.unlink(), "no .PHN transcription beside it"),
    # digits of other scripts: int() reads '١٢٠٠' as 1200 and refuses '²' although '²'.isdigit()
    (lambda wav, phn: phn.write_text("0 900 h#\n900 \u0661\u0662\u0660\u0660 sh\n", "utf-8"),
     r"line 2: expected 'start_sample end_sample phone', got '900 \u0661\u0662\u0660\u0660 sh'"),
    (lambda wav, phn: phn.write_text("0 900 h#\n900 1\u00b2 sh\n", "utf-8"),
     r"line 2: expected 'start_sample"),
    (lambda wav, phn: phn.write_text("0 900 h#\n900 " + "9" * 5000 + " sh\n"),
     r"line 2: expected 'start_sample"),
    (lambda wav, phn: phn.write_bytes(b"0 900 h#\n900 1000 \xe9h\n"),
     r"line 2: not UTF-8 text \(byte 0xe9\)"),
    (lambda wav, phn: soundfile.write(wav, np.zeros(4000, np.float32), 8000, format="NIST"),
     r"sample rate 8000 Hz, expected data.sample_rate=16000 \(convert it, or set "
     r"data.sample_rate=8000 if every"),
    (lambda wav, phn: soundfile.write(wav, np.zeros(16000 * 61, np.float32), 16000, format="FLAC"),
     r"61.0 s long, more than data.max_seconds=60 \(raise it for longer recordings\)"),
])
def test_bad_files_are_one_line_or_skipped(tmp_path, damage, match):
    root = make_timit(tmp_path, utterances=("SI1", "SX2"))
    wav = root / "TRAIN" / "DR1" / "MDAC0" / "SX2.WAV"
    damage(wav, wav.with_suffix(".PHN"))
    with pytest.raises(DataError, match=match) as error:
        TIMIT(str(root), num_workers=0)
    assert "MDAC0/SX2" in str(error.value) and "\n" not in str(error.value)
    assert "data.resample" not in str(error.value)  # not a key of data=timit
    data = TIMIT(str(root), num_workers=0, skip_bad=True)
    assert len(data.skipped) == 1 and data.split_size("train") == 7


def test_train_py_on_the_miniature_writes_the_frame_error_rate(tree, tmp_path):
    done = run_script("train.py", "model=cldnn", "data=timit", f"data.root={tree}", "debug=default",
                      "model.conv_channels=[4,4]", "model.hidden_size=16", "model.num_layers=1",
                      "model.reduce_dim=8", "model.dnn_hidden=[16]", "data.batch_size=6", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0 <= metrics["test/fer"] <= 1 and metrics["test/acc39"] == pytest.approx(1 - metrics["test/fer"])


@pytest.mark.parametrize("test_speakers,val,test", [
    (("MDAB0", "FAKS0"), {"FAKS0"}, {"MDAB0"}),  # core and dev: the standard splits
    (("FAKS0", "MXYZ0"), {"FAKS0"}, {"MXYZ0"}),  # dev without core: FAKS0 was in val and in test
    (("FAKS0",), None, {"FAKS0"}),  # dev only: test, validation from TRAIN speakers
    (("MXYZ0",), None, {"MXYZ0"}),  # neither
    (("MDAB0", "MXYZ0"), None, {"MDAB0"}),  # core without dev
])
def test_splits_never_share_a_speaker_whatever_test_holds(tmp_path, test_speakers, val, test):
    root = make_timit(tmp_path, test_speakers=test_speakers, utterances=("SI1",))
    data = TIMIT(str(root), num_workers=0, val_fraction=0.25)
    speakers = {split: {a.split("/")[-2] for a, _ in data.items[split]}
                for split in ("train", "val", "test")}
    assert speakers["test"] == test and len(speakers["val"]) == (len(val) if val else 1)
    assert val is None or speakers["val"] == val
    assert not (speakers["train"] & speakers["val"] or speakers["train"] & speakers["test"]
                or speakers["val"] & speakers["test"])


def test_a_speaker_in_train_and_test_is_an_error_naming_it(tmp_path):
    # FCJF0 also trains
    root = make_timit(tmp_path, test_speakers=("MDAB0", "FCJF0"), utterances=("SI1",))
    pattern = (r"speaker FCJF0 is in two splits: TRAIN/ \(.*TRAIN/DR1/FCJF0/SI1.WAV\) "
               r"and TEST/ \(.*TEST/DR1/FCJF0/SI1.WAV\)")
    with pytest.raises(DataError, match=pattern):
        TIMIT(str(root), num_workers=0)


def test_an_empty_test_split_is_an_error(tmp_path):
    root = make_timit(tmp_path, test_speakers=(), utterances=("SI1",))
    (root / "TEST").mkdir()
    pattern = r"no usable TEST utterances .*: the test split would be empty"
    with pytest.raises(DataError, match=pattern):
        TIMIT(str(root), num_workers=0)
