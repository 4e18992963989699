"""Device selection and mixed precision: the autocast context and the gradient scaler."""

import contextlib

import torch

from cnnlstm.errors import ConfigError

PRECISIONS = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}


def resolve_device(device: str, key: str = "trainer.device") -> torch.device:
    """``auto`` picks CUDA when available; ``cuda`` without a GPU is an error, not a silent CPU run.
    ``key`` names the setting in the error (the trainer's, or a command-line ``device=``)."""
    device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{key}={device} but no CUDA device is available; use auto or cpu")
    try:
        return torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"{key} must be auto, cpu or cuda[:N], got {device!r}") from None


def resolve_precision(precision: str | int, device: torch.device) -> str:
    """``32 | bf16 | 16`` (declared by the trainer) as a string; float16 autocast needs CUDA."""
    if str(precision) == "16" and device.type != "cuda":
        raise ConfigError("trainer.precision=16 (float16 autocast) needs CUDA; use bf16 or 32 on CPU")
    return str(precision)


def autocast(precision: str, device: torch.device, cache: bool = True):
    """The autocast context for ``precision`` (a no-op for 32); CUDA graph capture needs ``cache=False``."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype, cache_enabled=cache)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A gradient scaler, enabled only for float16 (bf16 has float32's range)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "16")


def autocast_each(passes, precision: str, device: torch.device, cache: bool = True):
    """Each of ``passes`` (a generator of forward passes) computed under autocast; the backward
    between them runs outside it."""
    while True:
        with autocast(precision, device, cache=cache):
            out = next(passes, None)
        if out is None:
            return
        yield out
