"""The moving average of the weights: its arithmetic, and a run that validates, tests and resumes with it."""

import pytest
import torch
from conftest import TINY_SQUARES, compose_config
from torch import nn

from cnnlstm.engine.builder import build
from cnnlstm.engine.checkpoint import load_checkpoint
from cnnlstm.engine.ema import WeightAverage, inference_weights, warmed_up_decay
from cnnlstm.engine.run import build_parts, evaluate, train
from cnnlstm.errors import ConfigError


def test_average_follows_the_warmed_up_decay():
    net = nn.Linear(1, 1, bias=False)
    net.weight.data.fill_(0.0)
    ema = WeightAverage(net, decay=0.5)
    expected = 0.0
    for step, value in enumerate([10.0, 20.0, 30.0, 40.0]):
        net.weight.data.fill_(value)
        ema.update(net)
        decay = warmed_up_decay(0.5, step)
        expected = decay * expected + (1 - decay) * value
        assert ema.module.weight.item() == pytest.approx(expected)
    assert warmed_up_decay(0.5, 0) == pytest.approx(0.1) and warmed_up_decay(0.5, 100) == 0.5
    assert not ema.module.weight.requires_grad


def test_state_dict_round_trip_and_buffers_follow_the_model():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = WeightAverage(net, decay=0.9)
    net(torch.randn(4, 2))  # moves the running stats and num_batches_tracked
    ema.update(net)
    assert ema.module[1].num_batches_tracked.item() == 1
    assert torch.equal(ema.module[1].running_mean, net[1].running_mean)
    copy = WeightAverage(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)), decay=0.9)
    copy.load_state_dict(ema.state_dict())
    assert copy.updates == 1
    for key, value in ema.module.state_dict().items():
        assert torch.equal(copy.module.state_dict()[key], value), key
    assert inference_weights({"model": {}, "ema": ema.state_dict()}).keys() == net.state_dict().keys()
    assert inference_weights({"model": {"w": 1}}) == {"w": 1}


def test_bad_decay_is_one_error():
    with pytest.raises(ConfigError, match="ema_decay must be in"):
        build(compose_config("trainer.ema_decay=1.5").trainer, "trainer")


COMMON = [*TINY_SQUARES, "data.n_train=128", "logger=none", "trainer.max_epochs=-1", "trainer.ema_decay=0.8"]


def test_run_validates_tests_and_resumes_with_the_average(tmp_path):
    metrics = train(compose_config(*COMMON, "trainer.max_steps=8"), tmp_path / "straight")
    ckpt = load_checkpoint(tmp_path / "straight/checkpoints/last.pt")
    assert ckpt["ema"]["updates"] == 8
    averaged, raw = inference_weights(ckpt), ckpt["model"]
    assert averaged.keys() == raw.keys() and any(not torch.equal(averaged[k], raw[k]) for k in raw)
    # the test metrics are the average's: eval.py on the checkpoint gives the same numbers
    best = tmp_path / "straight/checkpoints/best.pt"
    again = evaluate(best, [], tmp_path / "eval")
    assert again["test/acc"] == pytest.approx(metrics["test/acc"])
    assert again["test/loss"] == pytest.approx(metrics["test/loss"], rel=1e-5)
    cfg = compose_config(*COMMON, "trainer.max_steps=8")
    trainer = build(cfg.trainer, "trainer")
    data, task, model = build_parts(cfg, trainer.device)
    model.load_state_dict(load_checkpoint(best)["model"])
    assert trainer.evaluate(model, task, data, "test")["test/loss"] != pytest.approx(metrics["test/loss"], rel=1e-5)
    # stopping at step 4 and resuming gives the very same average as the straight run
    train(compose_config(*COMMON, "trainer.max_steps=4"), tmp_path / "split")
    train(compose_config(*COMMON, "trainer.max_steps=8"), tmp_path / "split")
    resumed = load_checkpoint(tmp_path / "split/checkpoints/last.pt")["ema"]
    for key, value in ckpt["ema"].items():
        assert torch.equal(torch.as_tensor(resumed[key]), torch.as_tensor(value)), key


def test_switching_the_average_on_for_a_run_without_one(tmp_path, caplog):
    plain = [o for o in COMMON if not o.startswith("trainer.ema_decay")]
    train(compose_config(*plain, "trainer.max_steps=4"), tmp_path)
    caplog.set_level("INFO")
    train(compose_config(*COMMON, "trainer.max_steps=8"), tmp_path)
    assert "starts from the resumed weights" in caplog.text
    assert load_checkpoint(tmp_path / "checkpoints/last.pt")["ema"]["updates"] == 4
