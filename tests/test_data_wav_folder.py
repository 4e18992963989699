import numpy as np
import pytest
import soundfile
import torch

from cnnlstm.data.make_tones import make_tone_folder
from cnnlstm.data.wav_folder import WavFolder
from cnnlstm.errors import ConfigError, DataError


@pytest.fixture()
def tones(tmp_path):
    make_tone_folder(tmp_path, per_class=10, freqs=(400.0, 1600.0, 3200.0), sample_rate=8000)
    (tmp_path / "_background_noise_").mkdir()  # not a class
    return tmp_path


def test_speech_commands_layout(tones):
    data = WavFolder(tones, sample_rate=8000, batch_size=4)
    data.setup("cpu")
    assert data.classes == ["tone0", "tone1", "tone2"]
    assert data.model_args == {"num_outputs": 3, "sample_rate": 8000}
    assert [data.split_size(s) for s in ("train", "val", "test")] == [24, 3, 3]
    batch = next(data.batches("train"))
    assert batch["x"].dim() == 2 and batch["x"].shape[1] == int(batch["lengths"].max())
    assert batch["lengths"].min() >= 0.3 * 8000 - 1
    val_label = data.tensors["val"][2].tolist()
    assert val_label == [0, 1, 2]  # the listed files, with their folder's label


def test_fixed_length_crops_and_pads(tones):
    data = WavFolder(tones, sample_rate=8000, length=4000, crop="start")
    x, lengths, _ = data.tensors["train"]
    assert x.shape[1] == 4000 and bool((lengths == 4000).all())


@pytest.mark.parametrize("damage,match", [
    (lambda p: p.write_bytes(b"RIFF garbage, not audio"), "unreadable or corrupt"),
    (lambda p: soundfile.write(p, np.zeros(0, np.float32), 8000), "empty audio"),
    (lambda p: soundfile.write(p, np.zeros(50, np.float32), 8000), "too short, 50 samples"),
    (lambda p: soundfile.write(p, np.zeros(8000, np.float32), 16000), "sample rate 16000 Hz, expected"),
])
def test_bad_file_is_named_or_skipped(tones, damage, match):
    bad = tones / "tone1" / "005.wav"
    damage(bad)
    with pytest.raises(DataError, match=f"{bad}: {match}"):
        WavFolder(tones, sample_rate=8000)
    data = WavFolder(tones, sample_rate=8000, skip_bad=True)
    assert len(data.skipped) == 1 and data.split_size("train") == 23


def test_list_naming_a_missing_file(tones, caplog):
    with open(tones / "testing_list.txt", "a") as f:
        f.write("tone0/missing.wav\n")
    pattern = "testing_list.txt: line 4: names missing file tone0/missing.wav"
    with pytest.raises(DataError, match=pattern):
        WavFolder(tones, sample_rate=8000)
    data = WavFolder(tones, sample_rate=8000, skip_bad=True)
    assert data.split_size("test") == 3
    assert "skipped 1 bad audio files" in caplog.text


def test_resampling(tones):
    soundfile.write(tones / "tone0" / "000.wav", np.zeros(16000, np.float32), 16000)
    data = WavFolder(tones, sample_rate=8000, resample=True)
    assert int(data.tensors["train"][1].max()) == 8000


def test_root_errors(tmp_path):
    with pytest.raises(ConfigError, match="root must be set"):
        WavFolder()
    with pytest.raises(DataError, match="no such directory"):
        WavFolder(tmp_path / "nope")
    with pytest.raises(DataError, match="no class folders"):
        WavFolder(tmp_path)
    torch.manual_seed(0)


def test_length_shorter_than_one_window_is_refused(tones):
    pattern = r"length=100 samples is shorter than data.min_samples=400.*window"
    with pytest.raises(ConfigError, match=pattern):
        WavFolder(tones, sample_rate=8000, length=100)
    assert WavFolder(tones, sample_rate=8000, length=400).split_size("train") > 0


def test_length_error_names_the_config_key(tones):
    from conftest import compose_config

    from cnnlstm.engine.builder import build

    cfg = compose_config("model=cldnn_streaming", "data=wav_folder", f"data.root={tones}", "data.length=100")
    pattern = r"^data\.length=100 samples .*data\.min_samples=400"
    with pytest.raises(ConfigError, match=pattern) as error:
        build(cfg.data, "data")
    assert "\n" not in str(error.value)


def test_a_file_longer_than_max_seconds_is_refused_from_its_header(tones, monkeypatch):
    """A small file can decode to a lot: 10 minutes of FLAC silence is a few kB on disk, and every
    clip is held padded to the longest; the header's frame count refuses it before decoding."""
    import cnnlstm.data.audio_files as audio_files

    long = tones / "tone2" / "007.wav"
    soundfile.write(long, np.zeros(8000 * 600, np.float32), 8000, format="FLAC")
    assert long.stat().st_size < 100_000
    read_segment = audio_files.read_segment
    def checked_first(path, *args):
        assert path != long, "decoded before its length was checked"
        return read_segment(path, *args)

    monkeypatch.setattr(audio_files, "read_segment", checked_first)
    pattern = rf"^{long}: 600.0 s long, more than data.max_seconds=60 \(raise it"
    with pytest.raises(DataError, match=pattern):
        WavFolder(tones, sample_rate=8000)
    data = WavFolder(tones, sample_rate=8000, skip_bad=True)
    assert len(data.skipped) == 1 and int(data.tensors["train"][1].max()) <= 8000
    assert audio_files.header_length(long, 8000, False, 400, max_seconds=700.0) == 8000 * 600
