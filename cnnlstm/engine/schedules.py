"""Learning-rate schedules stepped once per optimizer step; each takes ``total_steps``.

Configs build them as partials (``_partial_: true``); the run calls them with the optimizer and
the run's number of optimizer steps, which only the trainer knows. Argument errors start with the
argument's name, so the run reports them as ``scheduler.<name> ...``.
"""

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from cnnlstm.checks import positive_int, unit_interval


def constant(optimizer: Optimizer, total_steps: int, warmup_steps: int = 0) -> LambdaLR:
    """Linear warm-up over ``warmup_steps``, then the optimizer's learning rate."""
    warmup = positive_int("warmup_steps", warmup_steps, allow_zero=True)
    return LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0)


def cosine(optimizer: Optimizer, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.0) -> LambdaLR:
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` times the base rate at ``total_steps``."""
    warmup = positive_int("warmup_steps", warmup_steps, allow_zero=True)
    floor = unit_interval("min_lr_ratio", min_lr_ratio)  # > 1 would raise the rate as it "decays"

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def step_decay(optimizer: Optimizer, total_steps: int, step_size: int = 1000, gamma: float = 0.5) -> LambdaLR:
    """Multiply the rate by ``gamma`` (in (0, 1]: a decay) every ``step_size`` optimizer steps."""
    size = positive_int("step_size", step_size)
    g = unit_interval("gamma", gamma, allow_zero=False)
    return LambdaLR(optimizer, lambda step: g ** (step // size))
