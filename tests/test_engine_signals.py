import os
import signal

import pytest

from cnnlstm.engine.signals import GracefulStop, hand_over


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR2])
def test_signal_sets_flag_and_handlers_are_restored(sig):
    before = signal.getsignal(sig)
    with GracefulStop() as stop:
        assert not stop.requested
        os.kill(os.getpid(), sig)
        assert stop.requested and stop.signum == sig
    assert signal.getsignal(sig) == before


def test_slurm_signal_is_handed_to_the_previous_handler():
    seen = []
    previous = signal.signal(signal.SIGUSR1, lambda s, f: seen.append(s))
    try:
        with GracefulStop():
            os.kill(os.getpid(), signal.SIGUSR1)
        hand_over(signal.SIGUSR1)
        assert seen == [signal.SIGUSR1]
    finally:
        signal.signal(signal.SIGUSR1, previous)
