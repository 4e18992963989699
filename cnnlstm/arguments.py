"""Declared argument constraints: constructors say what they accept, pydantic enforces it.

A constructor declares its arguments with the types below (``hidden_size: PositiveInt``,
``dropout: Probability``, ``attention: Literal["direct", "none"]``) and is wrapped by
:func:`checked`. A bad value raises pydantic's ``ValidationError``; :func:`first_problem` turns
its first error into the one line the entry points print (``hidden_size must be >= 1, got 0``),
and the builder prefixes the config group (``model.``). Models stay plain ``nn.Module``s: used
without any config, the same constraints hold.

Example:
    >>> @checked
    ... def make(width: PositiveInt, mode: Literal["a", "b"] = "a") -> int:
    ...     return width
    >>> try:
    ...     make(0)
    ... except ValidationError as e:
    ...     print(first_problem(e, make))
    width must be >= 1, got 0
"""

import argparse
import inspect
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, TypeAdapter, ValidationError, validate_call
from pydantic_core import PydanticCustomError

__all__ = ["Literal", "ValidationError", "checked", "cli_type", "first_problem", "within", "PositiveInt", "NonNegativeInt",
           "PositiveFloat", "NonNegativeFloat", "Probability", "UnitInterval", "OpenUnitInterval"]


def within(low: float, high: float | None = None, *, low_open: bool = False, high_open: bool = True):
    """A range check whose error states the whole range: ``>= 1``, ``> 0``, ``in [0, 1)``."""
    if high is None:
        text = f"{'>' if low_open else '>='} {low}"
    else:
        text = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"

    def check(value):
        above = value > low if low_open else value >= low
        below = high is None or (value < high if high_open else value <= high)
        if above and below:
            return value
        raise PydanticCustomError("out_of_range", "must be {range}", {"range": text})

    return AfterValidator(check)


PositiveInt = Annotated[int, within(1)]
NonNegativeInt = Annotated[int, within(0)]
PositiveFloat = Annotated[float, within(0, low_open=True)]
NonNegativeFloat = Annotated[float, within(0)]
Probability = Annotated[float, within(0, 1)]  # a dropout rate: [0, 1)
UnitInterval = Annotated[float, within(0, 1, high_open=False)]  # a fraction or ratio: [0, 1]
OpenUnitInterval = Annotated[float, within(0, 1, low_open=True)]  # a decay: (0, 1)

# strict: no silent coercion ("5" -> 5, True -> 1, 2.5 -> 2); arbitrary types: tensors, modules
_CONFIG = ConfigDict(strict=True, arbitrary_types_allowed=True)


def checked(fn: Callable) -> Callable:
    """Enforce ``fn``'s annotated argument constraints on every call (decorate ``__init__``)."""
    return validate_call(config=_CONFIG)(fn)


def cli_type(annotation) -> Callable[[str], object]:
    """An argparse ``type=`` for a declared type: ``type=cli_type(PositiveInt)`` parses the text
    and checks it as a constructor would, with the same words (``must be >= 1, got 0``)."""
    adapter = TypeAdapter(annotation)

    def parse(text: str):
        try:
            return adapter.validate_strings(text)
        except ValidationError as e:  # "argument must be ...": argparse names the option itself
            problem = first_problem(e).split(" ", 1)[1]
            if e.errors()[0]["type"] == "out_of_range":  # a number, shown as one: "got 0", not "got '0'"
                problem = problem.replace(repr(text), text)
            raise argparse.ArgumentTypeError(problem) from None

    return parse


# what a value must be, by pydantic error type
_KINDS = {"int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
          "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
          "string_type": "a string", "list_type": "a list", "tuple_type": "a list", "sequence_type": "a list"}
# union members that are not the argument's own type (``int | None`` reports both)
_NOISE = ("none_required", "is_instance_of")
_TAGS = {"int", "float", "str", "bool", "none", "list", "tuple", "dict"}


def first_problem(error: ValidationError, fn: Callable | None = None) -> str:
    """One line for the first failing argument: ``name[i] must be ..., got value``.

    ``fn`` (the checked callable, or a class whose ``__init__`` is checked) maps positional
    arguments to their names and lists the accepted ones for an unknown keyword.
    """
    target = getattr(fn, "__init__", fn) if inspect.isclass(fn) else fn
    params = list(inspect.signature(target).parameters) if target is not None else []
    errors = error.errors(include_url=False)
    mine = [e for e in errors if e["loc"][:1] == errors[0]["loc"][:1]]  # the first argument's errors
    err = min(mine, key=lambda e: (e["type"] != "out_of_range", e["type"] in _NOISE, e["type"] == "literal_error"))
    name = _location(err["loc"], params)
    if err["type"] == "unexpected_keyword_argument":
        kind = fn.__name__ if inspect.isclass(fn) else getattr(fn, "__qualname__", error.title)
        return f"{name} is not an argument of {kind} (it takes: {', '.join(p for p in params if p != 'self')})"
    if err["type"].startswith("missing") or err.get("input", ...) is None:  # absent, or null in a config
        return f"{name} must be set"
    if err["type"] == "literal_error":
        must = f"must be one of [{err['ctx']['expected'].replace(' or ', ', ')}]"
    elif err["type"] in _KINDS:
        must = f"must be {_KINDS[err['type']]}"
    else:
        must = err["msg"] if err["type"] == "out_of_range" else f"must be valid ({err['msg']})"
    value = err.get("input")
    return f"{name} {must}, got {f'{value:g}' if isinstance(value, float) else repr(value) if isinstance(value, str) else value}"


def _location(loc: tuple, params: list[str]) -> str:
    """``(3, "list[int]", 1) -> "freq_kernels[1]"``: positions named, indices kept, union tags dropped."""
    head = loc[0] if loc else "argument"
    name = params[head] if isinstance(head, int) and head < len(params) else str(head)
    for part in loc[1:]:
        if isinstance(part, int):
            name += f"[{part}]"
        elif part.isidentifier() and part not in _TAGS:
            name += f".{part}"
    return name
