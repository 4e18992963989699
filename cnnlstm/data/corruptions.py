"""Image corruptions for restoration, applied per batch on the device from a seed.

Each corruption is a small object called as ``corruption(x, mask, seed, keys) -> (x, mask)`` on a
batch ``x: (B, C, H, W)`` in [0, 1] with the boolean ``mask: (B, 1, H, W)`` of pixels blanked so
far; ``keys: (B,)`` identify the samples (their index in the split). Random values come from
:mod:`cnnlstm.data.counter_rng`, so a sample's corruption depends only on ``(seed, key)``: the
same whatever the batch size, order, device or rank. Configs list them under ``data.corruption``
(applied in order, each on its own random stream), e.g. the paper's lower half black plus noise::

    corruption:
      - {_target_: cnnlstm.data.corruptions.BlankHalf, side: lower}
      - {_target_: cnnlstm.data.corruptions.GaussianNoise, sigma: 0.2}

Each corruption declares its arguments as typed dataclass fields (``sigma: NonNegativeFloat``).
They are enforced once, by :func:`check_corruptions` when the data source is built, not in the
constructors: Hydra builds the list entries before the data source, and only the list knows the
real key of a bad value, ``data.corruption[1].sigma``.
"""

from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cache
from typing import Literal

import torch

from cnnlstm.arguments import (
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Probability,
    UnitInterval,
    ValidationError,
    checked,
    first_problem,
)
from cnnlstm.data.counter_rng import hash_u32, normal, uniform
from cnnlstm.errors import ConfigError


class Corruption:
    """Base class of the corruptions: dataclasses whose field types declare what they accept."""

    def validate(self) -> None:
        """Enforce the declared field types on the stored values (ValidationError if one breaks them)."""
        _declared(type(self))(self, **{f.name: getattr(self, f.name) for f in fields(self)})


@cache
def _declared(cls: type) -> object:
    """``cls.__init__`` with its declared argument types enforced (rerunning it stores the values)."""
    return checked(cls.__init__)


def check_corruptions(corruptions: Sequence | None, key: str = "corruption") -> list:
    """Validate every entry of a corruption list once; a bad one raises ConfigError naming its real
    key, ``corruption[1].sigma must be >= 0, got -1``. Returns the list."""
    corruptions = list(corruptions or [])
    for j, corruption in enumerate(corruptions):
        if not callable(corruption):
            raise ConfigError(f"{key}[{j}] must be a corruption object (a config with a _target_), "
                              f"got {corruption!r}")
        try:
            getattr(corruption, "validate", lambda: None)()  # any callable will do; ours declare types
        except ValidationError as e:
            raise ConfigError(f"{key}[{j}].{first_problem(e, type(corruption))}") from None
        except ConfigError as e:  # a rule between two arguments (BlankBoxes' sizes)
            raise ConfigError(f"{key}[{j}].{e}") from None
    return corruptions


def _pixel_keys(x: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Broadcastable (sample, pixel) keys for per-pixel random values of ``x: (B, C, H, W)``."""
    pixels = torch.arange(x[0].numel(), device=x.device).view(1, *x.shape[1:])  # (1, C, H, W)
    return keys.long().view(-1, 1, 1, 1), pixels


@dataclass
class BlankHalf(Corruption):
    """Set one half of the image to ``value`` (the paper: the lower half black).

    Args:
        side: ``lower``, ``upper``, ``left`` or ``right``; an odd size blanks the smaller half.
        value: the fill value in [0, 1] (the images' range).
    """

    side: Literal["lower", "upper", "left", "right"] = "lower"
    value: UnitInterval = 0.0

    def __call__(self, x, mask, seed, keys):
        h, w = x.shape[-2:]
        region = torch.zeros(h, w, dtype=torch.bool, device=x.device)
        if self.side == "lower":
            region[h - h // 2:] = True
        elif self.side == "upper":
            region[:h // 2] = True
        elif self.side == "left":
            region[:, :w // 2] = True
        else:
            region[:, w - w // 2:] = True
        mask = mask | region
        return x.masked_fill(region, self.value), mask


@dataclass
class BlankBoxes(Corruption):
    """Blank ``count`` random axis-aligned boxes per image.

    Args:
        count: boxes per image.
        min_size, max_size: box height and width as fractions of the image's (uniform in between).
        value: the fill value in [0, 1].
    """

    count: PositiveInt = 1
    min_size: PositiveFloat = 0.25
    max_size: PositiveFloat = 0.5
    value: UnitInterval = 0.0

    def validate(self) -> None:
        super().validate()
        if not self.min_size <= self.max_size <= 1:
            raise ConfigError(f"min_size and max_size must satisfy 0 < min_size <= max_size <= 1, "
                              f"got min_size={self.min_size:g}, max_size={self.max_size:g}")

    def __call__(self, x, mask, seed, keys):
        h, w = x.shape[-2:]
        k = keys.long()[:, None]  # (B, 1)
        box = torch.arange(self.count, device=x.device)[None]  # (1, N)
        span = self.max_size - self.min_size
        bh = ((self.min_size + span * uniform(seed, k, box, 0)) * h).round().clamp(1, h)  # (B, N)
        bw = ((self.min_size + span * uniform(seed, k, box, 1)) * w).round().clamp(1, w)
        top = (uniform(seed, k, box, 2) * (h - bh + 1)).floor()
        left = (uniform(seed, k, box, 3) * (w - bw + 1)).floor()
        rows = torch.arange(h, device=x.device).view(1, 1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, 1, w)
        inside = ((rows >= top[..., None, None]) & (rows < (top + bh)[..., None, None])
                  & (cols >= left[..., None, None]) & (cols < (left + bw)[..., None, None]))  # (B, N, H, W)
        region = inside.any(dim=1, keepdim=True)  # (B, 1, H, W)
        return x.masked_fill(region, self.value), mask | region


@dataclass
class BlankRows(Corruption):
    """Blank a random ``fraction`` of the rows of each image (each row independently)."""

    fraction: Probability = 0.25
    value: UnitInterval = 0.0

    def __call__(self, x, mask, seed, keys):
        h = x.shape[-2]
        rows = torch.arange(h, device=x.device)[None]  # (1, H)
        region = (uniform(seed, keys.long()[:, None], rows) < self.fraction).view(-1, 1, h, 1)  # (B, 1, H, 1)
        region = region.expand(-1, 1, h, x.shape[-1])
        return x.masked_fill(region, self.value), mask | region


@dataclass
class GaussianNoise(Corruption):
    """Add Gaussian noise of standard deviation ``sigma`` to every pixel, then clip to [0, 1]."""

    sigma: NonNegativeFloat = 0.2
    clip: bool = True

    def __call__(self, x, mask, seed, keys):
        x = x + self.sigma * normal(seed, *_pixel_keys(x, keys))
        return (x.clamp(0, 1) if self.clip else x), mask


@dataclass
class SaltAndPepper(Corruption):
    """Set a fraction ``amount`` of pixels to 1 (salt) or 0 (pepper), salt with probability ``salt``."""

    amount: Probability = 0.1
    salt: UnitInterval = 0.5

    def __call__(self, x, mask, seed, keys):
        k, p = _pixel_keys(x, keys)
        hit = uniform(seed, k, p, 0) < self.amount
        value = (uniform(seed, k, p, 1) < self.salt).to(x.dtype)
        return torch.where(hit, value, x), mask


def corrupt(corruptions: Sequence, x: torch.Tensor, seed: int,
            keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``corruptions`` in order to clean ``x: (B, C, H, W)``; sample ``i`` keyed by ``keys[i]``.

    Returns the corrupted images ``(B, C, H, W)`` and the blanked-region mask ``(B, 1, H, W)``
    (bool; all False when nothing is blanked). Corruption ``j`` draws from the stream
    ``hash(seed, j)``, so adding one does not change the others' values. The list is the one
    :func:`check_corruptions` validated when the data source was built.
    """
    mask = torch.zeros(x.shape[0], 1, *x.shape[-2:], dtype=torch.bool, device=x.device)
    for j, corruption in enumerate(corruptions):
        x, mask = corruption(x, mask, int(hash_u32(seed, j)), keys)
    return x, mask
