"""Which ``_target_``s a config read back from disk may name: ours, never the file's choice.

``hydra.utils.instantiate`` calls whatever a ``_target_`` names, at any depth, with any
arguments (``{_target_: numpy.load, allow_pickle: true, ...}`` runs a pickle). A config typed on
the command line is the user's own code, but one read back from a file — a checkpoint someone
shared, a study YAML, a ``local/`` override — is data. Before such a config is built, every
``_target_`` in it (and every ``..._target_=X`` override it carries) must be one of the classes
and builders this package's own ``conf/`` names; anything else is refused in one line that names
the key and the target, and nothing of it is imported or called.

Names are compared as strings against the known objects' spellings (``cnnlstm.models.CLDNN`` and
``cnnlstm.models.cldnn.CLDNN``): nothing is imported to decide, since importing a module can
itself run code. A user who trains a model of their own package (``model._target_=mypkg.Net``)
trusts it for reading back with ``CNNLSTM_TRUSTED_TARGETS=mypkg.Net`` (comma-separated exact
names), or :func:`trust` from Python: a choice made by the user, never by the file.
"""

import inspect
import os
import sys
from collections.abc import Collection, Iterator, Mapping, Sequence
from functools import cache

import torch

from cnnlstm.errors import UserError

ENV_VAR = "CNNLSTM_TRUSTED_TARGETS"


class UntrustedTarget(UserError):
    """A config read back from a file names code that is not this package's."""


def _exported(module) -> list[object]:
    return [getattr(module, name) for name in getattr(module, "__all__", [])]


def _ours() -> list[object]:
    """Every class or builder a config of ours names (``tests`` check ``conf/`` against it)."""
    from cnnlstm import data, models, tasks
    from cnnlstm.data import corruptions
    from cnnlstm.data.make_tones import tone_folder_data
    from cnnlstm.engine import loggers, schedules
    from cnnlstm.engine.trainer import Trainer  # imported here: the trainer's modules import this one

    corruption_classes = [c for c in vars(corruptions).values()
                          if inspect.isclass(c) and issubclass(c, corruptions.Corruption)]
    optimizers = [c for c in vars(torch.optim).values()
                  if inspect.isclass(c) and issubclass(c, torch.optim.Optimizer)]
    found = [*_exported(models), *_exported(data), *_exported(tasks), *corruption_classes, *optimizers,
             tone_folder_data, Trainer, loggers.NullLogger, loggers.TensorBoardLogger,
             schedules.constant, schedules.cosine, schedules.step_decay]
    return [obj for obj in found if callable(obj)]


def spellings(obj: object) -> set[str]:
    """The dotted names that reach ``obj``: its defining module's, and each parent package's
    that re-exports it under the same name (``cnnlstm.models.CLDNN``)."""
    name = obj.__qualname__
    names = {f"{obj.__module__}.{name}"}
    parts = obj.__module__.split(".")
    for i in range(1, len(parts)):
        package = ".".join(parts[:i])
        if getattr(sys.modules.get(package), name, None) is obj:
            names.add(f"{package}.{name}")
    return names


@cache
def _trusted() -> set[str]:
    return {name for obj in _ours() for name in spellings(obj)}


def trust(*names: str) -> None:
    """Trust more exact ``_target_`` names for read-back configs (e.g. your own model class)."""
    _trusted().update(names)


def is_trusted(target: object) -> bool:
    """Whether ``target`` is the exact name of one of ours (or one the user chose to trust)."""
    extra = {t.strip() for t in os.environ.get(ENV_VAR, "").split(",") if t.strip()}
    return isinstance(target, str) and (target in _trusted() or target in extra)


MAX_NODES = 1_000_000  # a config read back is small; one built to make the walk take forever is refused


def nodes(config: object, prefix: str = "") -> Iterator[tuple[str, object, object]]:
    """``(key, name, value)`` of every entry at any depth of a nested dict/list config.

    Each container is walked once (a file can repeat one list by reference so that a naive walk
    takes forever), and a config of more than :data:`MAX_NODES` entries is refused."""
    stack, seen, walked = [(prefix, config)], set(), 0
    while stack:
        name, node = stack.pop()
        if not isinstance(node, (Mapping, list, tuple)) or id(node) in seen:
            continue
        seen.add(id(node))
        walked += len(node)
        if walked > MAX_NODES:
            raise UntrustedTarget(f"{prefix or 'config'}: more than {MAX_NODES:,} entries; not a config of ours")
        items = list(node.items() if isinstance(node, Mapping) else enumerate(node))
        children = []
        for key, value in items:
            child = (f"{name}.{key}" if name else str(key)) if isinstance(node, Mapping) else f"{name}[{key}]"
            yield child, key if isinstance(node, Mapping) else None, value
            children.append((child, value))
        stack.extend(reversed(children))


def targets(config: object, prefix: str = "") -> Iterator[tuple[str, object]]:
    """``(key, target)`` of every ``_target_`` at any depth of a nested dict/list config."""
    return ((child, value) for child, key, value in nodes(config, prefix) if key == "_target_")


NODE_MAKERS = ("oc.create", "oc.decode")  # resolvers that turn a string into config nodes


def not_plain(config: object, prefix: str = "", interpolations: bool = False) -> Iterator[tuple[str, str]]:
    """``(key, why)`` for each entry that is not plain data: an interpolation (``${...}``, which
    OmegaConf resolves and Hydra then instantiates, ``${oc.create:{_target_: ...}}``; with
    ``interpolations``, only those that make nodes) or a key that is not a string."""
    for child, key, value in nodes(config, prefix):
        if key is not None and not isinstance(key, str):
            yield child, f"a key of type {type(key).__name__}"
        for text in (key, value):
            if isinstance(text, str) and "${" in text and (
                    not interpolations or any(maker in text for maker in NODE_MAKERS)):
                yield child, f"the interpolation {text!r}"


def parsed_override(override: str) -> tuple[str, list] | None:
    """``(key, every value)`` of one command-line override as Hydra parses it (a sweep gives each
    of its values); None when Hydra cannot parse or expand it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        parsed = OverridesParser.create().parse_overrides([override])[0]
        values = list(parsed.sweep_iterator()) if parsed.is_sweep_override() else [parsed.value()]
    except (HydraException, OmegaConfBaseException, ValueError):
        return None
    return parsed.key_or_group, values


def override_targets(overrides: Sequence[object]) -> Iterator[tuple[str, object]]:
    """``(key, target)`` of every ``_target_`` an override names: as its key (``model._target_=X``,
    each value of a sweep) or inside its value (``model={_target_: X}``). An override that
    mentions ``_target_`` but does not parse yields ``(override, None)``: it cannot be checked."""
    for override in (str(o) for o in overrides):
        if "_target_" not in override:
            continue
        parsed = parsed_override(override)
        if parsed is None:
            yield override, None
            continue
        key, values = parsed
        for value in values:
            if key == "_target_" or key.endswith("._target_"):
                yield key, value
            yield from targets(value, key)


def not_plain_overrides(overrides: Sequence[object]) -> Iterator[tuple[str, str]]:
    """``(override, why)`` for each read-back override that could choose code without naming a
    ``_target_``: an interpolation, or a setting of Hydra itself (``hydra.searchpath`` adds
    config folders, ``hydra/launcher`` or ``hydra.callbacks`` pick classes)."""
    for override in (str(o) for o in overrides):
        key = override.split("=", 1)[0].lstrip("+~")
        if "${" in override:
            yield override, "an interpolation"
        elif key.split(".")[0].split("/")[0] == "hydra":
            yield override, "a setting of Hydra itself"


def check_trusted(config: object, source: object, overrides: Sequence[object] = (),
                  chosen_by_user: Collection[str] = (), interpolations: bool = False) -> None:
    """Raise :class:`UntrustedTarget` for the first ``_target_`` in ``config`` (or ``overrides``)
    that is not one of ours, except at the keys in ``chosen_by_user`` (set on the command line), or
    for any entry that is not plain data (see :func:`not_plain`; ``interpolations`` allows those
    that make no nodes, for a config the user writes, ``conf/local/``); ``source`` (the file) is
    named in the message."""
    for key, target in [*targets(config), *override_targets(overrides)]:
        if target is None and "=" in key:
            raise UntrustedTarget(f"{source}: the override {key!r} names a _target_ that cannot be checked "
                                  "(no valid override); nothing of it was run")
        if key not in chosen_by_user and not is_trusted(target):
            raise UntrustedTarget(
                f"{source}: {key}={target!r} is not a cnnlstm class; a config read back from a file may "
                f"only name this package's own classes, and nothing of it was run (if it is a class of "
                f"your own and you trust this file, set {ENV_VAR}={target})")
    for key, why in [*not_plain(config, interpolations=interpolations), *not_plain_overrides(overrides)]:
        raise UntrustedTarget(f"{source}: {key} holds {why}; a config read back from a file may hold only "
                              "plain values, and nothing of it was run")
