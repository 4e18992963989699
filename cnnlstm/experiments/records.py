"""Reading back what runs and studies wrote: every file is data from disk, never trusted.

``metrics.json``, ``.hydra/overrides.yaml``, ``.hydra/config.yaml``, ``provenance.json`` and the
study YAMLs may be corrupt, empty, binary, of the wrong shape, or written by someone else. Each
reader here returns the expected shape or raises one :class:`~cnnlstm.errors.DataError` line that
names the file and the problem, so the entry points print it instead of a traceback.

Overrides read back from a file are about to be passed to ``train.py`` (a chosen learning rate, a
reused selection job); :func:`~cnnlstm.engine.trusted.check_trusted` refuses any ``_target_`` in them that is not one of
this package's classes (:mod:`cnnlstm.engine.trusted`), in the key (``model._target_=X``) and in a
value (``model={_target_: X}``), sweeps (``a,b``) included.
"""

import json
from pathlib import Path

import yaml

from cnnlstm.engine.trusted import check_trusted
from cnnlstm.errors import DataError, first_line


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path``; DataError naming it when it cannot be read or is binary."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text (a binary or corrupt file?)") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror or type(e).__name__})") from None


def yaml_problem(error: yaml.YAMLError) -> str:
    """``found unexpected end of stream (line 3)``: a YAML error in one line."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or first_line(error)
    return f"{problem} (line {mark.line + 1})" if mark is not None else problem


def read_yaml(path: Path) -> object:
    """The YAML document of ``path`` (None when empty); DataError naming the file if not YAML."""
    try:
        return yaml.safe_load(read_text(path))
    except yaml.YAMLError as e:
        raise DataError(f"{path}: not valid YAML: {yaml_problem(e)}") from None


def read_json_object(path: Path) -> dict:
    """The JSON object of ``path`` (``metrics.json``, ``failure.json``, ``provenance.json``);
    DataError naming the file when it is no JSON or not an object (a list, a number)."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON: {e.msg} (line {e.lineno})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, got {kind(data)}")
    return data


def read_mapping(path: Path) -> dict:
    """The YAML mapping of ``path`` (``.hydra/config.yaml``); DataError for another shape."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a YAML mapping, got {kind(data)}")
    return data


def read_overrides(path: Path) -> list[str]:
    """The override strings of ``.hydra/overrides.yaml``: a YAML list of ``key=value`` strings
    (an empty file is no override); DataError naming the file for any other shape."""
    data = read_yaml(path)
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(o, str) for o in data):
        raise DataError(f"{path}: expected a YAML list of key=value strings, got {kind(data)}")
    return data


def kind(data: object) -> str:
    """``a list``, ``an empty file``: what a file held instead of the expected shape."""
    if data is None:
        return "an empty file"
    if isinstance(data, list):
        return "a list"
    if isinstance(data, dict):
        return "a mapping"
    return f"a {type(data).__name__} ({str(data)[:40]!r})"


def split_override(override: str) -> tuple[str, str]:
    """``("model.hidden_size", "10")`` of ``+model.hidden_size=10`` (no ``=``: an empty value)."""
    key, _, value = str(override).partition("=")
    return key.lstrip("+~"), value


def read_trusted_overrides(path: Path) -> list[str]:
    """:func:`read_overrides`, refused by :func:`~cnnlstm.engine.trusted.check_trusted` when they name foreign code."""
    overrides = read_overrides(path)
    check_trusted({}, path, overrides)
    return overrides
