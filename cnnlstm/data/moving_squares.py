"""The moving-square video problem of the Keras CNN-LSTM tutorial, generated on the device."""

import torch

from cnnlstm.arguments import NonNegativeInt, PositiveInt, checked
from cnnlstm.data.counter_rng import split_seed, uniform
from cnnlstm.data.indexed import IndexedData
from cnnlstm.errors import ConfigError


def moving_squares(seed: int, indices: torch.Tensor, size: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences ``indices`` of the generator keyed by ``seed``.

    A dot starts in a uniformly random row of the first column (moving right, label 1) or the last
    column (moving left, label 0) and moves one column per frame; each next row is drawn uniformly
    from the rows within one of the previous row that lie inside the frame; every frame keeps the
    trail of earlier dots.

    Returns:
        frames ``(B, seq_len, 1, size, size)`` float32 in {0, 1} and labels ``(B,)`` int64.
    """
    idx = indices.long()  # (B,)
    right = uniform(seed, idx, 0) < 0.5  # (B,)
    row = (uniform(seed, idx, 1) * size).long().clamp_(max=size - 1)  # (B,)
    steps = uniform(seed, idx[:, None], torch.arange(2, seq_len + 1, device=idx.device))  # (B, T-1)
    rows = [row]
    for t in range(seq_len - 1):  # a loop over time only, vectorised over the batch
        lower, upper = (row - 1).clamp(min=0), (row + 1).clamp(max=size - 1)
        row = lower + (steps[:, t] * (upper - lower + 1)).long().minimum(upper - lower)
        rows.append(row)
    rows = torch.stack(rows, dim=1)  # (B, T): row of the dot at frame t
    col = torch.arange(size, device=idx.device)  # (S,)
    visit = torch.where(right[:, None], col, size - 1 - col)  # (B, S): frame at which column c is lit
    row_at_col = rows.gather(1, visit.clamp(max=seq_len - 1))  # (B, S)
    t = torch.arange(seq_len, device=idx.device)
    lit_by_t = visit[:, None, :] <= t[None, :, None]  # (B, T, S): column lit by frame t
    on_row = row_at_col[:, None, :] == col[None, :, None]  # (B, S_row, S_col)
    frames = lit_by_t[:, :, None, :] & on_row[:, None, :, :]  # (B, T, S, S)
    return frames.unsqueeze(2).float(), right.long()


class MovingSquares(IndexedData):
    """Train/val/test splits of the moving-square problem, generated per batch on the device.

    Nothing is stored: sample ``i`` of a split is a pure function of ``(seed, split, i)``, so memory
    does not grow with ``n_train`` and every run, batch size and rank count sees the same data.

    Args:
        n_train, n_val, n_test: split sizes (tutorial: 5000 train, 100 test).
        size: frame height and width in pixels (tutorial: 50).
        seq_len: frames per sequence, at most ``size`` (tutorial: 50).
        seed: identity of the dataset; the splits use disjoint seeds derived from it.
        batch_size, shuffle_seed, drop_last, eval_batch_size: see :class:`IndexedData`.
    """

    @checked
    def __init__(self, n_train: PositiveInt = 5000, n_val: NonNegativeInt = 500, n_test: NonNegativeInt = 100,
                 size: PositiveInt = 50, seq_len: PositiveInt = 50, seed: int = 0, batch_size: PositiveInt = 32,
                 shuffle_seed: int = 0, drop_last: bool = False, eval_batch_size: PositiveInt | None = None) -> None:
        super().__init__(batch_size, shuffle_seed, drop_last, eval_batch_size)
        if seq_len > size:
            raise ConfigError(f"seq_len must be <= size (the dot crosses the frame once), got {seq_len} > {size}")
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.size, self.seq_len = size, seq_len
        self.seeds = {split: split_seed(seed, split) for split in self.sizes}
        self.model_args = {"frame_size": self.size, "in_channels": 1, "num_outputs": 1}

    def split_size(self, split: str) -> int:
        return self.sizes[split]

    def make_batch(self, split: str, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        x, y = moving_squares(self.seeds[split], indices, self.size, self.seq_len)
        return {"x": x, "y": y}
