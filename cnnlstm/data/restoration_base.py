"""Shared base of the restoration data sources: clean images held on the device, corrupted per batch."""

from collections.abc import Iterator, Sequence

import torch

from cnnlstm.arguments import PositiveInt, checked
from cnnlstm.data.corruptions import check_corruptions, corrupt
from cnnlstm.data.counter_rng import hash_u32, split_seed
from cnnlstm.data.indexed import IndexedData


class RestorationData(IndexedData):
    """Clean images ``(N, C, H, W)`` in [0, 1] per split, one tensor each on the device.

    A batch is ``{"x": corrupted, "y": clean, "mask": blanked region (B, 1, H, W) bool}``, built by
    indexing and corrupting the whole batch at once. Corruptions are keyed by the sample index and
    a per-split seed from ``seed``; training samples also get a new corruption each epoch (a
    fresh augmentation, still reproducible on resume), validation and test corruptions are fixed
    for the run and across runs with the same ``seed``.

    Subclasses fill :attr:`images` (split -> tensor) in :meth:`setup` and set :attr:`model_args` in
    their constructor, so a model can be rebuilt from the config without loading any data.
    """

    @checked
    def __init__(self, corruption: Sequence | None = None, seed: int = 0, batch_size: PositiveInt = 64,
                 shuffle_seed: int = 0, drop_last: bool = False, eval_batch_size: PositiveInt | None = None) -> None:
        super().__init__(batch_size, shuffle_seed, drop_last, eval_batch_size)
        self.corruptions = check_corruptions(corruption)  # once, naming the bad entry: corruption[1].sigma
        self.seeds = {split: split_seed(seed, split) for split in ("train", "val", "test")}
        self.images: dict[str, torch.Tensor] = {}
        self._epoch = 0

    def split_size(self, split: str) -> int:
        return int(self.images[split].shape[0])

    def batches(self, split: str, epoch: int = 0, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        inner = super().batches(split, epoch, start)
        while True:
            # set before each batch is built: a validation between two training batches (which
            # builds its own batches) must not change the epoch the training corruptions use
            self._epoch = epoch if split == "train" else 0
            try:
                batch = next(inner)
            except StopIteration:
                return
            yield batch

    def corruption_seed(self, split: str, epoch: int = 0) -> int:
        """The seed of ``split``'s corruptions in ``epoch`` (only training changes with the epoch)."""
        return int(hash_u32(self.seeds[split], epoch if split == "train" else 0))

    def clean_images(self, split: str, indices: torch.Tensor) -> torch.Tensor:
        """Clean images ``(B, C, H, W)`` of ``split`` at ``indices``; subclasses may augment here."""
        return self.images[split][indices]

    def make_batch(self, split: str, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        y = self.clean_images(split, indices)  # (B, C, H, W)
        x, mask = corrupt(self.corruptions, y, self.corruption_seed(split, self._epoch), indices)
        return {"x": x, "y": y, "mask": mask}
