"""Learning-rate schedules stepped once per optimizer step; each takes ``total_steps``.

Configs build them as partials (``_partial_: true``); the run calls them with the optimizer and
the run's number of optimizer steps, which only the trainer knows. Argument errors start with the
argument's name, so the run reports them as ``scheduler.<name> ...``.
"""

import math
from typing import Annotated

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from cnnlstm.arguments import NonNegativeInt, PositiveInt, UnitInterval, checked, within

Decay = Annotated[float, within(0, 1, low_open=True, high_open=False)]  # a factor that lowers the rate (1: keeps it): (0, 1]


@checked
def constant(optimizer: Optimizer, total_steps: int, warmup_steps: NonNegativeInt = 0) -> LambdaLR:
    """Linear warm-up over ``warmup_steps``, then the optimizer's learning rate."""
    warmup = warmup_steps
    return LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0)


@checked
def cosine(optimizer: Optimizer, total_steps: int, warmup_steps: NonNegativeInt = 0,
           min_lr_ratio: UnitInterval = 0.0) -> LambdaLR:
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` times the base rate at ``total_steps``
    (a ratio above 1 would raise the rate as it "decays")."""
    warmup, floor = warmup_steps, min_lr_ratio

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


@checked
def step_decay(optimizer: Optimizer, total_steps: int, step_size: PositiveInt = 1000, gamma: Decay = 0.5) -> LambdaLR:
    """Multiply the rate by ``gamma`` (in (0, 1]: a decay) every ``step_size`` optimizer steps."""
    return LambdaLR(optimizer, lambda step: gamma ** (step // step_size))
