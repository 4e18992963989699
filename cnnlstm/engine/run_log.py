"""The run's ``train.log``: written only once the run owns its directory, never through a link.

Hydra configures a file handler for every job before the job runs (``conf/hydra/default.yaml``
points it here). Hydra's own ``logging.FileHandler`` opens the file at once: a refused run (a
resume that does not fit, a bad value) then leaves ``train.log`` in a directory it may not touch,
a read-only directory ends in a ``ValueError: Unable to configure handler`` traceback, and a
symbolic link named ``train.log`` is written through to wherever it points.

:class:`RunLogHandler` keeps the records in memory until :func:`accept_run_log` says the run owns
its directory (its checks passed and it holds the lock), then writes them and everything after,
opening the file with ``O_NOFOLLOW``. A file it cannot write costs one warning line on stderr,
once, and the run goes on (the console has every line): the log is a copy, not a result.
"""

import logging
import os
import sys

MAX_BUFFERED = 10_000  # records kept before acceptance (a run logs a few dozen before it starts)


class RunLogHandler(logging.FileHandler):
    """A file handler that writes nothing until :meth:`accept` and never follows a link."""

    def __init__(self, filename: str, mode: str = "a", encoding: str | None = None) -> None:
        super().__init__(filename, mode, encoding, delay=True)
        self.pending: list[logging.LogRecord] | None = []
        self.failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.failed:
            return
        if self.pending is not None:
            if len(self.pending) < MAX_BUFFERED:
                self.pending.append(record)
            return
        try:
            super().emit(record)  # opens the file on the first record: an OSError lands here
        except Exception:
            self.handleError(record)

    def accept(self) -> None:
        """The run owns its directory: write what was kept, then every record as it comes."""
        pending, self.pending = self.pending, None
        for record in pending or []:
            self.emit(record)

    def _open(self):
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if "a" in self.mode else os.O_TRUNC)
        fd = os.open(self.baseFilename, flags, 0o644)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)

    def handleError(self, record: logging.LogRecord) -> None:
        """One line, once, instead of logging's traceback per record; the run goes on."""
        error = sys.exc_info()[1]
        if not self.failed:
            reason = os.strerror(error.errno) if isinstance(error, OSError) and error.errno else error
            print(f"warning: cannot write {self.baseFilename}: {reason}; the log goes to the console only",
                  file=sys.stderr)
        self.failed = True


def accept_run_log() -> None:
    """Let every :class:`RunLogHandler` of the root logger write its file."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, RunLogHandler):
            handler.accept()
