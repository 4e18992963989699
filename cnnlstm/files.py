"""Writing files safely, for every layer: the one atomic writer, exclusive creation, lock holders.

- :func:`write_atomic`: a file is either its old content or its new one, never half of each. The
  data goes to a temporary file in the same folder, is fsynced and renamed over the target, so a
  symbolic link at the target is replaced, never written through. A write that the file system
  refuses (no space, quota, read-only, permission) is one :class:`StorageError` line naming the
  file and the reason; the previous file stays intact and the temporary file is removed.
- :func:`write_new` / :func:`own_folder`: files created in a folder being filled (a corpus, a tone
  folder) that can never write over or through anything, nor outside that folder.
- :func:`holder_pid`: who holds an ``flock`` (run directories, corpus scratch folders).
"""

import json
import math
import os
import tempfile
from pathlib import Path

from cnnlstm.errors import StorageError

TMP_SUFFIX = ".tmp"


def storage_error(error: OSError, path: str | Path, what: str = "") -> StorageError:
    """``cannot write [what ]PATH: No space left on device`` for an OSError raised writing ``path``."""
    reason = os.strerror(error.errno) if error.errno else str(error)
    return StorageError(f"cannot write {what + ' ' if what else ''}{path}: {reason}")


def write_atomic(path: str | Path, data: bytes, what: str = "") -> None:
    """Write ``data`` to a temporary file in ``path``'s directory, fsync it, rename it over
    ``path`` and fsync the directory; on any failure the temporary file is removed and the
    StorageError names ``path`` (and ``what`` it is)."""
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
        tmp = None
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        raise storage_error(e, path, what) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def write_json(path: str | Path, obj: dict) -> None:
    """Write ``obj`` as indented, key-sorted, strict JSON atomically: a NaN or infinite number
    (a metric over no samples, a diverged loss) is written as ``null``, never as a result."""
    clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in obj.items()}
    write_atomic(path, (json.dumps(clean, indent=2, sort_keys=True, allow_nan=False) + "\n").encode())


def remove_leftovers(folder: str | Path) -> list[Path]:
    """Delete the temporary files that writes interrupted by a crash left in ``folder``."""
    leftovers = [p for p in Path(folder).glob(f".*{TMP_SUFFIX}") if p.is_file()]
    for p in leftovers:
        p.unlink(missing_ok=True)
    return leftovers


def write_new(path: Path, data: bytes) -> None:
    """Create ``path`` holding ``data``; it must not exist yet (not even as a symlink: ``O_EXCL``
    with ``O_NOFOLLOW``), so a folder being filled can never write over or through anything."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError as e:
        raise storage_error(e, path) from None


def own_folder(folder: Path, inside: Path) -> Path:
    """Create ``folder`` (a child of ``inside``) if absent; StorageError when it is a symlink or
    resolves elsewhere, so files written into it land inside ``inside``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise storage_error(e, folder, "folder") from None
    if folder.is_symlink() or not folder.resolve().is_relative_to(inside.resolve()):
        raise StorageError(f"{folder}: a symlink or a folder outside {inside}; refusing to write into it")
    return folder


def holder_pid(path: Path) -> int | None:
    """The PID holding an flock on ``path`` (Linux ``/proc/locks``), or None when unknown."""
    try:
        inode = os.stat(path).st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(inode):
            return int(fields[4])
    return None
