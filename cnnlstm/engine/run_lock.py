"""One owner per run directory: an advisory ``flock`` on ``<run dir>/.lock`` for the whole run.

The OS releases the lock when the holding process dies, so a ``kill -9`` never leaves a stale
lock behind; the lock file stays empty (its content never changes), and the holder's PID is
read from ``/proc/locks`` where Linux has it.
"""

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from cnnlstm.errors import UserError

LOCK_NAME = ".lock"


class RunDirectoryBusy(UserError):
    """Another process is writing this run directory."""


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


@contextlib.contextmanager
def run_directory_lock(run_dir: str | Path, enabled: bool = True):
    """Hold ``run_dir``'s lock for the enclosed block; refuse at once when another process holds it.

    A directory this call had to create, and that holds nothing but the lock when the block fails,
    is removed again: a refused run leaves nothing behind.
    """
    if not enabled:
        yield
        return
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        if e.errno != errno.ELOOP:
            raise
        raise UserError(f"{path} is a symbolic link; a run never writes through links: remove it") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            pid = holder_pid(path)
            raise RunDirectoryBusy(f"{run_dir} is in use by another run (PID {pid or 'unknown'}): wait for it to "
                                   "finish, or choose another hydra.run.dir") from None
        try:
            yield
        except BaseException:
            if created and [p.name for p in run_dir.iterdir()] == [LOCK_NAME]:
                path.unlink()
                run_dir.rmdir()
            raise
    finally:
        os.close(fd)  # releases the lock
