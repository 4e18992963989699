"""Checkpoints: atomic writes, safe (``weights_only=True``) loads, and the trained model they hold."""

import io
import pickle
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from cnnlstm.engine.builder import build_model
from cnnlstm.engine.ema import inference_weights
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
    except (KeyError, RuntimeError, ValueError) as e:
        lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else first_line(e)
        raise CheckpointError(f"checkpoint {path} does not fit this run's {name}: {detail}") from None


def stored_config(ckpt: dict, path: str | Path, *sections: str) -> DictConfig:
    """The run config a checkpoint carries; it must have each of ``sections`` (``model``, ``data``)."""
    cfg = OmegaConf.create(ckpt.get("config") or {})
    if any(section not in cfg for section in sections):
        raise CheckpointError(f"checkpoint {path} carries no config; it was not written by cnnlstm train")
    return cfg


def load_trained_model(path: str | Path, model_args: Mapping | Callable[[DictConfig, dict], Mapping],
                       device: str | torch.device = "cpu", ckpt: dict | None = None) -> tuple[nn.Module, DictConfig]:
    """The one "checkpoint -> config -> model with weights" loader (``eval.py``, ``cnnlstm.stream``,
    ``cnnlstm.restore``): rebuilds the stored model config with ``model_args`` (the arguments the
    data decides; a callable gets the config and the inference weights), loads the inference
    weights (the moving average when there is one), in eval mode on ``device``."""
    ckpt = ckpt if ckpt is not None else load_checkpoint(path, map_location=device)
    cfg = stored_config(ckpt, path, "model")
    weights = inference_weights(ckpt)
    model = build_model(cfg.model, model_args(cfg, weights) if callable(model_args) else model_args)
    load_weights(model, weights, path)
    return model.to(device).eval(), cfg
