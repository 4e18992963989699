"""The one data interface: what the trainer and the tasks may ask of any data source.

Both families implement it — :class:`~cnnlstm.data.indexed.IndexedData` (tensors held on the
device, batched by indexing) and :class:`~cnnlstm.data.audio_stream.AudioStream` (files decoded
by DataLoader workers) — so a task reads ``data.classes`` or ``data.score_map`` as plain
attributes, declared here with their defaults, instead of probing for them.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterator

import torch

SPLITS = ("train", "val", "test")


class DataSource(ABC):
    """Batches of dicts of tensors (at least ``"x"`` and ``"y"``) for the splits in :data:`SPLITS`.

    Attributes a task or the run may read:
        model_args: the model constructor arguments the data decides (``num_outputs``,
            ``in_features``, ``sample_rate`` ...).
        classes: the class names, in label order (None: the data has no names, e.g. images).
        score_map: for frame labelling scored on fewer classes than it trains on (TIMIT's 61 or
            48 phones scored on 39), the scored class of each training class (None: the same).
        frame_targets: whether ``y`` holds a label per frame ``(B, T)`` rather than per item.
        batch_size: the training batch of this process; ``rank``, ``world_size``: its share.
    """

    model_args: dict[str, object] = {}
    classes: list[str] | None = None
    score_map: torch.Tensor | None = None
    frame_targets: bool = False
    batch_size: int = 32
    rank: int = 0
    world_size: int = 1

    @abstractmethod
    def setup(self, device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1) -> None:
        """Move or build the data for ``device`` and this rank; called once before any batch."""

    @abstractmethod
    def split_size(self, split: str) -> int:
        """Items in ``split`` (all ranks together)."""

    @abstractmethod
    def num_batches(self, split: str) -> int:
        """Batches of ``split`` this rank sees in one pass."""

    @abstractmethod
    def batches(self, split: str, epoch: int = 0, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """The batches of ``split`` in ``epoch``'s order, from batch ``start`` (mid-epoch resume)."""

    @abstractmethod
    def example_batch(self, n: int = 2) -> dict[str, torch.Tensor]:
        """A small training batch (the model summary and graph trace run on it)."""
