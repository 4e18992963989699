"""Scheduler arguments are checked when the run builds the schedule, naming ``scheduler.<key>``."""

import pytest
import torch
from conftest import compose_config

from cnnlstm.engine.builder import build_scheduler
from cnnlstm.errors import ConfigError


def optimizer():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)


@pytest.mark.parametrize("overrides,message", [
    (["scheduler=cosine", "scheduler.min_lr_ratio=2"], r"^scheduler\.min_lr_ratio must be in \[0, 1\], got 2$"),
    (["scheduler=cosine", "scheduler.min_lr_ratio=-0.5"], r"^scheduler\.min_lr_ratio must be in \[0, 1\], got -0.5$"),
    (["scheduler=cosine", "scheduler.warmup_steps=-1"], r"^scheduler\.warmup_steps must be >= 0"),
    (["scheduler=constant", "scheduler.warmup_steps=1.5"], r"^scheduler\.warmup_steps must be an integer"),
    (["scheduler=step", "scheduler.gamma=3"], r"^scheduler\.gamma must be in \(0, 1\], got 3$"),
    (["scheduler=step", "scheduler.gamma=0"], r"^scheduler\.gamma must be in \(0, 1\], got 0$"),
    (["scheduler=step", "scheduler.step_size=0"], r"^scheduler\.step_size must be >= 1"),
])
def test_bad_scheduler_arguments_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_scheduler(compose_config(*overrides).scheduler, optimizer(), total_steps=10)


@pytest.mark.parametrize("overrides,final_lr", [(["scheduler=cosine", "scheduler.min_lr_ratio=1"], 0.1),
                                                (["scheduler=cosine", "scheduler.min_lr_ratio=0"], 0.0),
                                                (["scheduler=step", "scheduler.gamma=1"], 0.1)])
def test_boundary_values_are_accepted(overrides, final_lr):
    opt = optimizer()
    schedule = build_scheduler(compose_config(*overrides).scheduler, opt, total_steps=10)
    for _ in range(10):
        opt.step()
        schedule.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(final_lr, abs=1e-9)
