"""Apply a per-frame module to every step of a sequence."""

import torch
from torch import nn

from cnnlstm.arguments import PositiveInt, checked


class TimeDistributed(nn.Module):
    """Run ``module`` on each time step of ``x: (B, T, *frame)``, returning ``(B, T, *out)``.

    With ``fold=True`` (the default) time is folded into the batch, ``(B, T, ...) -> (B*T, ...)``,
    so the module runs once on all frames: one big kernel launch instead of ``T`` small ones.
    ``fold=False`` loops over frames in Python, the naive port of Keras' TimeDistributed; it is
    kept only as the baseline the benchmark compares against.

    In eval mode on CPU the folded frames go through the module ``eval_chunk_frames`` at a time:
    one fold of a large inference batch (256 sequences of 50 frames) makes activations of
    hundreds of MB, which the CPU allocator maps and page-faults afresh on every call and which
    miss every cache, so it ran 3x slower than the per-frame loop. Chunks are exact (eval-mode
    modules treat frames independently); training and CUDA always fold in one piece. 128 frames
    was fastest for both the tutorial CNN and ``cnn_lstm_large`` (3x and 2x the single fold).

    Example:
        >>> td = TimeDistributed(nn.Conv2d(1, 4, 3))
        >>> td(torch.zeros(2, 5, 1, 8, 8)).shape
        torch.Size([2, 5, 4, 6, 6])
    """

    @checked
    def __init__(self, module: nn.Module, *, fold: bool = True, eval_chunk_frames: PositiveInt | None = 128) -> None:
        super().__init__()
        self.module = module
        self.fold = fold
        self.eval_chunk_frames = eval_chunk_frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, T, *frame) -> (B, T, *out)``."""
        if x.dim() < 3:
            raise ValueError(f"TimeDistributed expects (B, T, ...) input, got shape {tuple(x.shape)}")
        if not self.fold:
            return torch.stack([self.module(x[:, t]) for t in range(x.shape[1])], dim=1)
        b, t = x.shape[:2]
        frames = x.flatten(0, 1)  # (B*T, *frame)
        chunk = self.eval_chunk_frames
        if self.training or x.device.type != "cpu" or chunk is None or frames.shape[0] <= chunk:
            y = self.module(frames)  # (B*T, *out)
        else:
            y = torch.cat([self.module(part) for part in frames.split(chunk)])
        return y.unflatten(0, (b, t))  # (B, T, *out)

    def extra_repr(self) -> str:
        return "" if self.fold else "fold=False"
