"""Graceful stop on SIGTERM/SIGINT: the handler only sets a flag; the loop saves and exits."""

import signal
import threading


class GracefulStop:
    """Context manager that turns SIGTERM, SIGINT, SIGUSR1/2 into ``self.signum`` for the loop to check.

    A second signal while the first is being handled restores the default behaviour, so a user
    who presses Ctrl-C twice still gets out at once. Only installs handlers on the main thread.
    """

    # SIGUSR1/2: what SLURM (and submitit) send before preemption or the time limit.
    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        self.signum = signum

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def hand_over(signum: int) -> None:
    """After the checkpoint is saved, let the handler that was there before ours act on a SLURM
    signal (submitit's requeues the job); other signals just end the process."""
    previous = signal.getsignal(signum)
    if signum in (signal.SIGUSR1, signal.SIGUSR2) and callable(previous):
        signal.raise_signal(signum)
