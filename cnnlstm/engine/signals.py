"""Graceful stop on SIGTERM/SIGINT: the handler only sets a flag; the loop saves and exits."""

import contextlib
import signal
import sys
import threading


class StopNow(BaseException):
    """A second stop signal inside an abortable section (validation): cut it short and save."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class GracefulStop:
    """Context manager that turns SIGTERM, SIGINT, SIGUSR1/2 into ``self.signum`` for the loop to check.

    The first signal asks the loop to save and stop at the next step. A second one inside an
    :meth:`abortable` section (a validation pass, which can take long) raises :class:`StopNow`
    there, so the loop saves the steps trained so far without waiting for it; elsewhere it says
    that the checkpoint is on its way. A third restores the default behaviour, so a user who keeps
    pressing Ctrl-C still gets out at once. Only installs handlers on the main thread.
    """

    # SIGUSR1/2: what SLURM (and submitit) send before preemption or the time limit.
    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self._abortable = False
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.count == 1:
            self.signum = signum
        elif self.count == 2 and self._abortable:
            self._abortable = False
            raise StopNow(signum)
        elif self.count == 2:
            print("warning: stopping after this step, once last.pt is saved (a third signal quits without "
                  "saving)", file=sys.stderr, flush=True)
        else:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    @contextlib.contextmanager
    def abortable(self, enabled: bool = True):
        """A section a second signal may cut short (with :class:`StopNow`): one that changes no
        training state, so the loop can save what it had before the section."""
        self._abortable = enabled and threading.current_thread() is threading.main_thread()
        try:
            if self._abortable and self.count >= 2:  # the second signal came before the section
                raise StopNow(self.signum or signal.SIGINT)
            yield
        finally:
            self._abortable = False

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
