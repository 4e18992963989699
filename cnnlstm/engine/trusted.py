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


def targets(config: object, prefix: str = "") -> Iterator[tuple[str, object]]:
    """``(key, target)`` of every ``_target_`` at any depth of a nested dict/list config."""
    if isinstance(config, Mapping):
        for key, value in config.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "_target_":
                yield name, value
            else:
                yield from targets(value, name)
    elif isinstance(config, Sequence) and not isinstance(config, (str, bytes)):
        for i, value in enumerate(config):
            yield from targets(value, f"{prefix}[{i}]")


def override_targets(overrides: Sequence[object]) -> Iterator[tuple[str, object]]:
    """``(key, target)`` of every ``..._target_=X`` among command-line overrides."""
    for override in overrides:
        key, sep, value = str(override).partition("=")
        key = key.lstrip("+~")
        if sep and (key == "_target_" or key.endswith("._target_")):
            yield key, value.strip("'\"")


def check_trusted(config: object, source: object, overrides: Sequence[object] = (),
                  chosen_by_user: Collection[str] = ()) -> None:
    """Raise :class:`UntrustedTarget` for the first ``_target_`` in ``config`` (or ``overrides``)
    that is not one of ours, except at the keys in ``chosen_by_user`` (set on the command line);
    ``source`` (the file) is named in the message."""
    for key, target in [*targets(config), *override_targets(overrides)]:
        if key not in chosen_by_user and not is_trusted(target):
            raise UntrustedTarget(
                f"{source}: {key}={target!r} is not a cnnlstm class; a config read back from a file may "
                f"only name this package's own classes, and nothing of it was run (if it is a class of "
                f"your own and you trust this file, set {ENV_VAR}={target})")
