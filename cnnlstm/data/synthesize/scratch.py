"""What the corpus maker leaves in DIR while it works; how a rerun tells its own leftovers apart.

A run holds two kinds of files that a kill (``kill -9``, a lost session, a full disk) leaves:

- ``DIR/.synth-XXXXXXXX/``: scratch folders (festival's WAVs and scripts, the voices' clips;
  tens of MB). Each holds :data:`SCRATCH_MARKER`, a file its run keeps ``flock``-ed while the
  folder lives; the OS drops the lock when the process dies.
- ``DIR/.synthesize-incomplete``: :data:`RUN_MARKER`, created before the first file of a corpus is
  written, locked for the whole run and removed once ``synthesis.json`` is written. Present and
  unlocked, it proves that what this command writes in DIR is an interrupted run's partial corpus.

A leftover counts as this command's own only when its name has the pattern, it is a real folder
or file (never a symlink: nothing is followed), it holds the marker as a regular file, and no live
process holds the marker's lock. Anything else in DIR is the user's and stays untouched: a rerun
then still refuses a non-empty DIR (without ``--overwrite``) and names what is in the way.
"""

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cnnlstm.errors import UserError
from cnnlstm.files import holder_pid

SCRATCH_PREFIX = ".synth-"
SCRATCH_MARKER = ".synthesize-scratch"
RUN_MARKER = ".synthesize-incomplete"


class Busy(UserError):
    """Another live corpus-maker run holds DIR (or its marker is not ours to take)."""


def _lock(fd: int, wait: bool) -> bool:
    """Take an exclusive flock on ``fd``; False (without waiting) when a live process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
            return False
        raise
    return True


def _open_marker(path: Path) -> int | None:
    """A read-only descriptor of ``path`` if it is a regular file (never through a symlink)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _locked_marker(folder: Path, name: str) -> int | None:
    """Create ``folder/name`` already locked: made under a temporary name, locked, then linked
    to its name (which fails if the name exists), so no other process ever sees the marker
    unlocked while this one is alive. None when another process created it first."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{name}.")
    try:
        _lock(fd, wait=True)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.link(tmp, folder / name)
    except FileExistsError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    finally:
        os.unlink(tmp)
    return fd


def abandoned(marker: Path) -> bool:
    """Whether ``marker`` is a regular file whose lock no live process holds."""
    fd = _open_marker(marker)
    if fd is None:
        return False
    try:
        return _lock(fd, wait=False)
    finally:
        os.close(fd)


def stale_scratch(root: Path) -> list[Path]:
    """The scratch folders in ``root`` that provably belong to dead runs of this command."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.name.startswith(SCRATCH_PREFIX)
                  and not p.is_symlink() and p.is_dir() and abandoned(p / SCRATCH_MARKER))


def interrupted(root: Path) -> bool:
    """Whether ``root`` holds the run marker of a run that died before it finished."""
    return abandoned(root / RUN_MARKER)


def remove_stale_scratch(root: Path) -> list[Path]:
    """Delete the scratch folders of dead runs (:func:`stale_scratch`); returns them."""
    removed = stale_scratch(root)
    for folder in removed:
        shutil.rmtree(folder)  # removes links inside, never follows them
    return removed


@contextlib.contextmanager
def scratch_folder(root: Path) -> Iterator[Path]:
    """A fresh ``root/.synth-XXXXXXXX`` folder with its locked marker, removed on exit."""
    folder = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=root))
    fd = _locked_marker(folder, SCRATCH_MARKER)  # a fresh private folder: never taken first
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


def _take_run_marker(root: Path) -> int:
    """A locked descriptor of ``root``'s run marker: a new one, or a dead run's; Busy when a live
    run holds it or it is not a regular file. A symlink there is removed, never followed."""
    path = root / RUN_MARKER
    if path.is_symlink():
        path.unlink()
    fd = None if os.path.lexists(path) else _locked_marker(root, RUN_MARKER)
    if fd is not None:
        return fd
    fd = _open_marker(path)
    if fd is None:
        raise Busy(f"{path} is not a regular file: remove it")
    if not _lock(fd, wait=False):
        os.close(fd)
        raise busy(root)
    return fd


def busy(root: Path) -> Busy:
    """The one line for a DIR that a live run is writing, with that run's PID where known."""
    pid = holder_pid(root / RUN_MARKER)
    return Busy(f"DIR {root} is being written by another run of the corpus maker (PID "
                f"{pid or 'unknown'}): wait for it to finish, or choose another folder")


def check_not_busy(root: Path) -> None:
    """Busy when a live run holds ``root``'s run marker (checked before DIR is touched)."""
    fd = _open_marker(root / RUN_MARKER)
    if fd is None:
        return
    try:
        if not _lock(fd, wait=False):
            raise busy(root)
    finally:
        os.close(fd)


@contextlib.contextmanager
def run_marker(root: Path) -> Iterator[None]:
    """Hold ``root``'s run marker for the block: Busy when a live run holds it; removed when the
    block finishes, kept (unlocked) when it fails, so a rerun knows the corpus is partial."""
    fd = _take_run_marker(root)
    try:
        yield
        (root / RUN_MARKER).unlink()
    finally:
        os.close(fd)
