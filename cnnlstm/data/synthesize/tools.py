"""The external synthesizers: which Debian package holds each, and running them with one-line errors."""

import shutil
import subprocess

from cnnlstm.errors import DataError

PACKAGES = {"festival": "festival festvox-kallpc16k", "flite": "flite", "espeak-ng": "espeak-ng",
            "sox": "sox"}

FESTIVAL_VOICE_PACKAGES = {"kal_diphone": "festvox-kallpc16k", "ked_diphone": "festvox-kdlpc16k",
                           "cmu_us_slt_arctic_hts": "festvox-us-slt-hts"}


class MissingTool(DataError):
    """A synthesizer (or one of its voices) is not installed; the message says how to install it."""


def require(*commands: str) -> None:
    """MissingTool for the first of ``commands`` not on PATH, naming its ``apt-get install`` line."""
    for command in commands:
        if shutil.which(command) is None:
            raise MissingTool(f"{command} not found: install it with apt-get install -y {PACKAGES[command]}")


def run(args: list[str], input_text: str | None = None, timeout: float = 3600) -> str:
    """Run a synthesizer; its stdout, or DataError with the command and its first stderr line."""
    try:
        done = subprocess.run(args, input=input_text, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DataError(f"{args[0]} failed: {e}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise DataError(f"{' '.join(args[:3])} ... exited with {done.returncode}: {lines[0] if lines else ''}")
    return done.stdout
