"""A folder of the user's own images for restoration: ``data=image_folder data.root=PATH``."""

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch

from cnnlstm.arguments import PositiveInt, Probability, checked
from cnnlstm.data.counter_rng import uniform
from cnnlstm.data.images import MAX_PIXELS, image_files, load_image
from cnnlstm.data.restoration_base import RestorationData
from cnnlstm.errors import ConfigError, DataError
from cnnlstm.nn.conv_stack import per_layer


def unique_files(files: list[Path]) -> list[Path]:
    """``files``; DataError naming two that are one file (a symlink or a hard link), which the
    random split could put in two splits."""
    seen: dict[tuple[int, int], Path] = {}
    for path in files:
        stat = path.stat()
        first = seen.setdefault((stat.st_dev, stat.st_ino), path)
        if first != path:
            raise DataError(f"{path} is the same file as {first} (a link): it could land in two "
                            "splits; remove one of them")
    return files


class ImageFolder(RestorationData):
    """Every image under ``root`` (recursively), grayscale or RGB, as clean images of one size.

    Images are read once in :meth:`setup` and held as one tensor on the device; the split into
    train/val/test is a permutation from ``seed``. ``mode=resize`` resizes each image to ``size``;
    ``mode=crop`` resizes its shorter side to ``load_size`` (default ``size``), center-crops a
    square, and takes a random ``size`` crop per training sample and epoch (keyed like the
    corruptions, so it is reproducible) and the center crop for val/test.

    Args:
        root: folder of images (png, jpg, bmp, gif, tif, webp).
        size: ``H`` (square) or ``(H, W)`` of the images the model sees.
        channels: 1 (grayscale) or 3 (RGB).
        mode: ``resize`` or ``crop``.
        max_pixels: the most pixels an image may decode to (from its header, before decoding) and
            the most each image may have as held (``size``, or ``load_size`` squared for ``crop``).
        load_size: shorter side before cropping (``mode=crop`` only; ``null``: ``max(size)``).
        val_fraction, test_fraction: shares of the images held out.
        corruption, seed, batch_size, shuffle_seed, drop_last, eval_batch_size: see
            :class:`cnnlstm.data.restoration_base.RestorationData`.
    """

    @checked
    def __init__(self, root: str | Path = "images", size: PositiveInt | Sequence[PositiveInt] = 64, channels: Literal[1, 3] = 1,
                 mode: Literal["resize", "crop"] = "resize", load_size: PositiveInt | None = None,
                 val_fraction: Probability = 0.1, test_fraction: Probability = 0.1, corruption: Sequence | None = None,
                 seed: int = 0, batch_size: PositiveInt = 32, shuffle_seed: int = 0,
                 drop_last: bool = False, eval_batch_size: PositiveInt | None = None,
                 max_pixels: PositiveInt = MAX_PIXELS) -> None:
        super().__init__(corruption, seed, batch_size, shuffle_seed, drop_last, eval_batch_size)
        self.max_pixels = max_pixels
        self.root = Path(root)
        self.size = tuple(per_layer("size", size, 2))
        self.channels, self.mode = channels, mode
        self.load_size = load_size if load_size is not None else max(self.size)
        if self.mode == "crop" and self.load_size < max(self.size):
            raise DataError(f"load_size={self.load_size} must be >= size {self.size} to crop from")
        self._check_output_pixels()
        self.fractions = (val_fraction, test_fraction)
        if sum(self.fractions) >= 1:
            raise DataError(f"data.val_fraction={val_fraction} + data.test_fraction={test_fraction} must be < 1: "
                            "they leave no training images")
        self.seed = seed
        self.model_args = {"image_size": list(self.size), "in_channels": self.channels}

    def _check_output_pixels(self) -> None:
        """ConfigError when each image as held (``size`` resized, or the ``load_size`` square that
        crops are cut from) would exceed ``max_pixels``: the limit is on what is produced, not only
        on what a file decodes to."""
        if self.mode == "resize":
            (h, w), key, value = self.size, "size", list(self.size)
        else:
            (h, w), key, value = (self.load_size, self.load_size), "load_size", self.load_size
        if h * w > self.max_pixels:
            raise ConfigError(f"{key}={value} makes {h}x{w} = {h * w} pixels per image (data.mode="
                              f"{self.mode}), more than data.max_pixels={self.max_pixels}")

    def split_sizes(self, n: int) -> list[int]:
        """``[val, test, train]`` sizes of ``n`` images (a non-zero fraction holds out at least one);
        DataError naming the fractions when no training image would be left."""
        held = [max(1, round(n * f)) if f else 0 for f in self.fractions]
        if n - sum(held) < 1:
            raise DataError(f"data.val_fraction={self.fractions[0]} and data.test_fraction={self.fractions[1]} "
                            f"leave no training images: {n} images would split into val {held[0]}, "
                            f"test {held[1]}, train {n - sum(held)}")
        return held + [n - sum(held)]

    def setup(self, device="cpu", rank: int = 0, world_size: int = 1) -> None:
        super().setup(device, rank, world_size)
        if not self.root.is_dir():
            raise DataError(f"data.root={self.root} is not a folder of images")
        files = unique_files(image_files(self.root))
        if len(files) < 3:
            raise DataError(f"data.root={self.root} holds {len(files)} images; at least 3 are needed (train/val/test)")
        sizes = self.split_sizes(len(files))  # before reading: a bad split fails fast
        if self.mode == "resize":
            images = torch.stack([load_image(f, self.channels, self.size, max_pixels=self.max_pixels)
                                  for f in files])  # (N, C, H, W)
        else:
            images = torch.stack([load_image(f, self.channels, square=self.load_size, max_pixels=self.max_pixels)
                                  for f in files])  # (N, C, L, L)
        order = torch.randperm(len(files), generator=torch.Generator().manual_seed(self.seed))
        split_indices = order.split(sizes)
        self.images = {split: images[idx].to(self.device) for split, idx in zip(("val", "test", "train"), split_indices)}

    def clean_images(self, split: str, indices: torch.Tensor) -> torch.Tensor:
        images = self.images[split][indices]  # (B, C, L, L) when cropping
        if self.mode == "resize":
            return images
        (h, w), full = self.size, images.shape[-1]
        if split == "train":
            seed = self.corruption_seed(split, self._epoch) ^ 0x5A5A
            top = (uniform(seed, indices.long(), 0) * (full - h + 1)).long()  # (B,)
            left = (uniform(seed, indices.long(), 1) * (full - w + 1)).long()
        else:
            top = torch.full_like(indices, (full - h) // 2).long()
            left = torch.full_like(indices, (full - w) // 2).long()
        rows = (top[:, None] + torch.arange(h, device=images.device))[:, None, :, None]  # (B, 1, h, 1)
        cols = (left[:, None] + torch.arange(w, device=images.device))[:, None, None, :]  # (B, 1, 1, w)
        batch = torch.arange(images.shape[0], device=images.device)[:, None, None, None]
        channel = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
        return images[batch, channel, rows, cols]  # (B, C, h, w)
