"""A generated frame-labelling problem whose answer lies in the future: it needs an output delay."""

import torch

from cnnlstm.arguments import NonNegativeFloat, NonNegativeInt, PositiveInt, checked
from cnnlstm.data.counter_rng import normal, split_seed, uniform
from cnnlstm.data.indexed import IndexedData
from cnnlstm.errors import ConfigError
from cnnlstm.nn.masking import IGNORE_LABEL, length_mask


def lookahead_symbols(seed: int, indices: torch.Tensor, num_symbols: int, lookahead: int, min_len: int,
                      max_len: int, noise: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sequences ``indices``: frame ``t`` is the one-hot symbol ``s_t`` plus Gaussian noise, and its
    label is ``s_{t + lookahead}`` (``IGNORE_LABEL`` where that is past the end).

    Returns ``x (B, T, num_symbols)``, ``y (B, T)``, ``lengths (B,)`` with ``T`` the longest in the batch.
    """
    idx = indices.long()  # (B,)
    lengths = min_len + (uniform(seed, idx, 0) * (max_len - min_len + 1)).long().clamp(max=max_len - min_len)
    t = torch.arange(max_len, device=idx.device)
    symbols = (uniform(seed, idx[:, None], t + 1) * num_symbols).long().clamp(max=num_symbols - 1)  # (B, T)
    x = torch.nn.functional.one_hot(symbols, num_symbols).float()
    x = x + noise * normal(seed, idx[:, None, None], (t[:, None] + 1) * 1000 + torch.arange(num_symbols, device=idx.device))
    x = x * length_mask(lengths, max_len).unsqueeze(-1)
    y = symbols.roll(-lookahead, dims=1)
    y = torch.where(length_mask(lengths - lookahead, max_len), y, torch.full_like(y, IGNORE_LABEL))
    steps = int(lengths.max()) if len(idx) else 1
    return x[:, :steps], y[:, :steps], lengths


class LookaheadSymbols(IndexedData):
    """Frame labelling where the label of frame ``t`` is the symbol shown at frame ``t + lookahead``.

    A causal model can only get it right when its output is delayed by at least ``lookahead``
    frames (task ``frame_labelling``, ``task.delay``); without the delay it is at chance
    (``1 / num_symbols``). Generated per batch on the device, like :class:`MovingSquares`.
    """

    @checked
    def __init__(self, n_train: PositiveInt = 2000, n_val: NonNegativeInt = 200, n_test: NonNegativeInt = 200,
                 num_symbols: PositiveInt = 4, lookahead: NonNegativeInt = 2, min_len: PositiveInt = 20,
                 max_len: PositiveInt = 60, noise: NonNegativeFloat = 0.3, seed: int = 0,
                 batch_size: PositiveInt = 32, eval_batch_size: PositiveInt | None = None, shuffle_seed: int = 0,
                 drop_last: bool = False) -> None:
        super().__init__(batch_size, shuffle_seed, drop_last, eval_batch_size)
        if min_len > max_len or min_len <= lookahead:
            raise ConfigError(f"min_len must be in (lookahead, max_len], got {min_len} (lookahead {lookahead}, "
                              f"max_len {max_len})")
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.num_symbols, self.lookahead, self.min_len, self.max_len = num_symbols, lookahead, min_len, max_len
        self.noise = noise
        self.seeds = {split: split_seed(seed, split) for split in self.sizes}
        self.model_args = {"in_features": self.num_symbols, "num_outputs": self.num_symbols}

    def split_size(self, split: str) -> int:
        return self.sizes[split]

    def make_batch(self, split: str, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        x, y, lengths = lookahead_symbols(self.seeds[split], indices, self.num_symbols, self.lookahead,
                                          self.min_len, self.max_len, self.noise)
        return {"x": x, "y": y, "lengths": lengths}
