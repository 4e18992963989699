"""Resume safety: the same model, data and task as the checkpoint, nothing rewritten when refused."""

import json

import pytest
from conftest import TINY_SQUARES, compose_config

from cnnlstm.engine.checkpoint import load_checkpoint
from cnnlstm.engine.resume import check_position, config_differences, resume_command
from cnnlstm.engine.run import train
from cnnlstm.errors import CheckpointError, ConfigError

COMMON = [*TINY_SQUARES, "logger=none"]


def snapshot(run_dir):
    return {p.relative_to(run_dir): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_config_differences_name_the_keys():
    saved = {"data": {"n_train": 3200, "root": "/a"}, "model": {"hidden": 8}, "trainer": {"max_epochs": 1}}
    current = {"data": {"n_train": 5000, "root": "/b"}, "model": {"hidden": 8}, "trainer": {"max_epochs": 9}}
    assert config_differences(saved, current) == ["data.n_train=5000 (checkpoint: 3200)"]
    newer = current | {"model": {"hidden": 8, "added_since": 1}}  # an option added after the checkpoint
    assert config_differences(saved, newer) == ["data.n_train=5000 (checkpoint: 3200)"]
    assert config_differences(saved, current | {"model": {}}) == ["data.n_train=5000 (checkpoint: 3200)",
                                                                  "model.hidden=<unset> (checkpoint: 8)"]


def test_position_outside_the_epoch_is_refused(tmp_path):
    check_position(49, 50, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match="batch 90 of an epoch.*50 batches per epoch"):
        check_position(90, 50, tmp_path / "last.pt")


def test_resume_command_repeats_the_run_overrides(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("- data.n_train=3200\n- model=cldnn\n- hydra.run.dir=x\n")
    assert resume_command(tmp_path) == f"python train.py data.n_train=3200 model=cldnn hydra.run.dir={tmp_path}"


def test_resume_with_other_settings_is_refused_before_anything_is_written(tmp_path):
    train(compose_config(*COMMON, "trainer.max_steps=2"), tmp_path)
    before = snapshot(tmp_path)
    for override in ("model.hidden_size=7", "data.batch_size=16", "data.n_train=128"):
        with pytest.raises(CheckpointError, match=f"differs in {override}"):
            train(compose_config(*COMMON, "trainer.max_steps=4", override), tmp_path)
    assert snapshot(tmp_path) == before


def test_rerunning_a_finished_run_keeps_its_results(tmp_path):
    metrics = train(compose_config(*COMMON, "trainer.max_steps=2"), tmp_path)
    before = snapshot(tmp_path)
    assert train(compose_config(*COMMON, "trainer.max_steps=2"), tmp_path) == json.loads(json.dumps(metrics))
    assert snapshot(tmp_path) == before
    more = train(compose_config(*COMMON, "trainer.max_steps=4"), tmp_path)  # a longer run goes on training
    assert more["steps"] == 4


def test_accumulation_steps_on_the_last_batch_and_validates(tmp_path):
    metrics = train(compose_config(*COMMON, "trainer.max_steps=4", "trainer.accumulate_grad_batches=3"), tmp_path)
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert metrics["steps"] == 4 and "best/val/loss" in metrics
    assert int(ckpt["optimizer"]["state"][0]["step"]) == 2  # after batch 3 and after the partial 4th


@pytest.mark.parametrize("overrides,message", [
    (["data.batch_size=300", "data.drop_last=true"], r"training split \(256 samples\) gives no batch"),
    (["trainer.monitor=val/accc"], r"trainer.monitor=val/accc is not a validation metric.*val/acc"),
    (["trainer.activation_checkpointing=Foo"], r"CNNLSTM has no submodule of the classes \[.Foo.\]; name some of its own: .*TimeDistributed"),
])
def test_bad_settings_fail_before_training(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        train(compose_config(*COMMON, *overrides), tmp_path)
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("max_steps,batches,accumulate,steps", [(7, 10, 4, 2), (25, 10, 4, 8), (20, 10, 3, 8), (4, 20, 3, 2)])
def test_the_schedule_counts_every_optimizer_step(max_steps, batches, accumulate, steps):
    from cnnlstm.engine.trainer import Trainer

    trainer = Trainer(max_epochs=-1, max_steps=max_steps, device="cpu", accumulate_grad_batches=accumulate)
    assert trainer.optimizer_steps(batches) == steps
