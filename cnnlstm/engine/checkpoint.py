"""Checkpoints: atomic writes and safe loads (``weights_only=True``, only our classes named).

Plain torch: the trainer saves through it with no config system imported; rebuilding a model
from the config a checkpoint carries is the run layer's (:mod:`cnnlstm.engine.builder`)."""

import io
import pickle
import re
import zipfile
from pathlib import Path

import torch

from cnnlstm.engine.trusted import check_trusted
from cnnlstm.errors import CheckpointError, first_line
from cnnlstm.files import write_atomic


def save_atomic(obj: dict, path: str | Path) -> None:
    """Write ``obj`` with ``torch.save`` so that ``path`` is either the old file or the new one:
    a crash mid-save leaves the previous checkpoint intact."""
    buffer = io.BytesIO()  # serialised first: a full disk is then an OSError, not torch's zip-writer error
    torch.save(obj, buffer)
    write_atomic(path, buffer.getbuffer())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; any problem is one CheckpointError line.

    A file that carries pickled objects (which could run code on load) is refused, and its code
    never runs; so is one whose stored config or overrides name a ``_target_`` that is not one
    of ours (:mod:`cnnlstm.engine.trusted`): every later use rebuilds parts from that config.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):  # torch.save has written zip archives since torch 1.6
        raise CheckpointError(f"checkpoint {path} is corrupt or not a checkpoint (not a torch.save archive)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+)", str(e))
        what = f"the object {found.group(1)}" if found else "objects other than tensors and plain values"
        raise CheckpointError(f"refusing to load {path}: it holds {what}, which could run code when loaded; "
                              "only checkpoints written by cnnlstm (tensors and plain values) are loaded") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable: {first_line(e)}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError(f"checkpoint {path} is not a cnnlstm checkpoint (no 'model' entry)")
    overrides = ckpt.get("overrides") or []
    check_trusted(ckpt.get("config") or {}, path, overrides if isinstance(overrides, list) else [])
    return ckpt


def load_weights(part, state: dict, path: str | Path, name: str = "model") -> None:
    """``part.load_state_dict(state)``; a mismatch is one line naming the first bad key and shapes."""
    try:
        part.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as e:
        lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else first_line(e)
        raise CheckpointError(f"checkpoint {path} does not fit this run's {name}: {detail}") from None


class Checkpoints:
    """Where a fit writes its checkpoints (``<run_dir>/checkpoints/{last,best}.pt``), and what each
    records beside the trained parts: the run's config and command-line overrides, so that a
    checkpoint says how it was made and how to resume it. The trainer saves through it and knows
    no more of the run directory; ``enabled=False`` (other ranks) writes nothing."""

    def __init__(self, run_dir: str | Path, config: dict | None = None, overrides: list[str] | None = None,
                 enabled: bool = True) -> None:
        self.run_dir, self.folder = Path(run_dir), Path(run_dir) / "checkpoints"
        self.config, self.overrides, self.enabled = config or {}, overrides, enabled

    def path(self, name: str) -> Path:
        return self.folder / name

    def save(self, parts, state, *names: str | None) -> None:
        """Write the checkpoint of ``parts`` at loop ``state`` as each of ``names`` (None: skipped)."""
        if not self.enabled:
            return
        ckpt = parts.checkpoint(state, self.config, self.overrides)
        for name in filter(None, names):
            save_atomic(ckpt, self.path(name))

    def written(self) -> list[str]:
        """The checkpoints on disk now (``best.pt``, ``last.pt``)."""
        return sorted(p.name for p in self.folder.glob("*.pt"))
