"""The trainer's loop state: where training is, and what early stopping has seen."""

import contextlib
import time
from dataclasses import asdict, dataclass

import torch


@dataclass
class FitState:
    """Everything besides tensors that a resumed run needs to continue exactly."""

    step: int = 0  # batches trained on (micro-batches when accumulating gradients)
    epoch: int = 0
    batch_in_epoch: int = 0  # position in the current epoch, for mid-epoch resume
    best_score: float | None = None
    bad_validations: int = 0  # validations without improvement, for early stopping
    last_val_step: int = -1
    stopped_early: bool = False
    train_seconds: float = 0.0
    train_samples: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


class IntervalStats:
    """Training statistics accumulated on the device between two log intervals (no per-step sync): what each log line reports."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.reset()

    def reset(self) -> None:
        zero = torch.zeros((), device=self.device)
        self.loss_sum, self.grad_norm_sum, self.nonfinite = zero.clone(), zero.clone(), zero.clone()
        self.batches, self.optimizer_steps, self.samples = 0, 0, 0
        self._started, self._paused = time.perf_counter(), 0.0

    @property
    def seconds(self) -> float:
        """Training time since the last reset, without the time spent in :meth:`paused` blocks."""
        return time.perf_counter() - self._started - self._paused

    @contextlib.contextmanager
    def paused(self):
        """Leave the enclosed work (validation, checkpointing) out of the throughput."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - start

    def add_loss(self, loss: torch.Tensor, samples: int) -> None:
        loss = loss.detach().float()
        self.loss_sum += loss
        self.nonfinite += (~torch.isfinite(loss)).float()
        self.batches += 1
        self.samples += samples

    def add_grad_norm(self, norm: torch.Tensor) -> None:
        self.grad_norm_sum += norm.detach().float()
        self.optimizer_steps += 1

    def has_nonfinite(self) -> bool:
        return bool(self.nonfinite.item() > 0)

    def summary(self) -> dict[str, float]:
        """Mean loss and grad norm, and throughput, over the window (syncs with the device)."""
        out = {"train/loss": (self.loss_sum / max(self.batches, 1)).item()}
        if self.optimizer_steps:
            out["train/grad_norm"] = (self.grad_norm_sum / self.optimizer_steps).item()
        seconds = self.seconds  # read once: the property moves with the clock
        if seconds > 0:
            out["train/samples_per_s"] = self.samples / seconds
        return out
