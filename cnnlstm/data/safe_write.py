"""Writes of the data layer (the decoded-audio cache, generated tone folders) that stay where they
are meant to go: never through a symlink, never half-written, never leaving a temporary file.

The data layer may not import :mod:`cnnlstm.engine` (tests/test_layers.py), so this follows the
pattern of ``cnnlstm/engine/atomic.py:write_atomic`` here: a temporary file in the same folder,
fsync, ``os.replace`` (which replaces a symlink at ``path`` rather than writing through it), and
the temporary file removed on any failure. A refused write is one DataError line naming the file.
"""

import os
import tempfile
from pathlib import Path

from cnnlstm.errors import DataError

TMP_SUFFIX = ".tmp"


def write_error(error: OSError, path: Path, what: str = "") -> DataError:
    """``cannot write [what ]PATH: No space left on device`` for an OSError writing ``path``."""
    reason = os.strerror(error.errno) if error.errno else str(error)
    return DataError(f"cannot write {what + ' ' if what else ''}{path}: {reason}")


def write_atomic(path: Path, data: bytes, what: str = "") -> None:
    """Replace ``path`` by ``data`` atomically (a reader sees the old file or the new one);
    DataError naming ``path`` (and ``what`` it is) when the file system refuses."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise write_error(e, path, what) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def write_new(path: Path, data: bytes) -> None:
    """Create ``path`` holding ``data``; it must not exist yet (not even as a symlink: ``O_EXCL``
    with ``O_NOFOLLOW``), so a folder being filled can never write over or through anything."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError as e:
        raise write_error(e, path) from None


def own_folder(folder: Path, inside: Path) -> Path:
    """Create ``folder`` (a child of ``inside``) if absent; DataError when it is a symlink or
    resolves elsewhere, so files written into it land inside ``inside``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(e, folder, "folder") from None
    if folder.is_symlink() or not folder.resolve().is_relative_to(inside.resolve()):
        raise DataError(f"{folder}: a symlink or a folder outside {inside}; "
                        "refusing to write into it")
    return folder
