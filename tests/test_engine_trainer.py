"""The trainer's debugging options and declared arguments, through real tiny runs."""

import json

import pytest
from conftest import TINY_SQUARES, compose_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from cnnlstm.engine.builder import build
from cnnlstm.engine.run import train
from cnnlstm.errors import ConfigError


def test_overfit_batches_trains_on_the_same_batches_until_the_loss_is_near_zero(tmp_path):
    cfg = compose_config(*TINY_SQUARES, "trainer.overfit_batches=1", "trainer.max_epochs=60",
                         "trainer.log_every_n_steps=1", "trainer.val_every_n_steps=60", "optimizer.lr=0.02")
    metrics = train(cfg, tmp_path)
    assert metrics["steps"] == 60 and metrics["epochs"] == 60  # one batch per epoch
    losses = [e.value for e in EventAccumulator(str(tmp_path)).Reload().Scalars("train/loss")]
    assert losses[-1] < 0.05 < losses[0]


def test_limit_eval_batches_caps_validation_and_test(tmp_path, monkeypatch):
    from cnnlstm.data.moving_squares import MovingSquares

    seen = []
    batches = MovingSquares.batches

    def counting(self, split, *args, **kwargs):
        for batch in batches(self, split, *args, **kwargs):
            seen.append((split, batch["y"].shape[0]))
            yield batch

    monkeypatch.setattr(MovingSquares, "batches", counting)
    cfg = compose_config(*TINY_SQUARES, "trainer.max_steps=2", "logger=none", "data.eval_batch_size=8",
                         "trainer.limit_eval_batches=2")
    train(cfg, tmp_path)
    assert [s for s in seen if s[0] == "val"] == [("val", 8)] * 2
    assert [s for s in seen if s[0] == "test"] == [("test", 8)] * 4  # metrics, then the confusion report


def test_profile_writes_a_trace_for_tensorboard(tmp_path):
    cfg = compose_config(*TINY_SQUARES, "trainer.max_steps=6", "trainer.profile=true")
    train(cfg, tmp_path)
    traces = list((tmp_path).glob("*.pt.trace.json"))
    assert len(traces) == 1 and "traceEvents" in json.loads(traces[0].read_text())


@pytest.mark.parametrize("override,message", [
    ("trainer.max_epochs=0", "trainer.max_epochs must be >= 1, got 0"),
    ("trainer.log_every_n_steps=abc", "trainer.log_every_n_steps must be an integer, got 'abc'"),
    ("trainer.monitor_mode=up", "trainer.monitor_mode must be one of ['min', 'max'], got 'up'"),
    ("trainer.ema_decay=1", "trainer.ema_decay must be in (0, 1), got 1"),
    ("trainer.channels_last=1", "trainer.channels_last must be true or false, got 1"),
    ("+trainer.max_step=3", "trainer.max_step is not an argument of Trainer"),
])
def test_bad_trainer_values_are_one_line_naming_the_key(override, message):
    with pytest.raises(ConfigError) as e:
        build(compose_config(*TINY_SQUARES, override).trainer, "trainer")
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_by_default_every_run_logs_a_curve_of_about_50_points(tmp_path):
    cfg = compose_config(*TINY_SQUARES, "trainer.log_every_n_steps=null", "trainer.max_epochs=-1",
                         "trainer.max_steps=100")
    train(cfg, tmp_path)
    losses = EventAccumulator(str(tmp_path)).Reload().Scalars("train/loss")
    assert len(losses) == 50 and [e.step for e in losses[:3]] == [2, 4, 6]
