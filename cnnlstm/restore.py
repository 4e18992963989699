"""Restore your own images with a trained restoration checkpoint.

``python -m cnnlstm.restore ckpt_path=PATH input=<image or folder> output=<dir> [corrupt=false] [device=cpu]
[overwrite=false] [max_pixels=67108864]``

The model is rebuilt from the config stored in the checkpoint (no training data is read). Each
image is converted to the model's channels and resized to its image size, restored with the
inference path (no corruption, no teacher forcing) and written as ``<output>/<name>.png``.
``corrupt=true`` first applies the checkpoint's own corruption (e.g. the lower half black plus
noise), also saved as ``<name>_corrupted.png``, to try the model on clean images.

Nothing is written when an output file would replace an input image or another output of the same
run (``a.png`` and ``a.jpg``); files already in ``output`` are replaced only with ``overwrite=true``.
Each image is written atomically (a temporary file in ``output``, then a rename): a symlink at an
output path is replaced by the image, never written through, so nothing outside ``output`` changes.
An image whose header promises more than ``max_pixels`` is refused before it is decoded.
"""

import io
import os
import sys
from pathlib import Path

import torch

from cnnlstm.arguments import PositiveInt
from cnnlstm.cli_args import Flag, options, run_command
from cnnlstm.data.corruptions import corrupt as apply_corruptions
from cnnlstm.data.images import IMAGE_SUFFIXES, MAX_PIXELS, load_image
from cnnlstm.engine.builder import build, load_trained_model, stored_config
from cnnlstm.engine.checkpoint import load_checkpoint
from cnnlstm.errors import CheckpointError, DataError
from cnnlstm.files import write_atomic

USAGE = ("usage: python -m cnnlstm.restore ckpt_path=PATH input=<image or folder> output=<dir> [corrupt=false] "
         "[device=cpu] [overwrite=false] [max_pixels=67108864]")


def list_images(path: str | Path) -> list[Path]:
    """The image files at ``path`` (a file, or a folder searched recursively), sorted."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"input {path} does not exist")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"input {path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def load_model(ckpt_path: str | Path, device: str = "cpu"):
    """The model of a checkpoint (eval mode) and its data source object (not set up: no data is read)."""
    ckpt = load_checkpoint(ckpt_path, map_location=device)
    data = build(stored_config(ckpt, ckpt_path, "model", "data").data, "data")
    model, _ = load_trained_model(ckpt_path, data.model_args, device, ckpt=ckpt)
    if not hasattr(model, "image_size"):
        raise CheckpointError(f"checkpoint {ckpt_path} is not a restoration model ({type(model).__name__})")
    return model, data


def output_names(files: list[Path], input: str | Path) -> list[str]:
    """The output stem of each input image: its stem, or its path under a folder joined by ``_``."""
    if len(files) == 1 or Path(input).is_file():
        return [f.stem for f in files]
    return ["_".join(f.relative_to(input).with_suffix("").parts) for f in files]


def check_outputs(files: list[Path], names: list[str], out_dir: Path, corrupt: bool, overwrite: bool) -> None:
    """Refuse, before anything is written, a run that would replace an input image, write two
    images to one file, or (without ``overwrite``) replace a file already in ``out_dir``."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"output={out_dir} is a file, not a folder: choose a folder for the restored images")
    inputs = {f.resolve(): f for f in files}
    targets: dict[Path, Path] = {}
    real_dir = out_dir.resolve()
    for f, name in zip(files, names):
        for target in [out_dir / f"{name}.png"] + ([out_dir / f"{name}_corrupted.png"] if corrupt else []):
            key = real_dir / target.name  # where the file lands: a symlink there is replaced, not followed
            if key in inputs:
                raise DataError(f"output={out_dir} would overwrite the input image {inputs[key]}: choose another output folder")
            if key in targets:
                raise DataError(f"inputs {targets[key]} and {f} would both be written to {target}: rename one")
            targets[key] = f
    existing = [t for t in targets if os.path.lexists(t)]  # a dangling symlink is something there too
    if existing and not overwrite:
        raise DataError(f"output={out_dir} already holds {existing[0].name}"
                        f"{f' and {len(existing) - 1} more' if len(existing) > 1 else ''} of this run's files: "
                        "choose another output folder or pass overwrite=true")


@torch.no_grad()
def restore(ckpt_path: str | Path, input: str | Path, output: str | Path, corrupt: bool = False,
            device: str = "cpu", batch_size: int = 64, overwrite: bool = False,
            max_pixels: int = MAX_PIXELS) -> list[Path]:
    """Restore every image under ``input`` into ``output``; returns the written restored files."""
    model, data = load_model(ckpt_path, device)
    files = list_images(input)
    names, out_dir = output_names(files, input), Path(output)
    check_outputs(files, names, out_dir, corrupt, overwrite)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"output={out_dir}: cannot create the folder ({e.strerror or type(e).__name__})") from None
    written = []
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        x = torch.stack([load_image(f, model.in_channels, model.image_size, max_pixels=max_pixels)
                         for f in chunk]).to(device)  # (B, C, H, W)
        if corrupt:
            keys = torch.arange(start, start + len(chunk), device=device)
            x, _ = apply_corruptions(getattr(data, "corruptions", []), x, 0, keys)
        restored = model(x).clamp(0, 1)
        for name, xi, ri in zip(names[start:start + batch_size], x, restored):
            if corrupt:
                save_png(xi.clamp(0, 1), out_dir / f"{name}_corrupted.png")
            save_png(ri, out_dir / f"{name}.png")
            written.append(out_dir / f"{name}.png")
    return written


def save_png(image: torch.Tensor, path: Path) -> None:
    """``image`` ``(C, H, W)`` in [0, 1] as a PNG at ``path``, through the atomic writer: a
    symlink at ``path`` is replaced, never written through (``save_image`` opens the path and
    would follow it), and a failed write leaves the old file whole."""
    from torchvision.utils import save_image

    buffer = io.BytesIO()
    save_image(image, buffer, format="png")
    write_atomic(path, buffer.getvalue())


@options("python -m cnnlstm.restore")
def restore_options(ckpt_path: str, input: str, output: str, corrupt: Flag = False, device: str = "cpu",
                    overwrite: Flag = False, max_pixels: PositiveInt = MAX_PIXELS) -> dict:
    """The command line of ``python -m cnnlstm.restore``."""
    return {"ckpt_path": ckpt_path, "input": input, "output": output, "corrupt": corrupt, "device": device,
            "overwrite": overwrite, "max_pixels": max_pixels}


def main(argv: list[str]) -> int:
    def action(args: dict) -> None:
        print(f"restored {len(restore(**args))} image(s) into {args['output']}")

    return run_command(argv, restore_options, USAGE, action)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
