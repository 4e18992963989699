"""The decoded-audio cache (data.cache_dir) under faults: a file in its place, writes that fail,
corrupt or planted entries; and the atomic writer it uses (cnnlstm/files.py)."""

import os
import resource
import signal

import numpy as np
import pytest
import soundfile
import torch
from speech_miniatures import make_speech_commands, tone

from cnnlstm.data.audio_files import AudioReader, CacheError, load_entry, read_wav
from cnnlstm.data.speech_commands import SpeechCommands
from cnnlstm.errors import DataError, StorageError
from cnnlstm.files import write_atomic


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.wav"
    soundfile.write(path, tone(16000, 440.0, np.random.default_rng(0)), 16000, subtype="PCM_16")
    return path


def reader(cache, **kw):
    return AudioReader(16000, False, 400, cache, **kw)


def test_a_cache_dir_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "cache").write_text("not a folder")
    pattern = rf"^data\.cache_dir={tmp_path / 'cache'} is a file, not a folder"
    with pytest.raises(CacheError, match=pattern):
        reader(tmp_path / "cache")
    root = make_speech_commands(tmp_path / "sc", words=("yes", "no"), per_word=5, noise=False)
    with pytest.raises(DataError, match="is a file, not a folder"):
        SpeechCommands(str(root), task="all35", noise_prob=0.0, cache_dir=str(tmp_path / "cache"))


def test_a_failing_write_names_the_entry_and_leaves_no_temporary_file(tmp_path, clip):
    """A real write failure: the process may not write files over 20 kB (the entry is 64 kB)."""
    cache = tmp_path / "cache"
    read = reader(cache)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit: EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, old_limit[1]))
    try:
        with pytest.raises(CacheError) as error:
            read(clip)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    message = str(error.value)
    assert message.startswith(f"cannot write decoded-audio cache entry {cache}/")
    assert "File too large" in message
    assert "\n" not in message and list(cache.iterdir()) == []  # no .tmp left behind
    assert read(clip).shape == (16000,)  # the limit lifted, the cache works


def pickled(path):
    np.save(path, np.array([{"not": "audio"}], dtype=object), allow_pickle=True)


@pytest.mark.parametrize("plant", [
    lambda p: p.write_bytes(b"garbage, not numpy"),
    pickled,
    lambda p: np.save(p, np.arange(16000, dtype=np.int16)),
    lambda p: np.save(p, np.full(16000, np.nan, np.float32)),
    lambda p: np.save(p, np.zeros((2, 8000), np.float32)),
    os.mkfifo,  # opening it for reading would block forever
], ids=["garbage", "pickle", "int16", "nan", "2d", "fifo"])
def test_a_corrupt_entry_is_named_decoded_again_and_replaced(tmp_path, clip, caplog, plant):
    read = reader(tmp_path / "cache")
    entry = read._cache_path(clip)
    plant(entry)
    audio = read(clip)
    assert audio.dtype == np.float32 and np.array_equal(audio, read_wav(clip, 16000, False, 400))
    assert str(entry) in caplog.text and "corrupt decoded-audio cache entry" in caplog.text
    assert "allow_pickle" not in caplog.text
    assert np.array_equal(load_entry(entry, None), audio)  # replaced by a good entry


def test_an_entry_claiming_a_huge_shape_allocates_nothing(tmp_path):
    entry = tmp_path / "huge.npy"
    np.save(entry, np.zeros(2, np.float32))
    data = entry.read_bytes()
    end = data.index(b"\n")  # version 1.0: 10 bytes of magic, version and length, then the header
    header = data[10:end].replace(b"(2,)", b"(1000000000,)")  # 4 GB of float32 in a 136-byte file
    entry.write_bytes(data[:10] + header.rstrip(b" ").ljust(end - 10) + data[end:])
    with open(entry, "rb") as f:
        np.lib.format.read_magic(f)
        assert np.lib.format.read_array_header_1_0(f)[0] == (10**9,)  # only the data is short
    with pytest.raises(ValueError, match="not a readable .npy array"):
        load_entry(entry, None)


def test_a_planted_symlink_entry_is_replaced_not_written_through(tmp_path, clip):
    read = reader(tmp_path / "cache")
    victim = tmp_path / "victim.npy"
    np.save(victim, np.ones(16000, np.float32))
    before = victim.read_bytes()
    entry = read._cache_path(clip)
    entry.symlink_to(victim)
    audio = read(clip)
    assert np.array_equal(audio, read_wav(clip, 16000, False, 400))
    assert victim.read_bytes() == before and not entry.is_symlink()


def test_a_cached_entry_longer_than_max_seconds_is_not_used(tmp_path, clip, caplog):
    read = reader(tmp_path / "cache", max_seconds=2.0)
    np.save(read._cache_path(clip), np.zeros(48000, np.float32))  # 3 s planted for a 1 s clip
    assert read(clip).shape == (16000,) and "more than data.max_seconds" in caplog.text


def test_cache_errors_are_not_skipped_as_bad_clips(tmp_path, monkeypatch):
    root = make_speech_commands(tmp_path / "sc", words=("yes", "no"), per_word=5, noise=False)
    data = SpeechCommands(str(root), task="all35", noise_prob=0.0, num_workers=0, skip_bad=True,
                          cache_dir=str(tmp_path / "cache"))

    def full(cached, audio):
        raise CacheError(f"cannot write decoded-audio cache entry {cached}: No space left")

    monkeypatch.setattr(data.reader, "_store", full)
    with pytest.raises(DataError, match="No space left"):
        data.make_batch("train", torch.arange(2))


def test_write_atomic_replaces_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    write_atomic(target, b"one")
    other = tmp_path / "other.bin"
    other.write_bytes(b"keep")
    link = tmp_path / "link.bin"
    link.symlink_to(other)
    write_atomic(link, b"two")  # replaces the link itself, never writes through it
    assert other.read_bytes() == b"keep" and link.read_bytes() == b"two" and not link.is_symlink()

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("cnnlstm.files.os.fsync", no_space)
    with pytest.raises(StorageError, match=rf"^cannot write {target}: No space left on device$"):
        write_atomic(target, b"three")
    assert target.read_bytes() == b"one" and sorted(p.name for p in tmp_path.iterdir()) == [
        "f.bin", "link.bin", "other.bin"]


def test_a_folder_in_place_of_an_entry_is_one_line_with_advice(tmp_path, clip):
    read = reader(tmp_path / "cache")
    entry = read._cache_path(clip)
    entry.mkdir()
    pattern = (rf"^cannot write decoded-audio cache entry {entry}: Is a directory "
               r"\(data.cache_dir: free space, delete the entry")
    with pytest.raises(CacheError, match=pattern):
        read(clip)
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]  # no .tmp left behind
