"""Argument checks for constructors: a failing check raises ConfigError naming the argument.

Messages start with the argument's name, so the entry points can prefix the config group
(``data.`` + ``batch_size must be ...``) and the user sees the full key.
"""

from collections.abc import Sequence
from numbers import Real

from cnnlstm.errors import ConfigError


def positive_int(name: str, value, *, allow_zero: bool = False) -> int:
    """Return ``value`` as int, or raise if it is not a (non-negative / positive) integer."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else ">= 1"
        raise ConfigError(f"{name} must be {bound}, got {value}")
    return value


def positive_float(name: str, value, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float, or raise if it is not a positive (or non-negative) number."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be {bound}, got {value}")
    return float(value)


def probability(name: str, value) -> float:
    """Return ``value`` as a float in [0, 1), or raise."""
    value = positive_float(name, value, allow_zero=True)
    if value >= 1:
        raise ConfigError(f"{name} must be in [0, 1), got {value}")
    return value


def unit_interval(name: str, value, *, allow_zero: bool = True) -> float:
    """Return ``value`` as a float in [0, 1] (or (0, 1] without ``allow_zero``), or raise."""
    value = positive_float(name, value, allow_zero=allow_zero)
    if value > 1:
        raise ConfigError(f"{name} must be in {'[0' if allow_zero else '(0'}, 1], got {value:g}")
    return value


def one_of(name: str, value, choices: Sequence):
    """Return ``value`` if it is one of ``choices``, or raise listing them."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def int_list(name: str, value, length: int | None = None) -> list[int]:
    """Return ``value`` (an int or a sequence of ints) as a list of positive ints."""
    if value is None:
        raise ConfigError(f"{name} is null: set it, or use data that provides it")
    items = [value] if isinstance(value, int) else list(value)
    if length is not None and len(items) == 1:
        items = items * length
    if length is not None and len(items) != length:
        raise ConfigError(f"{name} must have {length} entries, got {len(items)}: {items}")
    return [positive_int(f"{name}[{i}]", v) for i, v in enumerate(items)]
