"""Audio classification from a folder of WAV files in the Speech Commands layout, decoded with soundfile."""

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from cnnlstm.arguments import PositiveInt, checked
from cnnlstm.data.audio_files import SkipBad, data_root, read_wav
from cnnlstm.data.padded import PaddedSequences
from cnnlstm.errors import ConfigError, DataError

LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}


def class_names(root: str | Path) -> list[str]:
    """The class folders of ``root`` (sorted; names starting with ``_`` or ``.`` are not classes,
    e.g. Speech Commands' ``_background_noise_``)."""
    return sorted(p.name for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


class WavFolder(SkipBad, PaddedSequences):
    """Speech Commands layout: ``root/<class>/<file>.wav``; ``validation_list.txt`` and
    ``testing_list.txt`` name held-out files relative to ``root``; every other file is training.

    Audio is decoded once (soundfile, mono, optionally resampled) and held on the device as a
    padded ``(N, S)`` tensor with lengths; a batch is the raw waveform ``x: (B, S)`` plus
    ``"lengths"`` in samples. The model turns it into features (its log-mel front end), so the
    same checkpoint takes raw audio. ``model_args`` gives the model ``num_outputs`` and ``sample_rate``.

    This is the small in-memory path, kept on purpose: a folder of a few thousand clips decodes
    in seconds, then every batch is an index into device memory with no per-sample work. Corpora
    that do not fit in memory stream from disk instead (``data=speech_commands``, ``data=timit``:
    :class:`~cnnlstm.data.audio_stream.AudioStream`, docs/speech_data.md).

    Args:
        root: the dataset folder.
        sample_rate: rate every file must have (or is resampled to with ``resample=true``).
        length: ``None`` keeps each file's length (variable-length batches); an int crops or
            zero-pads every file to that many samples (``crop``: ``start`` or ``center``); at least
            ``min_samples``.
        min_samples: shorter files are bad (default 400: one 25 ms frame at 16 kHz, the log-mel
            front end's window; lower it only with a shorter ``model.frontend.win_ms``).
        skip_bad: skip corrupt, empty, unreadable, too-short files and list entries naming
            missing files with one warning giving the count; otherwise the first is an error.
        batch_size, eval_batch_size, shuffle_seed, drop_last: see :class:`IndexedData`.
    """

    @checked
    def __init__(self, root: str | Path | None = None, sample_rate: PositiveInt = 16000, resample: bool = False,
                 length: PositiveInt | None = None, crop: Literal["start", "center"] = "center",
                 min_samples: PositiveInt = 400, skip_bad: bool = False, batch_size: PositiveInt = 32,
                 eval_batch_size: PositiveInt | None = None, shuffle_seed: int = 0, drop_last: bool = False) -> None:
        super().__init__(batch_size, shuffle_seed, drop_last, eval_batch_size)
        self.root = data_root(root, "a folder of class folders of WAV files")
        self.sample_rate, self.length, self.crop, self.min_samples = sample_rate, length, crop, min_samples
        if length is not None and length < min_samples:
            # a clip shorter than one analysis window gives the model 0 frames: it would train at chance
            raise ConfigError(f"length={self.length} samples is shorter than data.min_samples={self.min_samples}, "
                              "the one analysis window a clip needs to give the model a frame (25 ms at 16 kHz "
                              "= 400 samples); set data.length >= data.min_samples")
        self.skip_bad, self.skipped = skip_bad, []
        self.classes = class_names(self.root)
        if not self.classes:
            raise DataError(f"data.root={root} has no class folders")
        files = self._split_files()
        self.tensors = {split: self._load(names, resample) for split, names in files.items()}
        self.report_skipped()
        self.require_training("training files")
        self.model_args = {"num_outputs": len(self.classes), "sample_rate": self.sample_rate}

    def _split_files(self) -> dict[str, list[str]]:
        """Relative paths per split, from the held-out lists and the class folders."""
        held: dict[str, list[str]] = {}
        for split, name in LISTS.items():
            path = self.root / name
            entries = [line.strip() for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
            held[split] = []
            for entry in entries:
                if not (self.root / entry).is_file():
                    self.bad(f"{path}: names missing file {entry}")
                elif Path(entry).parts[0] not in self.classes:
                    self.bad(f"{path}: {entry} is not in a class folder")
                else:
                    held[split].append(Path(entry).as_posix())
        taken = set(held["val"]) | set(held["test"])
        train = [p.relative_to(self.root).as_posix() for c in self.classes
                 for p in sorted((self.root / c).glob("*.wav")) if p.relative_to(self.root).as_posix() not in taken]
        return {"train": train, "val": held["val"], "test": held["test"]}

    def _fit_length(self, audio: np.ndarray) -> np.ndarray:
        if self.length is None or audio.size == self.length:
            return audio
        if audio.size > self.length:
            start = 0 if self.crop == "start" else (audio.size - self.length) // 2
            return audio[start:start + self.length]
        return np.pad(audio, (0, self.length - audio.size))

    def _load(self, names: list[str], resample: bool):
        waves, labels = [], []
        for name in names:
            try:
                audio = read_wav(self.root / name, self.sample_rate, resample, self.min_samples)
            except DataError as e:
                self.bad(str(e))
                continue
            waves.append(self._fit_length(audio))
            labels.append(self.classes.index(Path(name).parts[0]))
        lengths = torch.tensor([w.size for w in waves], dtype=torch.long)
        x = torch.zeros(len(waves), int(lengths.max()) if waves else 1)
        for i, w in enumerate(waves):
            x[i, :w.size] = torch.from_numpy(w)
        return x, lengths, torch.tensor(labels, dtype=torch.long)

