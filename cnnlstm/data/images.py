"""Reading image files as tensors: one reader for the image folder data and ``cnnlstm.restore``."""

from pathlib import Path

import torch

from cnnlstm.errors import DataError, first_line

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_PIXELS = 8192 * 8192  # above this an image is refused before it is decoded (a decompression bomb)


def image_files(folder: Path) -> list[Path]:
    """The image files under ``folder`` (recursively, by suffix), sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def centre_square(width: int, height: int) -> tuple[int, int, int, int]:
    """The box ``(left, top, right, bottom)`` of the largest centred square of an image."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def load_image(path: Path, channels: int, size: tuple[int, int] | None = None, *,
               square: int | None = None, max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """Read ``path`` as ``(channels, H, W)`` float32 in [0, 1] (1: grayscale, 3: RGB).

    With ``size = (H, W)`` the image is resized to it; with ``square = L`` its centre square is
    resized to ``L x L`` (for random crops later). A file that is not a readable image, or whose
    header promises more than ``max_pixels`` (checked before decoding: a small file can decode to
    gigabytes), is a DataError naming it. Nothing larger than the decoded image or the output is
    allocated, whatever the aspect ratio: the square is cut before resizing (resizing the shorter
    side of a 1 x 2,000,000 image to L first would make an L x 2,000,000 L canvas), and
    ``reducing_gap`` shrinks by whole factors first, which bounds the resampling filter's tables.
    """
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.functional import pil_to_tensor

    Image.MAX_IMAGE_PIXELS = None  # PIL's process-wide limit is replaced by max_pixels, checked below
    try:
        with Image.open(path) as image:  # reads the header only
            if image.width * image.height > max_pixels:
                raise DataError(f"image {path} is {image.width}x{image.height} pixels, more than data.max_pixels="
                                f"{max_pixels} (raise it for really large images)")
            image = image.convert("L" if channels == 1 else "RGB")
            if size is not None:
                image = image.resize((size[1], size[0]), Image.BILINEAR, reducing_gap=3.0)
            elif square is not None:
                box = centre_square(image.width, image.height)
                image = image.resize((square, square), Image.BILINEAR, box=box, reducing_gap=3.0)
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"cannot read image {path}: {first_line(e)}") from None
    return pil_to_tensor(image).float().div_(255)
