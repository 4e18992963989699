"""Atomic checkpoint writes and safe (``weights_only=True``) loads."""

import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import torch

from cnnlstm.errors import CheckpointError


def save_atomic(obj: dict, path: str | Path) -> None:
    """Write ``obj`` with ``torch.save`` so that ``path`` is either the old file or the new one.

    The data goes to a temporary file in the same directory, is flushed and fsynced, then renamed
    over ``path``: a crash mid-save leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; any problem is one CheckpointError line.

    A file that carries pickled objects (which could run code on load) is refused, and its code
    never runs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"refusing to load {path}: it is not a plain weights file ({first}); "
            "only checkpoints written by cnnlstm (tensors and plain values) are loaded"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable: {first}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError(f"checkpoint {path} is not a cnnlstm checkpoint (no 'model' entry)")
    return ckpt
