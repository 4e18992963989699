"""``key=value`` arguments of the small entry points that take Hydra-style arguments without
Hydra (``python -m cnnlstm.restore``, ``python -m cnnlstm.stream``).

Each entry point declares its options as the signature of a function wrapped by :func:`options`
(pydantic, lax: the strings of a command line become the declared numbers and booleans); each
problem is one ConfigError line naming the key.
"""

import sys
from collections.abc import Callable
from typing import Annotated

from pydantic import ConfigDict, PlainValidator, validate_call
from pydantic_core import PydanticCustomError

from cnnlstm.arguments import ValidationError, first_problem
from cnnlstm.engine.precision import resolve_device
from cnnlstm.errors import ConfigError, UserError

# lax: "100" -> 100.0 and "true" -> True, as a command line spells them; nan and inf refused
_CLI = ConfigDict(strict=False, allow_inf_nan=False)


def _flag(value) -> bool:
    if isinstance(value, bool) or str(value).lower() in ("true", "false"):
        return value if isinstance(value, bool) else str(value).lower() == "true"
    raise PydanticCustomError("bool_type", "must be true or false")


Flag = Annotated[bool, PlainValidator(_flag)]  # exactly true or false (any case), not 1/yes/on


def options(command: str) -> Callable[[Callable], Callable]:
    """Declare the options of ``command``: the function's signature (names, types, defaults) is
    its command line, and errors name the command."""
    def declare(fn: Callable) -> Callable:
        fn.__qualname__ = command
        return validate_call(config=_CLI)(fn)
    return declare


def parse_key_values(argv: list[str], declared: Callable) -> dict:
    """``key=value`` words, validated by ``declared`` (an :func:`options` function returning its arguments)."""
    kwargs = {}
    for arg in argv:
        key, eq, value = arg.partition("=")
        if not eq:
            raise ConfigError(f"{arg!r} is not key=value")
        kwargs[key] = value
    try:
        return declared(**kwargs)
    except ValidationError as e:
        raise ConfigError(first_problem(e, declared)) from None


def help_text(declared: Callable, usage: str) -> str:
    """``--help``: the usage line and each option with its type and default, from the signature."""
    import inspect
    import typing

    lines = [usage, "", "options (key=value):"]
    for name, param in inspect.signature(declared).parameters.items():
        kind = param.annotation
        if typing.get_origin(kind) is Annotated:  # PositiveFloat -> float
            kind = typing.get_args(kind)[0]
        kind = getattr(kind, "__name__", str(kind).replace("typing.", ""))
        default = "required" if param.default is inspect.Parameter.empty else f"default {param.default}"
        lines.append(f"  {name:<12} {kind}, {default}")
    return "\n".join(lines)


def run_command(argv: list[str], declared: Callable, usage: str, action: Callable[[dict], None]) -> int:
    """Parse ``argv`` with ``declared``, resolve its ``device`` (as the trainer does), call ``action(args)``; a bad argument
    is one line with the usage, a user error one line; returns the exit code (0 or 2)."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(help_text(declared, usage))
        return 0
    try:
        args = parse_key_values(argv, declared)
        args["device"] = str(resolve_device(args["device"], key="device"))
    except ConfigError as e:
        print(f"error: {e}; {usage}", file=sys.stderr)
        return 2
    try:
        action(args)
    except (UserError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
