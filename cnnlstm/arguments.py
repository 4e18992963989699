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

import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Literal

from annotated_types import Ge, Gt, Le, Lt
from pydantic import ConfigDict, Field, ValidationError, validate_call

__all__ = ["Literal", "ValidationError", "checked", "first_problem", "PositiveInt", "NonNegativeInt",
           "PositiveFloat", "NonNegativeFloat", "Probability", "UnitInterval", "OpenUnitInterval"]

PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Probability = Annotated[float, Field(ge=0, lt=1)]  # a dropout rate: [0, 1)
UnitInterval = Annotated[float, Field(ge=0, le=1)]  # a fraction or ratio: [0, 1]
OpenUnitInterval = Annotated[float, Field(gt=0, lt=1)]  # a decay: (0, 1)

# strict: no silent coercion ("5" -> 5, True -> 1, 2.5 -> 2); arbitrary types: tensors, modules
_CONFIG = ConfigDict(strict=True, arbitrary_types_allowed=True)


def checked(fn: Callable) -> Callable:
    """Enforce ``fn``'s annotated argument constraints on every call (decorate ``__init__``)."""
    return validate_call(config=_CONFIG)(fn)


def first_problem(error: ValidationError, fn: Callable | None = None) -> str:
    """One line for the first failing argument: ``name[i] must be ..., got value``.

    ``fn`` (the checked callable, or a class whose ``__init__`` is checked) lets the line state
    the whole declared range (``in [0, 1)``) rather than the one bound pydantic reports.
    """
    params = _parameters(fn)
    by_arg: dict[str, list[dict]] = {}
    for err in error.errors(include_url=False):
        loc = err["loc"]
        if loc and isinstance(loc[0], int) and loc[0] < len(params):  # a positional argument
            loc = (list(params)[loc[0]], *loc[1:])
        by_arg.setdefault(str(loc[0]) if loc else "", []).append(err | {"loc": loc})
    arg, errs = next(iter(by_arg.items()))
    err = _most_telling(errs)
    name = _location(err["loc"])
    if err["type"] == "unexpected_keyword_argument":
        takes = ", ".join(p for p in params if p != "self")
        return f"{name} is not an argument of {_title(fn, error)} (it takes: {takes})"
    if err["type"] in ("missing_argument", "missing_keyword_only_argument"):
        return f"{name} must be set"
    annotation = params.get(arg)
    return f"{name} must be {_requirement(err, annotation)}, got {_shown(err.get('input'))}"


def _most_telling(errs: list[dict]) -> dict:
    """Among one argument's errors (a union reports one per member), the one about its value."""
    bounds = [e for e in errs if e["type"] in _BOUND_TYPES]
    others = [e for e in errs if e["type"] not in ("none_required", "is_instance_of")]
    return (bounds or others or errs)[0]


def _location(loc: tuple) -> str:
    """``("freq_kernels", "list[int]", 1) -> "freq_kernels[1]"``: indices kept, union tags dropped."""
    name = str(loc[0]) if loc else "argument"
    for part in loc[1:]:
        if isinstance(part, int):
            name += f"[{part}]"
        elif part.isidentifier() and part not in _TYPE_TAGS:
            name += f".{part}"
    return name


_TYPE_TAGS = {"int", "float", "str", "bool", "none", "list", "tuple", "dict", "sequence", "literal"}
_BOUND_TYPES = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _requirement(err: dict, annotation) -> str:
    kind = err["type"]
    if kind in _BOUND_TYPES:
        return _range(annotation, err)
    if kind == "literal_error":
        return f"one of {_choices(annotation) or err['ctx']['expected']}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "an integer"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return "a number"
    if kind in ("bool_type", "bool_parsing"):
        return "true or false"
    if kind in ("string_type",):
        return "a string"
    if kind in ("list_type", "tuple_type", "sequence_type", "iterable_type"):
        return "a list"
    if kind in ("too_short", "too_long"):
        return err["msg"].removeprefix("List ").removeprefix("Value ").replace("should have", "of")
    return err["msg"][0].lower() + err["msg"][1:]


def _range(annotation, err: dict) -> str:
    """``>= 1``, ``> 0`` or ``in [0, 1)`` from the declared bounds (else from the error)."""
    bounds = _bounds(annotation) or {k: v for k, v in err.get("ctx", {}).items() if k in ("ge", "gt", "le", "lt")}
    low = ("[", bounds["ge"]) if "ge" in bounds else ("(", bounds["gt"]) if "gt" in bounds else None
    high = ("]", bounds["le"]) if "le" in bounds else (")", bounds["lt"]) if "lt" in bounds else None
    if low and high:
        return f"in {low[0]}{low[1]}, {high[1]}{high[0]}"
    if low:
        return f"{'>=' if low[0] == '[' else '>'} {low[1]}"
    return f"{'<=' if high[0] == ']' else '<'} {high[1]}"


def _bounds(annotation) -> dict:
    """The ge/gt/le/lt of an ``Annotated`` type, found through unions and list items."""
    found: dict = {}
    for meta in _metadata(annotation):
        for kind, attr in ((Ge, "ge"), (Gt, "gt"), (Le, "le"), (Lt, "lt")):
            if isinstance(meta, kind):
                found[attr] = getattr(meta, attr)
    return found


def _metadata(annotation) -> list:
    if annotation is None:
        return []
    if typing.get_origin(annotation) is Annotated:
        base, *meta = typing.get_args(annotation)
        flat = []
        for m in meta:
            flat += list(getattr(m, "metadata", [m]))
        return flat + _metadata(base)
    return [m for arg in typing.get_args(annotation) for m in _metadata(arg)]


def _choices(annotation) -> list | None:
    if annotation is None:
        return None
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    for arg in typing.get_args(annotation):
        choices = _choices(arg)
        if choices:
            return choices
    return None


def _parameters(fn: Callable | None) -> dict:
    if fn is None:
        return {}
    target = fn.__init__ if inspect.isclass(fn) else fn
    try:
        hints = typing.get_type_hints(inspect.unwrap(target), include_extras=True)
        names = inspect.signature(target).parameters
    except (TypeError, ValueError, NameError):
        return {}
    return {name: hints.get(name) for name in names}


def _title(fn: Callable | None, error: ValidationError) -> str:
    if fn is None:
        return error.title
    return fn.__name__ if inspect.isclass(fn) else fn.__qualname__.removesuffix(".__init__")


def _shown(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return repr(value)
    return str(value)
