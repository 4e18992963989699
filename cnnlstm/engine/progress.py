"""Progress reporting: a tqdm bar on a terminal, plain log lines otherwise (files, CI, SLURM)."""

import logging
import sys

from tqdm import tqdm

log = logging.getLogger("cnnlstm.train")


class Progress:
    """Shows training progress; ``mode`` is ``auto`` (bar if stdout is a terminal), ``bar``, ``log``
    or ``quiet`` (nothing: the other ranks of a distributed run)."""

    def __init__(self, total: int | None, initial: int = 0, mode: str = "auto") -> None:
        self.quiet = mode == "quiet"
        use_bar = mode == "bar" or (mode == "auto" and sys.stdout.isatty())
        self.bar = tqdm(total=total, initial=initial, dynamic_ncols=True, unit="step") if use_bar else None
        self.total = total

    def update(self, step: int, values: dict[str, float]) -> None:
        """Report ``values`` at ``step``; called at log intervals only."""
        if self.quiet:
            return
        text = {k.split("/")[-1]: f"{v:.4g}" for k, v in values.items()}
        if self.bar is not None:
            self.bar.n = step
            self.bar.set_postfix(text, refresh=True)
        else:
            total = f"/{self.total}" if self.total else ""
            log.info("step %d%s %s", step, total, " ".join(f"{k}={v}" for k, v in text.items()))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
