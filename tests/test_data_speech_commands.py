"""Speech Commands: the archive layout, the 12-class task's _unknown_/_silence_, seeded resumable augmentation, bad files."""

import json

import numpy as np
import pytest
import soundfile
import torch
from conftest import run_script
from speech_miniatures import make_speech_commands

from cnnlstm.data.speech_commands import SpeechCommands
from cnnlstm.errors import DataError

WORDS = ["yes", "no", "up"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_speech_commands(tmp_path_factory.mktemp("sc"), per_word=20)


def data_of(root, **kw):
    data = SpeechCommands(str(root), **({"words": WORDS, "batch_size": 4, "num_workers": 0} | kw))
    data.setup("cpu")
    return data


def test_12class_unknown_and_silence_shares(folder):
    data = data_of(folder, silence_fraction=0.2, unknown_fraction=0.2)
    assert data.classes == ["_silence_", "_unknown_", "yes", "no", "up"]
    labels = data.labels["train"]  # 3 words x 12 training clips = 36 known: 60 % of the split
    assert len(labels) == 60 and (labels == 0).sum() == 12 and (labels == 1).sum() == 12
    assert {data.files["train"][i].split("/")[0] for i in np.flatnonzero(labels == 1)} <= {"cat", "dog"}
    again = data_of(folder, silence_fraction=0.2, unknown_fraction=0.2)
    other = data_of(folder, silence_fraction=0.2, unknown_fraction=0.2, seed=1)
    assert again.files["train"] == data.files["train"] != other.files["train"]
    batch = data.make_batch("val", torch.arange(data.split_size("val")))
    assert batch["x"].shape == (data.split_size("val"), 16000) and bool((batch["lengths"] == 16000).all())
    silent = batch["x"][batch["y"] == 0]
    assert len(silent) and bool((silent.abs().amax(1) > 0).all())  # noise cuts, not zeros


def test_all35_is_every_word_folder(folder):
    data = data_of(folder, task="all35", noise_prob=0.0)
    assert data.classes == ["cat", "dog", "no", "up", "yes"] and data.split_size("train") == 60
    assert data.model_args == {"num_outputs": 5, "sample_rate": 16000}


def test_augmentation_is_seeded_per_epoch_and_sample_and_resumes_exactly(folder):
    data = data_of(folder, noise_prob=0.5, num_workers=2)
    epoch1 = list(data.batches("train", epoch=1))
    resumed = list(data_of(folder, noise_prob=0.5).batches("train", epoch=1, start=3))
    assert all(torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"]) for a, b in zip(epoch1[3:], resumed))
    x0 = data.make_batch("train", torch.arange(8), epoch=0)["x"]
    x1 = data.make_batch("train", torch.arange(8), epoch=1)["x"]
    assert not torch.equal(x0, x1)
    val0, val1 = (data.make_batch("val", torch.arange(4), epoch=e)["x"] for e in (0, 1))
    assert torch.equal(val0, val1)  # evaluation is never augmented


def test_noise_mixing_and_time_shift(folder):
    clean = data_of(folder, noise_prob=0.0, time_shift_ms=0.0)
    noisy = data_of(folder, noise_prob=1.0, noise_volume=0.5, time_shift_ms=0.0)
    shifted = data_of(folder, noise_prob=0.0, time_shift_ms=100.0)
    known = torch.tensor([i for i, f in enumerate(clean.files["train"]) if f.startswith("yes/")][:4])
    x = clean.make_batch("train", known)["x"]
    assert torch.equal(x, clean.make_batch("train", known, epoch=5)["x"])  # no augmentation left
    assert (noisy.make_batch("train", known)["x"] - x).abs().amax() > 0.01
    moved = shifted.make_batch("train", known)["x"]
    assert not torch.equal(moved, x) and moved.shape == x.shape
    for row in range(len(known)):  # a shifted copy of the clip, zeros where it moved from
        lag = next(k for k in range(-1600, 1601) if torch.equal(torch.roll(x[row], k)[1600:-1600], moved[row, 1600:-1600]))
        assert (moved[row, :lag] == 0).all() if lag > 0 else (moved[row, moved.shape[1] + lag:] == 0).all()


def test_missing_background_noise_folder_is_one_line(tmp_path):
    root = make_speech_commands(tmp_path, noise=False)
    pattern = r"_background_noise_: no such folder of .wav files, needed for data.task=12class"
    with pytest.raises(DataError, match=pattern):
        SpeechCommands(str(root), words=WORDS)
    data = SpeechCommands(str(root), task="all35", noise_prob=0.0, num_workers=0)
    assert data.split_size("train") == 30


def test_bad_clip_is_named_or_skipped(tmp_path):
    root = make_speech_commands(tmp_path)
    bad = root / "yes" / "0003beef_nohash_0.wav"
    bad.write_bytes(b"RIFF garbage, not audio")
    with pytest.raises(DataError, match=f"{bad}: unreadable or corrupt audio header"):
        SpeechCommands(str(root), words=WORDS)
    data = SpeechCommands(str(root), words=WORDS, skip_bad=True, num_workers=0)
    assert len(data.skipped) == 1 and "yes/0003beef_nohash_0.wav" not in data.files["train"]


def test_a_clip_that_fails_to_decode_in_a_worker_is_named(tmp_path):
    root = make_speech_commands(tmp_path)
    bad = root / "no" / "0004beef_nohash_0.wav"
    soundfile.write(bad, np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")  # a sound header
    data = SpeechCommands(str(root), words=WORDS, num_workers=2)
    with pytest.raises(DataError, match=f"^{bad}: 16000 samples are NaN or infinite"):
        list(data.batches("train"))


def test_train_py_on_the_miniature(folder, tmp_path):
    done = run_script("train.py", "model=cldnn", "data=speech_commands", f"data.root={folder}", "data.words=[yes,no,up]",
                      "debug=default", "model.conv_channels=[4,4]", "model.hidden_size=16", "model.num_layers=1",
                      "model.reduce_dim=8", "model.dnn_hidden=[16]", "data.batch_size=8", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0 <= metrics["test/acc"] <= 1 and metrics["steps"] == 4


def test_speed_perturbation_resamples_and_recentres(folder):
    clean = data_of(folder, noise_prob=0.0, time_shift_ms=0.0)
    perturbed = data_of(folder, noise_prob=0.0, time_shift_ms=0.0, speed_perturb=0.2)
    known = torch.tensor([i for i, f in enumerate(clean.files["train"]) if f.startswith("yes/")][:4])
    x, y = clean.make_batch("train", known)["x"], perturbed.make_batch("train", known)["x"]
    assert y.shape == x.shape and not torch.equal(x, y)
    assert torch.equal(y, perturbed.make_batch("train", known)["x"])  # seeded per (epoch, clip)
    assert not torch.equal(y, perturbed.make_batch("train", known, epoch=1)["x"])
    val = torch.arange(4)
    assert torch.equal(clean.make_batch("val", val)["x"], perturbed.make_batch("val", val)["x"])  # training only
    # a tone played faster has a proportionally higher frequency, still centred in the clip
    tone = np.sin(2 * np.pi * 500 * np.arange(8000) / 16000).astype(np.float32)
    for speed in (0.8, 1.25):
        out = perturbed._change_speed(np.pad(tone, 4000), speed)
        spectrum = np.abs(np.fft.rfft(out))
        assert out.size == 16000 and abs(np.argmax(spectrum) * 16000 / out.size - 500 * speed) < 5
        voiced = np.flatnonzero(np.abs(out) > 0.5)
        assert abs((voiced[0] + voiced[-1]) / 2 - 8000) < 50


def test_speed_perturbation_range_is_declared(folder):
    from cnnlstm.arguments import ValidationError
    with pytest.raises(ValidationError, match="must be in \\[0, 0.5\\)"):
        SpeechCommands(str(folder), words=WORDS, speed_perturb=0.5)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_in_background_noise_is_named_at_load_or_skipped(tmp_path, bad):
    root = make_speech_commands(tmp_path)
    noise = root / "_background_noise_" / "noise1.wav"
    wave = np.zeros(48000, np.float32)
    wave[40000] = bad  # past the first block a cut might read: the whole file is checked
    soundfile.write(noise, wave, 16000, subtype="FLOAT")
    pattern = rf"^{noise}: 1 samples are NaN or infinite \(set data.skip_bad=true"
    with pytest.raises(DataError, match=pattern):
        SpeechCommands(str(root), words=WORDS, num_workers=0)
    data = SpeechCommands(str(root), words=WORDS, num_workers=0, skip_bad=True)
    assert [p for p, _ in data.noise] == [str(root / "_background_noise_" / "noise0.wav")]


def test_noise_at_another_rate_names_a_real_key(tmp_path):
    root = make_speech_commands(tmp_path)
    noise = root / "_background_noise_" / "noise0.wav"
    soundfile.write(noise, np.zeros(48000, np.float32), 8000, subtype="PCM_16")
    pattern = (rf"^{noise}: sample rate 8000 Hz, expected data.sample_rate=16000 "
               r"\(convert it, or set data.sample_rate=8000")
    with pytest.raises(DataError, match=pattern) as error:
        SpeechCommands(str(root), words=WORDS, num_workers=0, resample=True)  # for clips only
    assert "data.resample" not in str(error.value)


def test_a_repeated_word_is_refused():
    from conftest import argument_error

    pattern = r"^words must be valid \(lists 'yes' twice\), got \['yes', 'yes'\]$"
    with argument_error(pattern, SpeechCommands):
        SpeechCommands("anywhere", words=["yes", "yes"])


def test_a_clip_longer_than_max_seconds_is_named_before_decoding_or_skipped(tmp_path):
    root = make_speech_commands(tmp_path)
    long = root / "yes" / "0003beef_nohash_0.wav"
    soundfile.write(long, np.zeros(16000 * 30, np.float32), 16000, format="FLAC")  # 30 s, a few kB
    with pytest.raises(DataError, match=rf"^{long}: 30.0 s long, more than data.max_seconds=10 "):
        SpeechCommands(str(root), words=WORDS, max_seconds=10.0)
    data = SpeechCommands(str(root), words=WORDS, max_seconds=10.0, skip_bad=True, num_workers=0)
    assert len(data.skipped) == 1 and "yes/0003beef_nohash_0.wav" not in data.files["train"]
    assert SpeechCommands(str(root), words=WORDS, num_workers=0).split_size("train")  # 60 s
