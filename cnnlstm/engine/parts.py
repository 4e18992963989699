"""What a checkpoint holds besides the loop state: the model, its optimizer, schedule, scaler, average.

Named fields rather than a dict of strings: the loop reads ``parts.optimizer``; the checkpoint's
keys (``model``, ``optimizer``, ``scheduler``, ``scaler``, ``ema``) come from :meth:`state_dicts`.
"""

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlstm.engine.checkpoint import load_weights
from cnnlstm.engine.ema import WeightAverage
from cnnlstm.engine.precision import grad_scaler
from cnnlstm.engine.rng import rng_state
from cnnlstm.engine.state import FitState

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


@dataclass
class TrainingParts:
    """The trained state of a run: what :meth:`checkpoint` saves and :meth:`load` resumes."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    ema: WeightAverage | None = None

    @classmethod
    def create(cls, model: nn.Module, optimizer, scheduler, precision: str, device: torch.device,
               ema_decay: float | None) -> "TrainingParts":
        ema = WeightAverage(model, ema_decay) if ema_decay is not None else None
        return cls(model, optimizer, scheduler, grad_scaler(precision, device), ema)

    @property
    def inference_model(self) -> nn.Module:
        """The weights that are validated, tested and exported: the average when there is one."""
        return self.ema.module if self.ema is not None else self.model

    def optimizer_step(self, grad_clip: float | None, schedule: bool = True) -> torch.Tensor:
        """Unscale, clip, step, zero the gradients, advance the schedule (unless ``schedule`` is
        false: the trainer advances it once per batch when a task updates per chunk) and the
        average; returns the gradient norm before clipping (a device tensor: no sync)."""
        self.scaler.unscale_(self.optimizer)
        params = [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip or math.inf, foreach=True)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if schedule:
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        return norm

    def state_dicts(self) -> dict[str, dict]:
        named = {"model": self.model, "optimizer": self.optimizer, "scheduler": self.scheduler,
                 "scaler": self.scaler, "ema": self.ema}
        return {name: part.state_dict() for name, part in named.items() if part is not None}

    def checkpoint(self, state: FitState, config: dict | None, overrides: list[str] | None) -> dict:
        """A self-describing checkpoint: tensors and plain values only (loads with ``weights_only``)."""
        extra = {} if overrides is None else {"overrides": list(overrides)}
        return self.state_dicts() | {"rng": rng_state(), "state": state.to_dict(), "config": config or {},
                                     "format": CHECKPOINT_FORMAT} | extra

    def load(self, ckpt: dict, path: Path) -> None:
        """Resume every part from ``ckpt`` (the model's weights first: a mismatch names the key)."""
        for name in ("model", "optimizer", "scheduler", "scaler"):
            load_weights(getattr(self, name), ckpt.get(name, {}), path, name)
        if self.ema is not None and "ema" not in ckpt:  # averaging switched on for a run that had none
            self.ema.reset(self.model)
            log.info("%s has no moving average: it starts from the resumed weights", path)
        elif self.ema is not None:
            load_weights(self.ema, ckpt["ema"], path, "ema")
