"""Audio classification from a folder of WAV files in the Speech Commands layout, decoded with soundfile."""

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from cnnlstm.arguments import PositiveFloat, PositiveInt, checked
from cnnlstm.data.audio_files import SkipBad, data_root, read_wav
from cnnlstm.data.padded import PaddedSequences
from cnnlstm.data.splits import LISTS, class_names, split_files
from cnnlstm.errors import ConfigError, DataError

__all__ = ["LISTS", "WavFolder", "class_names"]


class WavFolder(SkipBad, PaddedSequences):
    """Speech Commands layout: ``root/<class>/<file>.wav``; ``validation_list.txt`` and
    ``testing_list.txt`` name held-out files relative to ``root``; every other file is training.
    Both lists must exist; an entry must stay inside its class folder, a file may be in one split
    only, a ``<speaker>_nohash_<k>.wav`` speaker too, and a class folder may not be empty
    (:mod:`cnnlstm.data.splits`).

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
        max_seconds: longer files are bad, checked from the header before decoding (every clip is
            held in memory, padded to the longest: one long file would multiply the memory).
        skip_bad: skip corrupt, empty, unreadable, too-short or too-long files and list entries
            naming missing files with one warning giving the count; otherwise the first is an
            error. A list entry leaving its class folder is always an error.
        batch_size, eval_batch_size, shuffle_seed, drop_last: see :class:`IndexedData`.
    """

    @checked
    def __init__(self, root: str | Path | None = None, sample_rate: PositiveInt = 16000, resample: bool = False,
                 length: PositiveInt | None = None, crop: Literal["start", "center"] = "center",
                 min_samples: PositiveInt = 400, max_seconds: PositiveFloat = 60.0,
                 skip_bad: bool = False, batch_size: PositiveInt = 32,
                 eval_batch_size: PositiveInt | None = None, shuffle_seed: int = 0, drop_last: bool = False) -> None:
        super().__init__(batch_size, shuffle_seed, drop_last, eval_batch_size)
        self.root = data_root(root, "a folder of class folders of WAV files")
        self.sample_rate, self.length, self.crop, self.min_samples = sample_rate, length, crop, min_samples
        self.max_seconds = max_seconds
        if length is not None and length < min_samples:
            # a clip shorter than one analysis window gives the model 0 frames: it would train at chance
            raise ConfigError(f"length={self.length} samples is shorter than data.min_samples={self.min_samples}, "
                              "the one analysis window a clip needs to give the model a frame (25 ms at 16 kHz "
                              "= 400 samples); set data.length >= data.min_samples")
        self.skip_bad, self.skipped = skip_bad, []
        self.classes = class_names(self.root)
        if not self.classes:
            raise DataError(f"data.root={root} has no class folders")
        files = split_files(self.root, self.classes, self.bad)  # checked lists, no overlap
        self.tensors = {split: self._load(names, resample) for split, names in files.items()}
        self.report_skipped()
        self.require_training("training files")
        self._require_every_class()
        self.model_args = {"num_outputs": len(self.classes), "sample_rate": self.sample_rate}

    def _require_every_class(self) -> None:
        """DataError naming a class left without training clips (all held out or skipped): the
        model would have an output it never learns."""
        present = set(self.tensors["train"][2].tolist())
        missing = [c for k, c in enumerate(self.classes) if k not in present]
        if missing:
            raise DataError(f"{self.root / missing[0]}: class {missing[0]!r} has no usable "
                            "training clip")

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
                audio = read_wav(self.root / name, self.sample_rate, resample, self.min_samples,
                                 self.max_seconds)
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

