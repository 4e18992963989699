"""Hand-written argument checks, left only for the trainer and the speed-ups until they declare
their arguments (:mod:`cnnlstm.arguments`) like the models, data and tasks do; then this goes.

A failing check raises ConfigError whose message starts with the argument's name, so the entry
points can prefix the config group (``trainer.`` + ``max_epochs must be ...``).
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


def one_of(name: str, value, choices: Sequence):
    """Return ``value`` if it is one of ``choices``, or raise listing them."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value
