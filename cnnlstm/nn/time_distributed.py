"""Apply a per-frame module to every step of a sequence."""

import torch
from torch import nn


class TimeDistributed(nn.Module):
    """Run ``module`` on each time step of ``x: (B, T, *frame)``, returning ``(B, T, *out)``.

    With ``fold=True`` (the default) time is folded into the batch, ``(B, T, ...) -> (B*T, ...)``,
    so the module runs once on all frames: one big kernel launch instead of ``T`` small ones.
    ``fold=False`` loops over frames in Python, the naive port of Keras' TimeDistributed; it is
    kept only as the baseline the benchmark compares against.

    Example:
        >>> td = TimeDistributed(nn.Conv2d(1, 4, 3))
        >>> td(torch.zeros(2, 5, 1, 8, 8)).shape
        torch.Size([2, 5, 4, 6, 6])
    """

    def __init__(self, module: nn.Module, *, fold: bool = True) -> None:
        super().__init__()
        self.module = module
        self.fold = fold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise ValueError(f"TimeDistributed expects (B, T, ...) input, got shape {tuple(x.shape)}")
        if not self.fold:
            return torch.stack([self.module(x[:, t]) for t in range(x.shape[1])], dim=1)
        b, t = x.shape[:2]
        y = self.module(x.flatten(0, 1))  # (B*T, *out)
        return y.unflatten(0, (b, t))  # (B, T, *out)

    def extra_repr(self) -> str:
        return "" if self.fold else "fold=False"
