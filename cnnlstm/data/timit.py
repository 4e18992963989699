"""TIMIT (LDC93S1) as distributed: frame-level phone labels from the ``.PHN`` files, streamed from disk.

``python train.py model=cldnn data=timit data.root=DIR`` where ``DIR`` holds ``TRAIN/`` and
``TEST/`` (``DR1..DR8/<speaker>/<utterance>.WAV`` with ``.PHN``; lower-case names and RIFF WAV
audio work as well as the original NIST SPHERE). See docs/speech_data.md.
"""

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from cnnlstm.arguments import NonNegativeInt, PositiveFloat, PositiveInt, UnitInterval, checked
from cnnlstm.data.audio_files import AudioReader, data_root, header_length
from cnnlstm.data.audio_stream import AudioStream, Sample
from cnnlstm.data.phones import FOLDING, PHONE_SETS, PHONES_39, label_table, score_map
from cnnlstm.data.splits import check_disjoint, text_lines
from cnnlstm.errors import DataError
from cnnlstm.nn.log_mel import LogMel
from cnnlstm.nn.masking import IGNORE_LABEL

# the 24-speaker core test set and the 50-speaker development set (both from TEST/), as in
# Kaldi's egs/timit/s5/conf/{test,dev}_spk.list
CORE_TEST = frozenset("""MDAB0 MWBT0 FELC0 MTAS1 MWEW0 FPAS0 MJMP0 MLNT0 FPKT0 MLLL0 MTLS0 FJLM0 MBPM0 MKLT0 FNLP0
    MCMJ0 MJDH0 FMGD0 MGRT0 MNJM0 FDHC0 MJLN0 MPAM0 FMLD0""".split())
DEV = frozenset("""FAKS0 FDAC1 FJEM0 MGWT0 MJAR0 MMDB1 MMDM2 MPDF0 FCMH0 FKMS0 MBDG0 MBWM0 MCSH0 FADG0 FDMS0
    FEDW0 MGJF0 MGLB0 MRTK0 MTAA0 MTDT0 MTHC0 MWJG0 FNMR0 FREW0 FSEM0 MBNS0 MMJR0 MDLS0 MDLF0 MDVC0 MERS0
    FMAH0 FDRW0 MRCS0 MRJM4 FCAL1 MMWH0 FJSJ0 MAJC0 MJSW0 MREB0 FGJD0 FJMG0 MROA0 MTEB0 MJFC0 MRJR0 FMML0
    MRWS1""".split())

PHN = tuple[np.ndarray, np.ndarray, list[str]]  # start samples, end samples, phones


def sample_number(text: str) -> int | None:
    """``text`` as a sample number if it is plain ASCII digits (at most 12); None otherwise.
    Python's ``int()`` also takes other scripts' digits ('١٢' is 12) and refuses some
    ``isdigit()`` strings ('²'), so neither is trusted with a transcription."""
    if 0 < len(text) <= 12 and text.isascii() and text.isdigit():
        return int(text)
    return None


def read_phn(path: Path, n_samples: int) -> PHN:
    """The segments of a ``.PHN`` file (``start end phone`` per line, in samples); DataError naming the
    file and line for text that is not UTF-8, a malformed line (numbers must be ASCII digits), an
    unknown phone, overlapping or out-of-range boundaries."""
    starts, ends, phones, previous = [], [], [], 0
    for number, line in text_lines(path):
        parts = line.split()
        where = f"{path}: line {number}"
        start, end = (sample_number(p) for p in parts[:2]) if len(parts) == 3 else (None, None)
        if start is None or end is None:
            raise DataError(f"{where}: expected 'start_sample end_sample phone', got {line!r}")
        phone = parts[2].lower()
        if phone not in FOLDING:
            raise DataError(f"{where}: unknown phone {parts[2]!r} (not one of TIMIT's 61)")
        if end <= start:
            raise DataError(f"{where}: segment {start}-{end} ends before it starts")
        if start < previous:
            raise DataError(f"{where}: segment {start}-{end} overlaps the previous one (ending at {previous})")
        if end > n_samples:
            raise DataError(f"{where}: segment {start}-{end} ends past the audio's {n_samples} samples")
        starts.append(start), ends.append(end), phones.append(phone)
        previous = end
    if not phones:
        raise DataError(f"{path}: no phone segments")
    return np.array(starts), np.array(ends), phones


def frame_labels(segments: PHN, n_frames: int, hop: int, win: int, table: dict[str, int]) -> np.ndarray:
    """Label of each frame: the phone holding the frame's centre sample ``t * hop + win // 2`` (frame
    ``t`` spans ``t * hop .. t * hop + win``, as the log-mel front end frames audio), in the training
    set given by ``table``; ``IGNORE_LABEL`` in a gap between segments or for a phone not trained on."""
    starts, ends, phones = segments
    centres = np.arange(n_frames) * hop + win // 2
    k = np.searchsorted(starts, centres, side="right") - 1  # last segment starting at or before the centre
    ids = np.array([table[p] for p in phones])
    inside = (k >= 0) & (centres < ends[np.maximum(k, 0)])
    labels = np.where(inside, ids[np.maximum(k, 0)], -1)
    return np.where(labels >= 0, labels, IGNORE_LABEL).astype(np.int64)


def find_utterances(root: Path, part: str, include_sa: bool) -> list[tuple[str, Path, Path]]:
    """``(speaker, audio, .PHN)`` of every utterance under ``root/<part>`` (any letter case; audio
    ``<utt>.WAV``, also ``<utt>.WAV.wav`` as some copies convert them), SA sentences only with ``include_sa``."""
    folders = [p for p in root.iterdir() if p.is_dir() and p.name.upper() == part]
    found: dict[tuple[str, str], tuple[str, Path, Path]] = {}
    for folder in folders:
        for audio in sorted(folder.rglob("*")):
            if not audio.name.lower().endswith(".wav") or not audio.is_file():
                continue
            utt, speaker = audio.name.split(".")[0], audio.parent.name.upper()
            if utt.upper().startswith("SA") and not include_sa:
                continue
            phn = next((p for p in (audio.parent / f"{utt}.PHN", audio.parent / f"{utt}.phn") if p.is_file()), None)
            found.setdefault((speaker, utt.upper()), (speaker, audio, phn))
    return [found[k] for k in sorted(found)]


def split_speakers(train: set[str], test: set[str], val_fraction: float,
                   seed: int) -> dict[str, set[str]]:
    """Speakers of each split, disjoint whatever mix of standard speakers ``TEST/`` holds.

    Test: the core test speakers in ``TEST/`` if any, else ``TEST/`` less its development speakers,
    else (``TEST/`` holds development speakers only) all of it. Validation: the development
    speakers not used for test, else a ``seed``-ed ``val_fraction`` of the ``TRAIN/`` speakers.
    """
    tested = (test & CORE_TEST) or (test - DEV) or test
    val = (test & DEV) - tested
    if not val:
        names = sorted(train)
        shuffled = np.random.default_rng(seed).permutation(names)
        val = set(shuffled[:round(val_fraction * len(names))].tolist())
    return {"train": train - val, "val": val, "test": tested}


class TIMIT(AudioStream):
    """TIMIT frame labelling: raw audio ``x: (B, S)``, ``lengths`` and per-frame phone ids ``y: (B, T)``.

    Frame ``t`` is labelled with the phone at its centre sample (not the majority over the
    window: the centre is what a frame classifier is scored against in the usual recipes, and it
    needs no tie rule). ``T`` is exactly the frames the model's log-mel front end makes of the
    audio: ``win_ms`` and ``hop_ms`` are the model's (the config interpolates them from
    ``model.frontend``). ``train_phones`` picks the training classes (61, 48 or 39; see
    :mod:`cnnlstm.data.phones`); :attr:`score_map` maps them to the 39 scoring phones, with which
    the frame labelling task reports ``fer`` (frame error rate) and ``acc39``.

    Splits: ``TRAIN/`` trains; the validation split is the 50-speaker development set and the test
    split the 24-speaker core test set, both from ``TEST/``, when those speakers are there; otherwise
    validation is a seeded speaker-disjoint ``val_fraction`` of the TRAIN speakers and test is the
    rest of ``TEST/`` (:func:`split_speakers`). No speaker or file is ever in two splits (a speaker
    folder in both ``TRAIN/`` and ``TEST/`` is an error naming it), and an empty test split is an
    error. ``include_sa``: also the two SA sentences every speaker reads (excluded by default,
    as in the standard recipes: they would bias the phone statistics).

    Args:
        root: the folder holding ``TRAIN/`` and ``TEST/``.
        sample_rate: the files' rate (16000 for TIMIT; a file at another rate is bad).
        min_samples: shorter files are bad (default: one 25 ms window at 16 kHz).
        max_seconds: longer files are bad, checked from the header before decoding (TIMIT's
            utterances are under 8 s; a batch is padded to its longest).
        cache_dir: keep decoded audio as ``.npy`` there (see :class:`~cnnlstm.data.audio_files.AudioReader`).
        num_workers, bucket_batches, pad_buckets, skip_bad, batch_size, eval_batch_size,
            shuffle_seed, drop_last: see :class:`~cnnlstm.data.audio_stream.AudioStream`.
    """

    frame_targets = True

    @checked
    def __init__(self, root: str | Path | None = None, train_phones: Literal[61, 48, 39] = 61, include_sa: bool = False,
                 sample_rate: PositiveInt = 16000, win_ms: PositiveFloat = 25.0, hop_ms: PositiveFloat = 10.0,
                 val_fraction: UnitInterval = 0.1, split_seed: int = 0, min_samples: PositiveInt = 400,
                 max_seconds: PositiveFloat = 60.0,
                 cache_dir: str | None = None, num_workers: NonNegativeInt = 2, bucket_batches: PositiveInt = 50,
                 pad_buckets: PositiveInt | None = None, skip_bad: bool = False, batch_size: PositiveInt = 32,
                 eval_batch_size: PositiveInt | None = None, shuffle_seed: int = 0, drop_last: bool = False) -> None:
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, shuffle_seed=shuffle_seed,
                         drop_last=drop_last, num_workers=num_workers, bucket_batches=bucket_batches,
                         pad_buckets=pad_buckets, skip_bad=skip_bad)
        self.root = data_root(root, "the TIMIT folder holding TRAIN/ and TEST/")
        self.framing = LogMel(sample_rate=sample_rate, win_ms=win_ms, hop_ms=hop_ms)  # the model's framing, exactly
        self.win, self.hop, self.min_samples = self.framing.win, self.framing.hop, max(min_samples, self.framing.win)
        self.sample_rate, self.train_phones = sample_rate, train_phones
        self.classes = list(PHONE_SETS[train_phones])
        self.table = label_table(train_phones)
        self.score_map = torch.tensor(score_map(train_phones))
        self.score_classes = list(PHONES_39)
        self.max_seconds = max_seconds
        self.reader = AudioReader(sample_rate, None, self.min_samples, cache_dir, max_seconds)
        self.items: dict[str, list[tuple[str, str]]] = {}
        for split, utterances in self._splits(include_sa, val_fraction, split_seed).items():
            self._scan(split, utterances)
        self.finish_scan()
        self.require_training("TRAIN utterances (TRAIN/DR*/<speaker>/<utt>.WAV with .PHN)")
        if self.split_size("test") == 0:
            raise DataError(f"data.root={self.root}: no usable TEST utterances (TEST/DR*/"
                            "<speaker>/<utt>.WAV with .PHN): the test split would be empty")
        self.model_args = {"num_outputs": len(self.classes), "sample_rate": sample_rate}

    def _splits(self, include_sa: bool, val_fraction: float, split_seed: int) -> dict[str, list]:
        """Utterances of each split, by the speakers :func:`split_speakers` picks; DataError
        naming a speaker or file that would be in two splits."""
        train, test = (find_utterances(self.root, part, include_sa) for part in ("TRAIN", "TEST"))
        parts = {"TRAIN/": train, "TEST/": test}
        check_disjoint({k: [(s, a) for s, a, _ in u] for k, u in parts.items()}, "speaker")
        speakers = split_speakers({s for s, _, _ in train}, {s for s, _, _ in test}, val_fraction,
                                  split_seed)
        splits = {k: [u for u in train + test if u[0] in names] for k, names in speakers.items()}
        check_disjoint({k: [(s, a) for s, a, _ in u] for k, u in splits.items()}, "speaker")
        check_disjoint({k: [(a.resolve(), a) for _, a, _ in u] for k, u in splits.items()}, "file")
        return splits

    def _scan(self, split: str, utterances: list[tuple[str, Path, Path | None]]) -> None:
        """Check each utterance's header and transcription now (nothing is decoded); keep paths and lengths."""
        kept, lengths = [], []
        for _, audio, phn in utterances:
            try:
                if phn is None:
                    raise DataError(f"{audio}: no .PHN transcription beside it")
                n = header_length(audio, self.sample_rate, None, self.min_samples,
                                  self.max_seconds)
                read_phn(phn, n)
            except DataError as e:
                self.bad(str(e))
                continue
            kept.append((str(audio), str(phn)))
            lengths.append(n)
        self.items[split], self.lengths[split] = kept, np.array(lengths, dtype=np.int64)

    def num_frames(self, samples: int) -> int:
        return int(self.framing.num_frames(torch.tensor(samples)))  # the front end's own count

    def pad_multiple(self) -> int:
        return self.hop

    def load(self, split: str, index: int, epoch: int) -> Sample:
        audio_path, phn_path = self.items[split][index]
        audio = self.reader(Path(audio_path))
        segments = read_phn(Path(phn_path), len(audio))
        return audio, frame_labels(segments, self.num_frames(len(audio)), self.hop, self.win, self.table)
