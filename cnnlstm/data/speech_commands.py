"""Google Speech Commands (v2 archive layout), both standard tasks, streamed from disk with seeded augmentation.

``python train.py model=cldnn data=speech_commands data.root=DIR [data.task=12class|all35]``;
``DIR/<word>/<hash>_nohash_<k>.wav``, ``validation_list.txt``, ``testing_list.txt`` and
``_background_noise_/*.wav`` as in the archive. See docs/speech_data.md.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from cnnlstm.arguments import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    UnitInterval,
    checked,
    within,
)
from cnnlstm.data.audio_files import (
    AudioReader,
    check_finite,
    data_root,
    header_length,
    read_segment,
)
from cnnlstm.data.audio_stream import AudioStream, Sample
from cnnlstm.data.counter_rng import split_seed, uniform
from cnnlstm.data.splits import class_names, split_files
from cnnlstm.data.synthesize.variants import change_speed
from cnnlstm.errors import ConfigError, DataError

COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE, UNKNOWN = "_silence_", "_unknown_"
NOISE = "_background_noise_"
SpeedPerturb = Annotated[float, within(0, 0.5, high_open=True)]  # speeds in 1 +- this: below 0.5 keeps them in (0.5, 1.5)


def distinct(words: Sequence[str]) -> Sequence[str]:
    """``words`` if no word is listed twice (``[yes, yes]``: two classes of one folder)."""
    seen: set[str] = set()
    for word in words:
        if word in seen:
            raise PydanticCustomError("repeated", "lists '{word}' twice", {"word": word})
        seen.add(word)
    return words


Words = Annotated[Sequence[str], AfterValidator(distinct)]


class SpeechCommands(AudioStream):
    """Keyword classification: 1-second clips ``x: (B, length)`` (padded or centre-cropped), ``y: (B,)``.

    ``task``: ``all35`` classifies every word folder; ``12class`` the ten commands plus
    ``_unknown_`` (clips of the other words, a seeded sample making ``unknown_fraction`` of each
    split) and ``_silence_`` (1-second cuts of ``_background_noise_`` files at a seeded offset and
    level, ``silence_fraction`` of each split). Both selections depend only on ``seed``: the same
    every epoch and after a resume. Validation and test are built the same way from the lists.

    Training-time augmentation, a pure function of (``shuffle_seed``, epoch, sample index), so a
    resumed run sees exactly the samples an uninterrupted one does: a time shift uniform in
    ``+-time_shift_ms`` (zero fill), and with probability ``noise_prob`` a random
    ``_background_noise_`` cut mixed in at a level uniform in ``[0, noise_volume]``. First, with
    ``speed_perturb`` > 0, the clip is played at a speed drawn uniform in ``1 +- speed_perturb``
    and rounded to the nearest ratio p/q with q <= 64, the polyphase resampler's (steps of at most
    1.6 %: speeds within 0.8 % of 1 play unchanged); pitch, formants and duration change together,
    like another vocal tract (Ko et al. 2015 use 0.9, 1.0, 1.1); the clip is re-centred with zeros.

    Args:
        root: the dataset folder.
        words: the command words of ``12class``.
        length: samples per clip (16000: one second).
        sample_rate, resample, min_samples: see :class:`~cnnlstm.data.wav_folder.WavFolder`.
        max_seconds: longer clips are bad, checked from the header before decoding. The
            background-noise files (a minute or more) are not limited: they are read in blocks
            (each checked once for NaN or infinite samples) and cut.
        cache_dir: decoded-audio cache (:class:`~cnnlstm.data.audio_files.AudioReader`).
        num_workers, bucket_batches, pad_buckets, skip_bad, batch_size, eval_batch_size,
            shuffle_seed, drop_last: see :class:`~cnnlstm.data.audio_stream.AudioStream`.
    """

    @checked
    def __init__(self, root: str | Path | None = None, task: Literal["all35", "12class"] = "12class",
                 words: Words = COMMANDS, silence_fraction: UnitInterval = 0.1,
                 unknown_fraction: UnitInterval = 0.1, seed: int = 0, length: PositiveInt = 16000,
                 sample_rate: PositiveInt = 16000, resample: bool = False, min_samples: PositiveInt = 400,
                 max_seconds: PositiveFloat = 60.0,
                 time_shift_ms: NonNegativeFloat = 100.0, speed_perturb: SpeedPerturb = 0.0,
                 noise_prob: UnitInterval = 0.8,
                 noise_volume: UnitInterval = 0.1, silence_volume: UnitInterval = 1.0, cache_dir: str | None = None,
                 num_workers: NonNegativeInt = 2, bucket_batches: PositiveInt = 50, pad_buckets: PositiveInt | None = None,
                 skip_bad: bool = False, batch_size: PositiveInt = 32, eval_batch_size: PositiveInt | None = None,
                 shuffle_seed: int = 0, drop_last: bool = False) -> None:
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, shuffle_seed=shuffle_seed,
                         drop_last=drop_last, num_workers=num_workers, bucket_batches=bucket_batches,
                         pad_buckets=pad_buckets, skip_bad=skip_bad)
        self.root = data_root(root, "the Speech Commands folder")
        if task == "12class" and silence_fraction + unknown_fraction >= 1:
            raise ConfigError(f"silence_fraction + unknown_fraction must be < 1, got {silence_fraction} + "
                              f"{unknown_fraction}")
        self.task, self.seed, self.length, self.sample_rate = task, seed, length, sample_rate
        self.shift = round(time_shift_ms * sample_rate / 1000)
        self.speed_perturb = speed_perturb
        self.noise_prob, self.noise_volume, self.silence_volume = noise_prob, noise_volume, silence_volume
        self.reader = AudioReader(sample_rate, resample, min_samples, cache_dir, max_seconds)
        self.resample, self.min_samples, self.max_seconds = resample, min_samples, max_seconds
        found = class_names(self.root)
        missing = [w for w in words if w not in found] if task == "12class" else []
        if missing or not found:
            what = f"folder {missing[0]}/ for the command {missing[0]!r} of data.words" if missing else "word folders"
            raise DataError(f"data.root={root}: no {what} (the Speech Commands layout: <word>/<hash>_nohash_<k>.wav)")
        self.classes = [SILENCE, UNKNOWN, *words] if task == "12class" else found
        self.noise = self._noise_files(needed=task == "12class" or noise_prob > 0)
        self.files: dict[str, list[str]] = {}
        self.labels: dict[str, np.ndarray] = {}
        splits = split_files(self.root, found, self.bad)  # checked lists, no overlap
        for split, names in splits.items():
            self._build(split, names, set(words), silence_fraction, unknown_fraction)
        self.finish_scan()
        self.require_training("training clips")
        self._require_every_class()
        self.model_args = {"num_outputs": len(self.classes), "sample_rate": sample_rate}

    # ------------------------------------------------------------------ listing
    def _noise_files(self, needed: bool) -> list[tuple[str, int]]:
        """``(path, samples)`` of the background-noise files; one line naming the folder when it is needed and absent."""
        folder = self.root / NOISE
        paths = sorted(folder.glob("*.wav")) if folder.is_dir() else []
        if not needed:
            return []
        if not paths:
            raise DataError(f"{folder}: no such folder of .wav files, needed for data.task=12class (silence clips) "
                            "and data.noise_prob > 0 (noise mixing); add it or set data.task=all35 data.noise_prob=0")
        noise = []
        for path in paths:  # checked whole (in blocks): NaN noise would show as a diverged loss
            try:
                samples = header_length(path, self.sample_rate, None, self.length,
                                        min_key="data.length")
                check_finite(path)
            except DataError as e:
                self.bad(str(e))
                continue
            noise.append((str(path), samples))
        if not noise:
            raise DataError(f"{folder}: no usable noise file of at least {self.length} samples")
        return noise

    def _build(self, split: str, names: list[str], words: set[str], silence: float, unknown: float) -> None:
        """The split's clips (known words, the sampled unknown words, silence) with their labels."""
        if self.task == "all35":
            chosen = [(n, self.classes.index(n.split("/")[0])) for n in names]
        else:
            known = [(n, self.classes.index(n.split("/")[0])) for n in names if n.split("/")[0] in words]
            others = [n for n in names if n.split("/")[0] not in words]
            total = len(known) / (1 - silence - unknown)
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, split_seed(0, split)])
            picked = rng.permutation(len(others))[:round(unknown * total)]
            chosen = known + [(others[k], 1) for k in sorted(picked)]
            chosen += [("", 0)] * round(silence * total)  # silence: cut from the noise at load time
        kept = [(n, label) for n, label in chosen if not n or self._usable(n)]
        self.files[split] = [n for n, _ in kept]
        self.labels[split] = np.array([label for _, label in kept], dtype=np.int64)
        self.lengths[split] = np.full(len(kept), self.length, dtype=np.int64)

    def _require_every_class(self) -> None:
        """DataError naming a word class left without training clips (all held out or skipped):
        the model would have an output it never learns (``_silence_``/``_unknown_`` follow their
        fractions)."""
        words = self.classes[2:] if self.task == "12class" else self.classes
        present = {self.classes[k] for k in set(self.labels["train"].tolist())}
        missing = [w for w in words if w not in present]
        if missing:
            raise DataError(f"{self.root / missing[0]}: word {missing[0]!r} has no usable "
                            "training clip")

    def _usable(self, name: str) -> bool:
        try:
            header_length(self.root / name, self.sample_rate, self.resample, self.min_samples,
                          self.max_seconds)
            return True
        except DataError as e:
            self.bad(str(e))
            return False

    # ------------------------------------------------------------------ loading
    def _noise_cut(self, seed: int, *keys: int) -> np.ndarray:
        """A seeded ``length``-sample cut of one of the noise files."""
        k = int(uniform(seed, *keys, 1) * len(self.noise))
        path, samples = self.noise[k]
        start = int(uniform(seed, *keys, 2) * (samples - self.length + 1))
        cut, _ = read_segment(Path(path), start, self.length)
        return np.pad(cut, (0, self.length - cut.size))

    def _fit(self, audio: np.ndarray) -> np.ndarray:
        """Centre-crop or zero-pad (at the end) to ``length`` samples."""
        if audio.size >= self.length:
            start = (audio.size - self.length) // 2
            return audio[start:start + self.length]
        return np.pad(audio, (0, self.length - audio.size))

    def _change_speed(self, audio: np.ndarray, speed: float) -> np.ndarray:
        """``audio`` played ``speed`` times faster (the corpus maker's resampling, ratio to 1/64),
        centred in ``length`` samples."""
        faster = change_speed(audio, speed)
        if faster.size >= self.length:
            return self._fit(faster)  # centre-cropped
        before = (self.length - faster.size) // 2
        return np.pad(faster, (before, self.length - faster.size - before))

    def _augment(self, audio: np.ndarray, epoch: int, index: int) -> np.ndarray:
        keys = (epoch, index)
        if self.speed_perturb:
            speed = 1 + (2 * float(uniform(self.shuffle_seed, *keys, 14)) - 1) * self.speed_perturb
            audio = self._change_speed(audio, speed)
        shift = round((2 * float(uniform(self.shuffle_seed, *keys, 10)) - 1) * self.shift)
        if shift > 0:  # later: zeros first
            audio = np.concatenate([np.zeros(shift, np.float32), audio[:-shift]])
        elif shift < 0:  # earlier: zeros last
            audio = np.concatenate([audio[-shift:], np.zeros(-shift, np.float32)])
        if self.noise and float(uniform(self.shuffle_seed, *keys, 11)) < self.noise_prob:
            level = float(uniform(self.shuffle_seed, *keys, 12)) * self.noise_volume
            audio = audio + level * self._noise_cut(self.shuffle_seed, *keys, 13)
        return audio.astype(np.float32)

    def load(self, split: str, index: int, epoch: int) -> Sample:
        name = self.files[split][index]
        if name:
            audio = self._fit(self.reader(self.root / name))
        else:  # silence: a fixed cut and level per (seed, split, index)
            keys = (split_seed(self.seed, split), index)
            audio = float(uniform(self.seed, *keys, 3)) * self.silence_volume * self._noise_cut(self.seed, *keys)
        if split == "train":
            audio = self._augment(audio, epoch, index)
        return audio.astype(np.float32), int(self.labels[split][index])
