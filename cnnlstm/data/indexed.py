"""The data interface of the trainer: batches of dicts, built from sample indices on the device."""

from abc import abstractmethod
from collections.abc import Iterator

import torch

from cnnlstm.arguments import PositiveInt, checked
from cnnlstm.data.base import DataSource


class IndexedData(DataSource):
    """Base class for data whose splits are indexable: subclasses build a whole batch at once.

    A subclass implements :meth:`split_size` and :meth:`make_batch` (indices -> dict of tensors on
    the device, with at least ``"x"`` and ``"y"``) and sets :attr:`model_args`, the model
    constructor arguments the data decides (``num_outputs``, ``in_features`` ...). This class does the rest:
    the per-epoch shuffle from ``shuffle_seed``, resuming mid-epoch at a batch position, and the
    split of a global batch between ranks, so ``world_size`` ranks with batch ``b`` see exactly
    the samples one process with batch ``world_size * b`` sees. ``eval_batch_size`` is the batch
    of the val/test splits; ``None`` (``null`` in a config) uses ``batch_size``.
    """

    model_args: dict[str, object] = {}

    @checked
    def __init__(self, batch_size: PositiveInt = 32, shuffle_seed: int = 0, drop_last: bool = False,
                 eval_batch_size: PositiveInt | None = None) -> None:
        self.batch_size = batch_size
        # null means "the training batch size"; 0 is an error, not a synonym for null
        self.eval_batch_size = batch_size if eval_batch_size is None else eval_batch_size
        self.shuffle_seed, self.drop_last = shuffle_seed, drop_last
        self.device = torch.device("cpu")
        self.rank, self.world_size = 0, 1

    def setup(self, device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1) -> None:
        """Move or build the data for ``device``; called once by the trainer before any batch."""
        self.device = torch.device(device)
        self.rank, self.world_size = rank, world_size

    @abstractmethod
    def split_size(self, split: str) -> int:
        """Number of samples in ``split`` (0 for a split the data does not have)."""

    @abstractmethod
    def make_batch(self, split: str, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """The batch of samples ``indices`` (on the device) of ``split``, as tensors on the device."""

    def _global_batch(self, split: str) -> int:
        size = self.batch_size if split == "train" else self.eval_batch_size
        return size * self.world_size

    def num_batches(self, split: str) -> int:
        """Batches per epoch of ``split`` (the same on every rank)."""
        n, gbs = self.split_size(split), self._global_batch(split)
        drop = self.drop_last and split == "train"
        return n // gbs if drop else -(-n // gbs)

    def order(self, split: str, epoch: int) -> torch.Tensor:
        """Sample order of ``split`` in ``epoch``: shuffled for training, sequential otherwise."""
        n = self.split_size(split)
        if split != "train":
            return torch.arange(n)
        generator = torch.Generator().manual_seed(self.shuffle_seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=generator)

    def batches(self, split: str, epoch: int = 0, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """Yield the batches of ``split`` for ``epoch``, beginning at batch number ``start``."""
        order, gbs = self.order(split, epoch), self._global_batch(split)
        for k in range(start, self.num_batches(split)):
            indices = order[k * gbs:(k + 1) * gbs].tensor_split(self.world_size)[self.rank]
            yield self.make_batch(split, indices.to(self.device))

    def example_batch(self, n: int = 2) -> dict[str, torch.Tensor]:
        """A small batch of validation samples, for model summaries and graphs."""
        split = "val" if self.split_size("val") else "train"
        return self.make_batch(split, torch.arange(min(n, self.split_size(split)), device=self.device))
