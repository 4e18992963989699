"""Audio files on disk: cheap header scans (no decoding), reads, and an optional decoded-audio cache.

Streaming data keeps only each file's path and length in memory; the length comes from the header
(``soundfile.info``: RIFF WAV, NIST SPHERE as in TIMIT, FLAC ...), so a corpus of any size is
listed without decoding it, and a file whose header is broken is found (and named) at that scan.
"""

import hashlib
import logging
import math
import os
from pathlib import Path

import numpy as np

from cnnlstm.errors import ConfigError, DataError, first_line

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


def header_length(path: Path, sample_rate: int, resample: bool, min_samples: int) -> int:
    """Samples of ``path`` at ``sample_rate`` read from its header; DataError naming the file if the
    header is unreadable, or the file is empty, too short or at another rate (without ``resample``)."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception as e:  # LibsndfileError, RuntimeError ... for a broken or foreign header
        raise DataError(f"{path}: unreadable or corrupt audio header ({first_line(e)})") from None
    frames, rate = int(info.frames), int(info.samplerate)
    if frames <= 0:
        raise DataError(f"{path}: empty audio file (0 samples)")
    if rate != sample_rate:
        if not resample:
            raise DataError(f"{path}: sample rate {rate} Hz, expected data.sample_rate={sample_rate} "
                            "(set data.resample=true to resample)")
        frames = math.ceil(frames * sample_rate / rate)
    if frames < min_samples:
        raise DataError(f"{path}: too short, {frames} samples < data.min_samples={min_samples}")
    return frames


def read_segment(path: Path, start: int = 0, frames: int = -1) -> tuple[np.ndarray, int]:
    """Mono float32 samples ``start .. start + frames`` of ``path`` (fewer at its end; ``-1``: to the
    end), decoding only those, and the file's sample rate."""
    import soundfile

    try:
        audio, rate = soundfile.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, TypeError ...
        raise DataError(f"{path}: unreadable or corrupt audio ({first_line(e)})") from None
    return audio.mean(1), rate


def read_wav(path: Path, sample_rate: int, resample: bool, min_samples: int) -> np.ndarray:
    """Mono float32 samples of ``path`` at ``sample_rate``; DataError naming the file if unusable:
    missing, or failing :func:`header_length`'s checks, undecodable, or holding NaN or infinite samples."""
    if not Path(path).is_file():
        raise DataError(f"{path}: no such file")
    header_length(path, sample_rate, resample, min_samples)  # readable, not empty, long enough, at the rate
    audio, rate = read_segment(path)
    if not np.isfinite(audio).all():
        raise DataError(f"{path}: {int((~np.isfinite(audio)).sum())} samples are NaN or infinite")
    if rate != sample_rate:  # allowed by header_length: resample
        from scipy.signal import resample_poly

        g = math.gcd(rate, sample_rate)
        audio = resample_poly(audio, sample_rate // g, rate // g).astype(np.float32)
    return audio


class AudioReader:
    """Decode whole files (mono float32 at ``sample_rate``), through an on-disk cache when ``cache_dir`` is set.

    The cache holds each decoded (and resampled) file as a ``.npy`` named by a hash of its path,
    size, modification time and the rate, so an edited file is decoded again; entries are written
    atomically (a rename), so workers racing on one file are harmless. It helps when decoding is
    the cost (resampling, compressed formats); plain 16-bit PCM decodes about as fast as a load.
    """

    def __init__(self, sample_rate: int, resample: bool, min_samples: int, cache_dir: str | Path | None = None):
        self.sample_rate, self.resample, self.min_samples = sample_rate, resample, min_samples
        self.cache_dir = None if cache_dir is None else Path(cache_dir)

    def _cache_path(self, path: Path) -> Path:
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{self.sample_rate}"
        return self.cache_dir / f"{hashlib.sha1(key.encode()).hexdigest()}.npy"

    def __call__(self, path: Path) -> np.ndarray:
        if self.cache_dir is None or not path.is_file():  # read_wav names a missing file
            return read_wav(path, self.sample_rate, self.resample, self.min_samples)
        cached = self._cache_path(path)
        if cached.exists():
            return np.load(cached)
        audio = read_wav(path, self.sample_rate, self.resample, self.min_samples)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        with open(partial, "wb") as f:
            np.save(f, audio)
        partial.replace(cached)
        return audio
