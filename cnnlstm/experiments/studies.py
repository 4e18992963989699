"""Reading a study file, ``experiments/studies/<name>.yaml``, as the untrusted data it is.

A study names what :mod:`cnnlstm.experiments.reproduce` launches (``train.py -m`` arguments, the
corpus maker's arguments) and where it writes (``multirun/<name>/<part>``, the corpus folders,
``<job>/held_out/<NAME>``). Before anything runs, :func:`load_study` requires:

- the file to be a YAML mapping of the known keys, each of its documented shape; a corrupt, empty,
  binary or list-shaped file is one :class:`StudyError` line naming the file and the problem;
- every name that becomes a folder (the study, its parts, held-out names) to be a plain name, and
  every corpus folder a relative path without ``..``: nothing is written outside the project;
- no ``_target_`` outside this package, anywhere in the file or in any override it carries
  (sweeps, ``select.overrides``, the grids' ``key=value`` points): :mod:`cnnlstm.engine.trusted`.
"""

import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from cnnlstm.engine.trusted import check_trusted
from cnnlstm.errors import DataError, UserError
from cnnlstm.experiments.records import kind, read_yaml

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # a folder name, never a path
KEYS = {"sweeps", "select", "summarize", "corpora", "held_out"}
SELECT_KEYS = {"grid", "part_grids", "overrides", "parts"}
SUMMARIZE_KEYS = {"metric", "baseline"}
SCALARS = (str, int, float, bool)


class StudyError(UserError):
    """A study file is unreadable, malformed, unsafe, or names something that does not exist."""


class Study(dict):
    """A study's contents; ``path`` is the file it was read from (named in every error)."""

    path: Path | None = None


def where(study: dict) -> str:
    """``study experiments/studies/x.yaml``: how errors name a study (a plain dict: the study)."""
    path = getattr(study, "path", None)
    return f"study {path}" if path is not None else "the study"


def study_path(name: str, folder: Path) -> Path:
    """``folder/<name>.yaml`` of a plain study name that exists; StudyError listing the studies."""
    path = folder / f"{name}.yaml"
    if not NAME.fullmatch(name) or not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        raise StudyError(f"no study {name!r} (experiments/studies/{name}.yaml); the studies: "
                         f"{known}")
    return path


def load_study(name: str, folder: Path) -> Study:
    """The checked contents of study ``name`` in ``folder`` (see the module docstring)."""
    path = study_path(name, folder)
    try:
        data = read_yaml(path)
    except DataError as e:
        raise StudyError(f"study {e}") from None
    if not isinstance(data, dict):
        raise StudyError(f"study {path}: expected a mapping with sweeps: {{part: [train.py -m "
                         f"arguments]}}, got {kind(data)}")
    study = Study(data)
    study.path = path
    check_shape(study)  # first: bounds the nesting (a YAML alias bomb is refused, not walked)
    check_trusted(data, path)
    check_trusted({}, path, study_overrides(study))
    return study


def study_overrides(study: dict) -> list[str]:
    """Every override the study passes to ``train.py``: its sweeps, ``select.overrides`` and each
    ``key=value`` point of its grids."""
    select = study.get("select") or {}
    grids = [select.get("grid") or {}, *(select.get("part_grids") or {}).values()]
    points = [f"{key}={value}" for grid in grids for key, values in grid.items()
              for value in values]
    sweeps = [a for arguments in study["sweeps"].values() for a in arguments]
    return [str(o) for o in [*sweeps, *(select.get("overrides") or []), *points]]


def problem(study: dict, key: str, expected: str, value: object) -> StudyError:
    """``study FILE: select.grid must be a mapping of key: [values], got a list``."""
    return StudyError(f"{where(study)}: {key} must be {expected}, got {kind(value)}")


def check_keys(study: dict, mapping: dict, allowed: set[str], prefix: str) -> None:
    """StudyError for a key the study format does not have (a typo would be silently ignored)."""
    unknown = sorted(str(k) for k in mapping if k not in allowed)
    if unknown:
        raise StudyError(f"{where(study)}: unknown key {prefix}{unknown[0]} (known: "
                         f"{', '.join(prefix + k for k in sorted(allowed))})")


def mapping(study: dict, value: object, key: str, required: bool = False) -> dict:
    """``value`` as a mapping (None: empty unless ``required``); StudyError naming ``key``."""
    if value is None and not required:
        return {}
    if not isinstance(value, dict) or (required and not value):
        raise problem(study, key, "a non-empty mapping" if required else "a mapping", value)
    return value


def scalars(study: dict, value: object, key: str) -> list:
    """``value`` as a list of plain values (strings, numbers); StudyError naming ``key``."""
    if not isinstance(value, list) or not all(isinstance(v, SCALARS) for v in value):
        raise problem(study, key, "a list of strings or numbers", value)
    return value


def plain_name(study: dict, name: object, key: str) -> None:
    """StudyError unless ``name`` (which becomes a folder) is a plain name, not a path."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise StudyError(f"{where(study)}: {key} name {name!r} must be a plain name (letters, "
                         "digits, _ . -), not a path: it becomes a folder")


def check_shape(study: dict) -> None:
    """StudyError for the first key of the study that is missing, unknown or of the wrong shape."""
    check_keys(study, study, KEYS, "")
    for part, arguments in mapping(study, study.get("sweeps"), "sweeps", required=True).items():
        plain_name(study, part, "sweeps: part")
        scalars(study, arguments, f"sweeps.{part}")
    check_select(study, mapping(study, study.get("select"), "select"))
    summarize = mapping(study, study.get("summarize"), "summarize")
    check_keys(study, summarize, SUMMARIZE_KEYS, "summarize.")
    for key, value in summarize.items():
        values = value if isinstance(value, list) else [value]
        if value is not None and not all(isinstance(v, str) for v in values):
            raise problem(study, f"summarize.{key}", "a string or a list of strings", value)
    for folder, arguments in mapping(study, study.get("corpora"), "corpora").items():
        check_folder(study, folder, "corpora")
        if not scalars(study, arguments, f"corpora.{folder}"):
            raise problem(study, f"corpora.{folder}", "the corpus maker's arguments", arguments)
    for name, folder in mapping(study, study.get("held_out"), "held_out").items():
        plain_name(study, name, "held_out:")
        check_folder(study, folder, f"held_out.{name}")


def check_select(study: dict, select: dict) -> None:
    """The shape of ``select``: ``grid`` and ``part_grids`` of ``key: [values]``, else lists."""
    check_keys(study, select, SELECT_KEYS, "select.")
    for key, grid in grids(study, select):
        for name, values in mapping(study, grid, key).items():
            if not isinstance(name, str) or not scalars(study, values, f"{key}.{name}"):
                raise problem(study, f"{key}.{name}", "a non-empty list of values", values)
    scalars(study, select.get("overrides") or [], "select.overrides")
    for part in scalars(study, select.get("parts") or [], "select.parts"):
        plain_name(study, part, "select.parts: part")


def grids(study: dict, select: dict) -> Iterator[tuple[str, object]]:
    """``(key, grid)`` of ``select.grid`` and of each ``select.part_grids`` entry."""
    yield "select.grid", select.get("grid")
    for part, grid in mapping(study, select.get("part_grids"), "select.part_grids").items():
        yield f"select.part_grids.{part}", grid


def check_folder(study: dict, folder: object, key: str) -> None:
    """StudyError unless ``folder`` is a relative path inside the project (no ``..``, not
    absolute): the corpus maker writes there, with ``--overwrite``."""
    path = PurePosixPath(folder) if isinstance(folder, str) else None
    if path is None or not path.parts or path.is_absolute() or ".." in path.parts:
        raise StudyError(f"{where(study)}: {key}: {folder!r} must be a folder relative to the "
                         "project root, inside it (no '..', not absolute), e.g. data/synth/<name>")
