"""Images as row sequences and back: how the denoiser's LSTM reads and writes an image."""

import torch


def image_to_rows(x: torch.Tensor) -> torch.Tensor:
    """``x: (B, C, H, W) -> (B, H, C*W)``: time step ``t`` holds row ``t`` of every channel.

    Example:
        >>> image_to_rows(torch.zeros(2, 3, 5, 4)).shape
        torch.Size([2, 5, 12])
    """
    b, c, h, w = x.shape
    return x.permute(0, 2, 1, 3).reshape(b, h, c * w)


def rows_to_image(rows: torch.Tensor, channels: int) -> torch.Tensor:
    """``rows: (B, H, C*W) -> (B, C, H, W)``, the inverse of :func:`image_to_rows`."""
    b, h, cw = rows.shape
    if cw % channels:
        raise ValueError(f"rows of width {cw} cannot hold {channels} channels")
    return rows.reshape(b, h, channels, cw // channels).permute(0, 2, 1, 3).contiguous()
