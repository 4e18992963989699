"""One owner per run directory: an advisory ``flock`` on ``<run dir>/.lock`` for the whole run;
and what a fresh start may find there (:func:`make_room`, :func:`refuse_linked_folders`).

The OS releases the lock when the holding process dies, so a ``kill -9`` never leaves a stale
lock behind; the lock file stays empty (its content never changes), and the holder's PID is
read from ``/proc/locks`` where Linux has it.
"""

import contextlib
import errno
import fcntl
import logging
import os
import time
from pathlib import Path

from cnnlstm.errors import ConfigError, UserError
from cnnlstm.files import holder_pid

LOCK_NAME = ".lock"
log = logging.getLogger("cnnlstm")


class RunDirectoryBusy(UserError):
    """Another process is writing this run directory."""


@contextlib.contextmanager
def run_directory_lock(run_dir: str | Path, enabled: bool = True):
    """Hold ``run_dir``'s lock for the enclosed block; refuse at once when another process holds it.

    When the block fails, a lock file this call created is removed, and so is a directory it
    created that then holds nothing: a refused run leaves nothing behind.
    """
    if not enabled:
        yield
        return
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd, new_lock = _open_lock(path)
    try:
        _acquire(fd, path, run_dir)
        try:
            yield
        except BaseException:
            with contextlib.suppress(OSError):  # another run may be starting there meanwhile
                if new_lock:  # unlinked while held: a process that opened it meanwhile sees it is stale
                    path.unlink(missing_ok=True)
                if created and not any(run_dir.iterdir()):
                    run_dir.rmdir()
            raise
    finally:
        os.close(fd)  # releases the lock


def _open_lock(path: Path) -> tuple[int, bool]:
    """The lock file's descriptor, and whether this call created it; a link there is refused."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644), True
    except FileExistsError:
        pass
    try:
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW), False
    except OSError as e:
        if e.errno != errno.ELOOP:
            raise
        raise UserError(f"{path} is a symbolic link; a run never writes through links: remove it") from None


def _acquire(fd: int, path: Path, run_dir: Path) -> None:
    """Take the lock without waiting; refuse when another process holds it, or when the file was
    removed in between by a run that failed (its lock no longer guards the directory)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        stale = not path.exists() or os.fstat(fd).st_ino != os.stat(path).st_ino
    except OSError as e:
        if e.errno not in (errno.EWOULDBLOCK, errno.EACCES):
            raise
        stale = None
    if stale is not False:
        pid = holder_pid(path) if stale is None else None
        raise RunDirectoryBusy(f"{run_dir} is in use by another run (PID {pid or 'unknown'}): wait for it to "
                               "finish, or choose another hydra.run.dir")


# what a run writes; a fresh start finds none of them, or moves them aside with trainer.overwrite=true
# (glob patterns: TensorBoard's event files and profiler traces lie in the run directory itself)
RESULTS = ("checkpoints", "metrics.json", "config.yaml", "model_summary.txt", "events.out.tfevents.*",
           "*.pt.trace.json", "tb", ".hydra", "samples.png", "attention.png", "confusion.csv", "per_class.csv",
           "per_image.csv")


def make_room(run_dir: Path, overwrite: bool) -> None:
    """Refuse a fresh start in a directory holding an earlier run's results, unless ``overwrite``:
    then they are moved, in one rename per entry, into ``replaced/<time>/`` (nothing is lost)."""
    earlier = sorted({path for pattern in RESULTS for path in run_dir.glob(pattern)})
    if not any(p.name in ("checkpoints", "metrics.json") for p in earlier):
        return
    if not overwrite:
        raise ConfigError(f"{run_dir} holds an earlier run's results ({', '.join(p.name for p in earlier)}); a fresh "
                          "start would replace them: resume it (trainer.resume=null), choose another hydra.run.dir, "
                          "or pass trainer.overwrite=true to move them to replaced/")
    aside = run_dir / "replaced" / f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{os.getpid()}"
    try:
        aside.mkdir(parents=True, exist_ok=False)
        for path in earlier:
            path.rename(aside / path.name)
    except OSError as e:
        raise ConfigError(f"trainer.overwrite=true: cannot move the earlier results into {aside} "
                          f"({e.strerror or e}): move or remove {run_dir / 'replaced'}; nothing was "
                          "replaced") from None
    log.warning("moved the earlier run's %s to %s", ", ".join(p.name for p in earlier), aside)


def refuse_linked_folders(run_dir: Path, itself: bool = False) -> None:
    """The folders a run writes into must be its own: a link there would send checkpoints or
    Hydra's record outside the run directory (files are replaced atomically, never followed).
    ``itself``: the run directory must not be a link either (a sweep's job folder)."""
    if itself and run_dir.is_symlink():
        raise ConfigError(f"{run_dir} is a symbolic link; a sweep job writes only inside its own folder: "
                          "remove the link or choose another hydra.sweep.dir")
    for name in ("checkpoints", ".hydra", "replaced"):
        if (run_dir / name).is_symlink():
            raise ConfigError(f"{run_dir / name} is a symbolic link; a run writes only inside its own "
                              "directory: remove the link or choose another hydra.run.dir")
