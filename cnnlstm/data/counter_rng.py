"""Counter-based random numbers: a value is a pure function of (seed, sample index, stream).

Generated datasets use this instead of a stateful generator, so sample ``i`` of a split is the
same whatever the batch size, the order, the device or the number of ranks, and no dataset is
ever held in memory. The mixer is Chris Wellons' ``lowbias32`` on uint32 values stored in int64.
"""

import torch

_MASK = 0xFFFFFFFF


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``(x * c) mod 2**32`` for uint32 ``x`` without overflowing int64."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _MASK


def _mix(x: torch.Tensor) -> torch.Tensor:
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def hash_u32(seed: int, *keys: torch.Tensor | int) -> torch.Tensor:
    """Mix ``seed`` and each key (int64 tensors, broadcast together, or ints) into uint32 values."""
    device = next((k.device for k in keys if torch.is_tensor(k)), None)
    h = _mix(torch.tensor(seed & _MASK, dtype=torch.int64, device=device))
    for key in keys:
        key = torch.as_tensor(key, dtype=torch.int64, device=device)
        h = _mix((h + 0x9E3779B9 + (key & _MASK)) & _MASK)
    return h


def uniform(seed: int, *keys: torch.Tensor | int) -> torch.Tensor:
    """Float32 uniforms in ``[0, 1)`` with 24 random bits, shaped like the broadcast keys."""
    return (hash_u32(seed, *keys) >> 8).to(torch.float32) * (1.0 / (1 << 24))


def normal(seed: int, *keys: torch.Tensor | int) -> torch.Tensor:
    """Standard normal float32 values (Box-Muller on two independent uniform streams)."""
    u1 = uniform(seed, *keys, 0x51ED)
    u2 = uniform(seed, *keys, 0xA3C5)
    return torch.sqrt(-2.0 * torch.log1p(-u1)) * torch.cos(2 * torch.pi * u2)


def split_seed(seed: int, split: str) -> int:
    """A seed for ``split`` derived from ``seed``: train, val and test never share one."""
    index = {"train": 1, "val": 2, "test": 3}.get(split)
    if index is None:
        index = sum(ord(c) * 31**i for i, c in enumerate(split)) + 7
    return int(hash_u32(seed, index))
