"""``key=value`` arguments of the small entry points that take Hydra-style arguments without
Hydra (``python -m cnnlstm.restore``, ``python -m cnnlstm.stream``): each problem is one
ConfigError line naming the key."""

import math

import torch

from cnnlstm.errors import ConfigError


def parse_key_values(argv: list[str], required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, str]:
    """``key=value`` arguments as a dict; ConfigError naming a bare word, an unknown or missing key."""
    args: dict[str, str] = {}
    for arg in argv:
        key, eq, value = arg.partition("=")
        if not eq:
            raise ConfigError(f"{arg!r} is not key=value")
        if key not in required + optional:
            raise ConfigError(f"unknown key {key!r} (known: {', '.join(required + optional)})")
        args[key] = value
    missing = [k for k in required if k not in args]
    if missing:
        raise ConfigError(f"{', '.join(missing)} must be given")
    return args


def parse_bool(key: str, value: str) -> bool:
    """``true``/``false`` (any case) as a bool; anything else is an error naming ``key``."""
    if value.lower() not in ("true", "false"):
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    return value.lower() == "true"


def parse_device(key: str, value: str) -> str:
    """A torch device string that exists on this machine (``cpu``, ``cuda``, ``cuda:1`` ...)."""
    try:
        device = torch.device(value)
    except (RuntimeError, ValueError):
        raise ConfigError(f"{key} must be a torch device such as cpu or cuda, got {value!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{key}={value}: no CUDA device is available here (use {key}=cpu)")
    return value


def parse_number(key: str, value: str, cast=float):
    """``value`` as a number > 0 (``cast`` int or float); ConfigError naming ``key`` otherwise."""
    try:
        number = cast(value)
    except ValueError:
        number = None
    if number is None or not 0 < number < math.inf:  # also refuses nan
        kind = "an integer" if cast is int else "a number"
        raise ConfigError(f"{key} must be {kind} > 0, got {value!r}")
    return number
