"""In-memory splits of variable-length sequences, padded per split and cropped per batch."""

import torch

from cnnlstm.data.indexed import IndexedData


class PaddedSequences(IndexedData):
    """Base for data held as ``self.tensors[split] = (x, lengths, y)``: ``x`` zero-padded along
    time ``(N, T_max, ...)``, ``lengths (N,)`` and labels ``y``. The tensors move to the training
    device once, and each batch is cropped to its own longest sequence, so a batch of short
    utterances does not pay for the longest one in the split."""

    tensors: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]

    def setup(self, device="cpu", rank: int = 0, world_size: int = 1) -> None:
        super().setup(device, rank, world_size)
        self.tensors = {k: tuple(t.to(self.device) for t in v) for k, v in self.tensors.items()}

    def split_size(self, split: str) -> int:
        return int(self.tensors[split][2].shape[0])

    def padded_batch(self, split: str, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x[indices]`` cut to the batch's longest sequence, with its lengths and labels."""
        x, lengths, y = self.tensors[split]
        lengths = lengths[indices]
        steps = int(lengths.max()) if len(indices) else 1
        return x[indices, :steps], lengths, y[indices]

    def make_batch(self, split: str, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        x, lengths, y = self.padded_batch(split, indices)
        return {"x": x, "lengths": lengths, "y": y}
