"""Audio read lazily from disk in DataLoader workers, in length-bucketed batches: the trainer's data interface.

A subclass lists its files (path and length only, from the headers) and says how to load one
sample; this class plans the batches (:mod:`cnnlstm.data.buckets`), decodes them in
``torch.utils.data.DataLoader`` workers, pads them, and hands them to the device (pinned memory
and non-blocking copies on CUDA). Host memory holds the file list, not the audio.
"""

import logging
from abc import abstractmethod
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from cnnlstm.data.audio_files import CacheError, SkipBad
from cnnlstm.data.base import DataSource
from cnnlstm.data.buckets import batch_plan, pad_sizes, padded_length, rank_share
from cnnlstm.errors import DataError
from cnnlstm.nn.masking import IGNORE_LABEL

log = logging.getLogger(__name__)

Sample = tuple[np.ndarray, int | np.ndarray]  # audio (S,) and its label (classification) or frame labels (T,)


class AudioStream(SkipBad, DataSource):
    """Base of streamed audio data; the same interface as :class:`~cnnlstm.data.indexed.IndexedData`.

    Subclasses fill ``self.lengths[split]`` (samples per item, ``np.int64``) and ``self.classes``,
    set ``model_args``, implement :meth:`load` (one sample, run in a worker) and, for frame
    targets, :meth:`num_frames`. Batches are ``x: (B, S)`` zero-padded audio, ``lengths: (B,)``
    and ``y``: ``(B,)`` class ids or ``(B, T)`` frame labels padded with ``IGNORE_LABEL``.

    Args (the stream settings every subclass passes on):
        batch_size, eval_batch_size, shuffle_seed, drop_last: as :class:`IndexedData` (the
            per-epoch shuffle, the rank split and resuming at a batch number are the same).
        num_workers: DataLoader worker processes decoding the files (0: in the training process).
        bucket_batches: training batches are formed within pools of this many batches sorted by
            length (1: no bucketing); evaluation batches are always length-sorted.
        pad_buckets: pad every batch to one of this many fixed lengths (quantiles of the lengths
            of all splits) instead of its own longest, so a compiled model sees few shapes; null:
            each batch's own longest.
        skip_bad: bad files are skipped and counted (at the header scan, or when a worker fails
            to decode one); otherwise the first is a DataError naming it.
    """

    model_args: dict[str, object] = {}
    classes: list[str]
    frame_targets = False  # y is (B, T) frame labels rather than (B,) class ids

    def __init__(self, *, batch_size: int, eval_batch_size: int | None, shuffle_seed: int, drop_last: bool,
                 num_workers: int, bucket_batches: int, pad_buckets: int | None, skip_bad: bool) -> None:
        self.batch_size = batch_size
        self.eval_batch_size = batch_size if eval_batch_size is None else eval_batch_size
        self.shuffle_seed, self.drop_last, self.skip_bad = shuffle_seed, drop_last, skip_bad
        self.num_workers, self.bucket_batches, self.pad_buckets = num_workers, bucket_batches, pad_buckets
        self.device = torch.device("cpu")
        self.rank, self.world_size = 0, 1
        self.lengths: dict[str, np.ndarray] = {}
        self.skipped: list[str] = []
        self.sizes: np.ndarray | None = None

    # ------------------------------------------------------------------ what a subclass provides
    @abstractmethod
    def load(self, split: str, index: int, epoch: int) -> Sample:
        """Sample ``index`` of ``split`` as seen in ``epoch`` (augmentation may depend on it); runs
        in a worker, raises DataError naming the file when it cannot be read."""

    def num_frames(self, samples: int) -> int:
        """Frames the model's front end makes of ``samples`` audio samples: a hook that only data
        with frame targets (``frame_targets = True``, e.g. TIMIT) implements and calls."""
        raise NotImplementedError(f"{type(self).__name__} has frame targets but no num_frames()")

    def pad_multiple(self) -> int:
        """Padded lengths are multiples of this (1; a front end's hop for frame targets)."""
        return 1

    def finish_scan(self) -> None:
        """Call once the splits are listed: reports skipped files, fixes the padded sizes."""
        self.report_skipped()
        if self.pad_buckets is not None:
            every = np.concatenate([v for v in self.lengths.values()] + [np.zeros(0, np.int64)])
            self.sizes = pad_sizes(every, self.pad_buckets, self.pad_multiple())

    # ------------------------------------------------------------------ the trainer's interface
    def setup(self, device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1) -> None:
        """Remember the device and this process's rank; nothing is loaded up front."""
        self.device = torch.device(device)
        self.rank, self.world_size = rank, world_size

    def split_size(self, split: str) -> int:
        return len(self.lengths.get(split, ()))

    def _global_batch(self, split: str) -> int:
        return (self.batch_size if split == "train" else self.eval_batch_size) * self.world_size

    def num_batches(self, split: str) -> int:
        n, gbs = self.split_size(split), self._global_batch(split)
        return n // gbs if self.drop_last and split == "train" else -(-n // gbs)

    def plan(self, split: str, epoch: int) -> list[np.ndarray]:
        """The global batches of ``split`` in ``epoch`` (see :func:`~cnnlstm.data.buckets.batch_plan`)."""
        train = split == "train"
        return batch_plan(self.lengths[split], self._global_batch(split), shuffle=train, seed=self.shuffle_seed,
                          epoch=epoch, drop_last=self.drop_last and train, pool_batches=self.bucket_batches)

    def batches(self, split: str, epoch: int = 0, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """Yield the batches of ``split`` for ``epoch`` from batch number ``start``, decoded by workers."""
        keys = [rank_share(b, self.rank, self.world_size) for b in self.plan(split, epoch)[start:]]
        if not keys:
            return
        workers = min(self.num_workers, len(keys))
        loader = DataLoader(_BatchReader(self, split, epoch), sampler=keys, batch_size=None, num_workers=workers,
                            pin_memory=self.device.type == "cuda", prefetch_factor=2 if workers else None)
        for batch in loader:
            yield self._to_device(batch)

    def make_batch(self, split: str, indices: torch.Tensor, epoch: int = 0) -> dict[str, torch.Tensor]:
        """The batch of samples ``indices`` of ``split``, decoded in this process."""
        return self._to_device(self.read_batch(split, np.asarray(indices.cpu()), epoch))

    def example_batch(self, n: int = 2) -> dict[str, torch.Tensor]:
        """A small batch of validation samples, for model summaries and graphs."""
        split = "val" if self.split_size("val") else "train"
        return self.make_batch(split, torch.arange(min(n, self.split_size(split))))

    # ------------------------------------------------------------------ batches
    def read_batch(self, split: str, indices: np.ndarray, epoch: int) -> dict:
        """Load and pad the samples ``indices``; a worker's DataError comes back as ``error`` (its one
        line, re-raised by the training process) or, with ``skip_bad``, in ``skipped``."""
        samples, skipped = [], []
        for i in indices.tolist():
            try:
                samples.append(self.load(split, i, epoch))
            except DataError as e:
                if not self.skip_bad or isinstance(e, CacheError):  # not the clip's fault
                    return {"error": str(e)}
                skipped.append(str(e))
        if not samples:
            return {"error": f"every file of a {split} batch failed to decode, e.g. {skipped[0]}"}
        return self.collate(samples) | ({"skipped": skipped} if skipped else {})

    def collate(self, samples: list[Sample]) -> dict[str, torch.Tensor]:
        """Zero-padded audio to the batch's padded length, lengths, and the targets."""
        lengths = torch.tensor([len(a) for a, _ in samples], dtype=torch.long)
        steps = padded_length(int(lengths.max()), self.sizes, self.pad_multiple())
        x = torch.zeros(len(samples), steps)
        for row, (audio, _) in enumerate(samples):
            x[row, :len(audio)] = torch.from_numpy(audio)
        if not self.frame_targets:
            return {"x": x, "lengths": lengths, "y": torch.tensor([int(t) for _, t in samples], dtype=torch.long)}
        y = torch.full((len(samples), self.num_frames(steps)), IGNORE_LABEL, dtype=torch.long)
        for row, (_, labels) in enumerate(samples):
            y[row, :len(labels)] = torch.from_numpy(labels)
        return {"x": x, "lengths": lengths, "y": y}

    def _to_device(self, batch: dict) -> dict[str, torch.Tensor]:
        if "error" in batch:
            raise DataError(batch["error"])
        for message in batch.pop("skipped", []):
            self.skipped.append(message)
            log.warning("skipped %s (data.skip_bad=true; %d skipped so far)", message, len(self.skipped))
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}


class _BatchReader(Dataset):
    """What a DataLoader worker runs: a key (the indices of one batch) -> the padded batch."""

    def __init__(self, source: AudioStream, split: str, epoch: int) -> None:
        self.source, self.split, self.epoch = source, split, epoch

    def __getitem__(self, indices: np.ndarray) -> dict:
        return self.source.read_batch(self.split, indices, self.epoch)
