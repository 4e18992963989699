"""Masks and padding-aware reductions for batches of variable-length sequences."""

import torch

IGNORE_LABEL = -100  # the label of a frame that is not scored (padding): torch's cross-entropy ignore_index


def length_mask(lengths: torch.Tensor | None, steps: int, device=None) -> torch.Tensor | None:
    """``(B, T)`` bool mask, True at valid steps ``t < lengths[b]``; None when ``lengths`` is None."""
    if lengths is None:
        return None
    return torch.arange(steps, device=device or lengths.device)[None, :] < lengths[:, None]


def masked_mean(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Mean over time of ``x: (B, T, D)`` counting only the first ``lengths[b]`` steps -> ``(B, D)``."""
    if lengths is None:
        return x.mean(1)
    mask = length_mask(lengths, x.shape[1], x.device).unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    return (x * mask).sum(1) / lengths.to(x.dtype).clamp(min=1).unsqueeze(-1)


def last_step(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``x[b, lengths[b] - 1]`` of ``x: (B, T, D)`` -> ``(B, D)`` (the last valid step)."""
    if lengths is None:
        return x[:, -1]
    index = (lengths.long() - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, x.shape[-1])  # (B, 1, D)
    return x.gather(1, index.to(x.device)).squeeze(1)


def pool_frames(x: torch.Tensor, lengths: torch.Tensor | None, pool: str) -> torch.Tensor:
    """Per-frame outputs ``x: (B, T, K)`` -> one per sequence ``(B, K)``: ``"mean"`` over the valid
    frames, ``"last"`` the last valid one; ``"none"`` keeps every frame ``(B, T, K)``."""
    if pool == "mean":
        return masked_mean(x, lengths)
    if pool == "last":
        return last_step(x, lengths)
    return x


def zero_padding(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``x: (B, T, ...)`` with every step ``t >= lengths[b]`` set to zero, so padding carries no
    information into convolutions that look across time."""
    if lengths is None:
        return x
    mask = length_mask(lengths, x.shape[1], x.device)
    return x * mask.view(*mask.shape, *([1] * (x.dim() - 2))).to(x.dtype)
