"""Audio files on disk: cheap header scans (no decoding), reads, and an optional decoded-audio cache.

Streaming data keeps only each file's path and length in memory; the length comes from the header
(``soundfile.info``: RIFF WAV, NIST SPHERE as in TIMIT, FLAC ...), so a corpus of any size is
listed without decoding it, and a file whose header is broken is found (and named) at that scan.
"""

import hashlib
import io
import logging
import math
from pathlib import Path

import numpy as np

from cnnlstm.errors import ConfigError, DataError, StorageError, first_line
from cnnlstm.files import write_atomic

log = logging.getLogger(__name__)


def data_root(root: str | Path | None, what: str) -> Path:
    """``data.root`` as a folder: ConfigError saying it must hold ``what`` when unset, DataError when absent."""
    if root is None:
        raise ConfigError(f"root must be set to {what} (data.root=DIR)")
    if not Path(root).is_dir():
        raise DataError(f"data.root={root}: no such directory")
    return Path(root)


class SkipBad:
    """Bad files or entries of an audio data source under ``root``: each a DataError naming it, or,
    with ``skip_bad``, collected in ``skipped`` and reported once by :meth:`report_skipped`."""

    root: Path
    skip_bad: bool
    skipped: list[str]

    def bad(self, message: str) -> None:
        """A bad file or entry: an error, or counted and skipped with ``skip_bad``."""
        if not self.skip_bad:
            raise DataError(message + " (set data.skip_bad=true to skip bad files)")
        self.skipped.append(message)

    def report_skipped(self) -> None:
        """One warning with the count of skipped files and a few of them, if any."""
        if self.skipped:
            log.warning("skipped %d bad audio files or entries (data.skip_bad=true), e.g. %s",
                        len(self.skipped), "; ".join(self.skipped[:3]))

    def require_training(self, what: str) -> None:
        """DataError naming ``data.root`` when its listing, less the skipped files, left no training ``what``."""
        if self.split_size("train") == 0:
            raise DataError(f"data.root={self.root}: no usable {what}")


def header_length(path: Path, sample_rate: int, resample: bool | None, min_samples: int,
                  max_seconds: float | None = None, min_key: str = "data.min_samples") -> int:
    """Samples of ``path`` at ``sample_rate`` read from its header; DataError naming the file if
    the header is unreadable, or the file is empty, too short (``min_key``: the key setting
    ``min_samples``), longer than ``max_seconds`` (what it would decode to, whatever its size on
    disk), or at another rate (without ``resample``; None: the source has no data.resample)."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception as e:  # LibsndfileError, RuntimeError ... for a broken or foreign header
        raise DataError(f"{path}: unreadable or corrupt audio header ({first_line(e)})") from None
    frames, rate = int(info.frames), int(info.samplerate)
    if frames <= 0 or rate <= 0:
        raise DataError(f"{path}: empty audio file ({frames} samples at {rate} Hz)")
    if max_seconds is not None and frames > max_seconds * rate:
        raise DataError(f"{path}: {frames / rate:.1f} s long, more than "
                        f"data.max_seconds={max_seconds:g} (raise it for longer recordings)")
    if rate != sample_rate:
        if not resample:
            raise DataError(f"{path}: sample rate {rate} Hz, expected data.sample_rate={sample_rate} "
                            f"({_rate_advice(resample, rate)})")
        frames = math.ceil(frames * sample_rate / rate)
    if frames < min_samples:
        raise DataError(f"{path}: too short, {frames} samples < {min_key}={min_samples}")
    return frames


def _rate_advice(resample: bool | None, rate: int) -> str:
    """What to do about a file at another rate, naming only keys the data source has."""
    if resample is None:
        return f"convert it, or set data.sample_rate={rate} if every file is at {rate} Hz"
    return "set data.resample=true to resample"


def check_finite(path: Path, block: int = 1 << 18) -> None:
    """DataError naming ``path`` when any of its samples is NaN or infinite; decoded in blocks of
    ``block`` frames, so a long recording (a background-noise file) costs no more memory."""
    import soundfile

    bad = 0
    try:
        for chunk in soundfile.blocks(str(path), blocksize=block, dtype="float32", always_2d=True):
            bad += int((~np.isfinite(chunk)).any(1).sum())
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, TypeError ...
        raise DataError(f"{path}: unreadable or corrupt audio ({first_line(e)})") from None
    if bad:
        raise DataError(f"{path}: {bad} samples are NaN or infinite")


def read_segment(path: Path, start: int = 0, frames: int = -1) -> tuple[np.ndarray, int]:
    """Mono float32 samples ``start .. start + frames`` of ``path`` (fewer at its end; ``-1``: to the
    end), decoding only those, and the file's sample rate."""
    import soundfile

    try:
        audio, rate = soundfile.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, TypeError ...
        raise DataError(f"{path}: unreadable or corrupt audio ({first_line(e)})") from None
    return audio.mean(1), rate


def read_wav(path: Path, sample_rate: int, resample: bool | None, min_samples: int,
             max_seconds: float | None = None) -> np.ndarray:
    """Mono float32 samples of ``path`` at ``sample_rate``; DataError naming the file if
    unusable: missing, or failing :func:`header_length`'s checks, undecodable, or holding NaN or
    infinite samples. Decoding reads the frames the header announced (checked against
    ``max_seconds``), no more."""
    if not Path(path).is_file():
        raise DataError(f"{path}: no such file")
    # readable, not empty, neither too short nor too long, at the rate
    header_length(path, sample_rate, resample, min_samples, max_seconds)
    audio, rate = read_segment(path)
    if not np.isfinite(audio).all():
        raise DataError(f"{path}: {int((~np.isfinite(audio)).sum())} samples are NaN or infinite")
    if rate != sample_rate:  # allowed by header_length: resample
        from scipy.signal import resample_poly

        g = math.gcd(rate, sample_rate)
        audio = resample_poly(audio, sample_rate // g, rate // g).astype(np.float32)
    return audio


class CacheError(DataError):
    """The decoded-audio cache cannot be used (not a folder, not writable, full): a problem of the
    cache, not of a clip, so ``data.skip_bad`` never skips it."""


def cache_folder(folder: Path) -> Path:
    """``data.cache_dir`` as a folder, created if absent; CacheError naming it when it is a file or
    cannot be created."""
    if folder.exists() and not folder.is_dir():
        raise CacheError(f"data.cache_dir={folder} is a file, not a folder: point it at a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise CacheError(f"data.cache_dir={folder}: cannot create it ({reason})") from None
    return folder


def load_entry(path: Path, max_samples: int | None) -> np.ndarray:
    """The samples of cache entry ``path``; ValueError saying what is wrong with a corrupt one. The
    header is read first (a memory map), so an entry claiming a huge shape allocates nothing, and
    numpy's own messages (which advise loading pickles) are not passed on."""
    if path.is_symlink() or not path.is_file():  # a planted link, folder or FIFO (which blocks)
        raise ValueError("not a regular file the cache wrote")
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise ValueError("not a readable .npy array") from None
    if not isinstance(mapped, np.ndarray):  # an .npz archive
        mapped.close()
        raise ValueError("not a .npy array")
    if mapped.dtype != np.float32 or mapped.ndim != 1 or mapped.size == 0:
        raise ValueError(f"{mapped.dtype} array of shape {mapped.shape}, not float32 samples")
    if max_samples is not None and mapped.size > max_samples:
        raise ValueError(f"{mapped.size} samples, more than data.max_seconds allows")
    audio = np.array(mapped)
    del mapped
    if not np.isfinite(audio).all():
        raise ValueError("NaN or infinite samples")
    return audio


class AudioReader:
    """Decode whole files (mono float32 at ``sample_rate``), through an on-disk cache when ``cache_dir`` is set.

    The cache holds each decoded (and resampled) file as a ``.npy`` named by a hash of its path,
    size, modification time and the rate, so an edited file is decoded again; entries are written
    atomically (:func:`~cnnlstm.files.write_atomic`: a temporary file renamed into place,
    removed if the write fails), so workers racing on one file are harmless. A corrupt entry is
    named in a warning, decoded again and replaced; a cache that cannot be written is a
    :class:`CacheError` naming the file. It helps when decoding is the cost (resampling,
    compressed formats); plain 16-bit PCM decodes about as fast as a load.
    """

    def __init__(self, sample_rate: int, resample: bool | None, min_samples: int,
                 cache_dir: str | Path | None = None, max_seconds: float | None = None):
        self.sample_rate, self.resample, self.min_samples = sample_rate, resample, min_samples
        self.max_seconds = max_seconds
        self.cache_dir = None if cache_dir is None else cache_folder(Path(cache_dir))

    def _cache_path(self, path: Path) -> Path:
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{self.sample_rate}"
        return self.cache_dir / f"{hashlib.sha1(key.encode()).hexdigest()}.npy"

    def _decode(self, path: Path) -> np.ndarray:
        return read_wav(path, self.sample_rate, self.resample, self.min_samples, self.max_seconds)

    def _cached(self, cached: Path, path: Path) -> np.ndarray | None:
        """The entry's samples; None when absent or corrupt (then named in a warning)."""
        if not cached.exists() and not cached.is_symlink():
            return None
        seconds = self.max_seconds
        limit = None if seconds is None else math.floor(seconds * self.sample_rate)
        try:
            return load_entry(cached, limit)
        except ValueError as e:
            log.warning("%s: corrupt decoded-audio cache entry of %s (%s): decoding it again",
                        cached, path, e)
            return None

    def _store(self, cached: Path, audio: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, audio, allow_pickle=False)
        try:
            write_atomic(cached, buffer.getvalue(), "decoded-audio cache entry")
        except StorageError as e:
            advice = "data.cache_dir: free space, delete the entry, or set data.cache_dir=null"
            raise CacheError(f"{e} ({advice})") from None

    def __call__(self, path: Path) -> np.ndarray:
        if self.cache_dir is None or not path.is_file():  # read_wav names a missing file
            return self._decode(path)
        cached = self._cache_path(path)
        audio = self._cached(cached, path)
        if audio is None:
            audio = self._decode(path)
            self._store(cached, audio)
        return audio
