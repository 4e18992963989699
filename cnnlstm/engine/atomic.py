"""The one atomic writer: a file is either its old content or its new one, never half of each.

A write that the file system refuses (no space, quota, read-only, permission) is one
:class:`StorageError` line naming the file and the reason; the previous file stays intact and
the temporary file is removed.
"""

import json
import math
import os
import tempfile
from pathlib import Path

from cnnlstm.errors import UserError

TMP_SUFFIX = ".tmp"


class StorageError(UserError):
    """A file could not be written (the disk is full, read-only, or not ours to write)."""


def storage_error(error: OSError, path: str | Path) -> StorageError:
    """``cannot write PATH: No space left on device`` for an OSError raised while writing ``path``."""
    reason = os.strerror(error.errno) if error.errno else str(error)
    return StorageError(f"cannot write {path}: {reason}")


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file in ``path``'s directory, fsync it, rename it over
    ``path`` and fsync the directory; on any failure the temporary file is removed."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        raise storage_error(e, path) from None
    finally:
        if tmp is not None and Path(tmp).exists():
            Path(tmp).unlink(missing_ok=True)


def remove_leftovers(folder: str | Path) -> list[Path]:
    """Delete the temporary files that writes interrupted by a crash left in ``folder``."""
    leftovers = [p for p in Path(folder).glob(f".*{TMP_SUFFIX}") if p.is_file()]
    for p in leftovers:
        p.unlink(missing_ok=True)
    return leftovers
def write_json(path: str | Path, obj: dict) -> None:
    """Write ``obj`` as indented, key-sorted, strict JSON atomically: a NaN or infinite number
    (a metric over no samples, a diverged loss) is written as ``null``, never as a result."""
    clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in obj.items()}
    write_atomic(path, (json.dumps(clean, indent=2, sort_keys=True, allow_nan=False) + "\n").encode())
