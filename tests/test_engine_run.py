"""End-to-end runs through Hydra's compose API: the run-directory contract, learning, resume, eval."""

import json
import logging

import pytest
import torch
from conftest import TINY_SQUARES, compose_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from cnnlstm.engine.builder import build
from cnnlstm.engine.checkpoint import load_checkpoint
from cnnlstm.engine.run import build_parts, evaluate, train
from cnnlstm.errors import CheckpointError, ConfigError


@pytest.fixture(scope="module")
def tutorial_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    cfg = compose_config(*TINY_SQUARES, "trainer.max_epochs=2", "trainer.val_every_n_steps=2")
    return run_dir, train(cfg, run_dir)


def untrained_metrics(cfg) -> dict[str, float]:
    torch.manual_seed(cfg.seed)
    trainer = build(cfg.trainer, "trainer")
    data, task, model = build_parts(cfg, trainer.device)
    return trainer.evaluate(model, task, data, "test")


def test_run_directory_contract(tutorial_run):
    run_dir, metrics = tutorial_run
    assert "Total params" in (run_dir / "model_summary.txt").read_text()
    for name in ("last.pt", "best.pt"):
        ckpt = torch.load(run_dir / "checkpoints" / name, weights_only=True)
        assert {"model", "optimizer", "scheduler", "scaler", "rng", "state", "config"} <= set(ckpt)
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved == pytest.approx(metrics)
    for key in ("test/acc", "test/loss", "fit_seconds", "train_samples_per_s"):
        assert isinstance(saved[key], float)


def test_tensorboard_has_scalars_graph_and_hparams(tutorial_run):
    run_dir, _ = tutorial_run
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0}).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/grad_norm", "train/samples_per_s", "val/loss", "val/acc",
            "~final/test/acc", "~final/best/val/loss", "~final/epochs"} <= tags
    # TensorBoard's Time Series sorts the groups by name and opens the first: the curves come first
    assert sorted({tag.split("/")[0] for tag in tags})[:2] == ["train", "val"]
    assert events.Graph() is not None
    plugins = events.PluginTagToContent("hparams")
    assert "_hparams_/experiment" in plugins and "_hparams_/session_start_info" in plugins


def test_accuracy_rises(tutorial_run):
    run_dir, metrics = tutorial_run
    events = EventAccumulator(str(run_dir)).Reload()
    val_loss = [e.value for e in events.Scalars("val/loss")]
    assert len(val_loss) == 8 and val_loss[-1] < 0.5 * val_loss[0]
    before = untrained_metrics(compose_config(*TINY_SQUARES))
    assert before["test/acc"] < 0.7 and metrics["test/acc"] >= 0.95


def test_eval_any_batch_size_gives_the_same_answers(tutorial_run, tmp_path):
    run_dir, metrics = tutorial_run
    ckpt = run_dir / "checkpoints" / "best.pt"
    one = evaluate(ckpt, ["data.eval_batch_size=1", "data.batch_size=1"], tmp_path / "b1")
    many = evaluate(ckpt, ["data.eval_batch_size=64"], tmp_path / "b64")
    assert one["test/acc"] == many["test/acc"] == metrics["test/acc"]
    assert one["test/loss"] == pytest.approx(many["test/loss"], abs=1e-6)
    assert json.loads((tmp_path / "b1" / "metrics.json").read_text())["test/acc"] == one["test/acc"]


def test_eval_rejects_bad_override(tutorial_run, tmp_path):
    run_dir, _ = tutorial_run
    with pytest.raises(ConfigError, match="data.batch_size"):
        evaluate(run_dir / "checkpoints" / "best.pt", ["data.batch_size=0"], tmp_path)
    with pytest.raises(ConfigError, match="hydra.run.dir: the checkpoint's config has no such key"):
        evaluate(run_dir / "checkpoints" / "best.pt", ["hydra.run.dir=x"], tmp_path)
    with pytest.raises(ConfigError, match="data=mnist: eval.py rebuilds the run's own data"):
        evaluate(run_dir / "checkpoints" / "best.pt", ["data=mnist"], tmp_path)
    evaluate(run_dir / "checkpoints" / "best.pt", ["seed=1"], tmp_path / "seeded")  # a top-level value is fine
    assert not (tmp_path / "metrics.json").exists()
    assert (tmp_path / "seeded" / "metrics.json").exists()
    before = (run_dir / "metrics.json").read_bytes()
    with pytest.raises(ConfigError, match="is a training run; its metrics.json would be replaced"):
        evaluate(run_dir / "checkpoints" / "best.pt", [], run_dir)
    assert (run_dir / "metrics.json").read_bytes() == before


def final_weights(run_dir):
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def test_resume_equals_uninterrupted(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    common = [*TINY_SQUARES, "data.n_train=128", "model.dropout=0.3", "model.head_hidden=[8]",
              "logger=none", "trainer.max_epochs=-1"]
    train(compose_config(*common, "trainer.max_steps=10"), tmp_path / "straight")
    train(compose_config(*common, "trainer.max_steps=5"), tmp_path / "split")  # stops mid-epoch
    assert load_checkpoint(tmp_path / "split/checkpoints/last.pt")["state"]["batch_in_epoch"] == 1
    caplog.clear()
    train(compose_config(*common, "trainer.max_steps=10"), tmp_path / "split")  # continues from last.pt
    assert "resumed from" in caplog.text and "at step 5" in caplog.text
    straight, resumed = final_weights(tmp_path / "straight"), final_weights(tmp_path / "split")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
    # an explicit trainer.resume path from another directory continues the same way
    caplog.clear()
    with pytest.raises(ConfigError, match="holds an earlier run's results"):  # never replaced silently
        train(compose_config(*common, "trainer.max_steps=10", "trainer.resume=false"), tmp_path / "split")
    train(compose_config(*common, "trainer.max_steps=10", "trainer.resume=false", "trainer.overwrite=true"),
          tmp_path / "split")
    assert "resumed from" not in caplog.text  # resume=false starts afresh
    (aside,) = (tmp_path / "split" / "replaced").iterdir()  # the earlier results, moved aside whole
    assert torch.equal(load_checkpoint(aside / "checkpoints/last.pt")["model"]["lstm.weight_hh_l0"],
                       resumed["lstm.weight_hh_l0"])
    train(compose_config(*common, "trainer.max_steps=10",
                         f"trainer.resume={tmp_path / 'straight/checkpoints/last.pt'}"), tmp_path / "copy")
    assert all(torch.equal(straight[k], v) for k, v in final_weights(tmp_path / "copy").items())


def test_resume_from_a_checkpoint_of_another_model_is_refused(tmp_path):
    common = [*TINY_SQUARES, "logger=none", "trainer.max_steps=2"]
    train(compose_config(*common), tmp_path / "a")
    with pytest.raises(CheckpointError, match=r"differs in model.hidden_size=7 \(checkpoint: 16\)"):
        train(compose_config(*common, "model.hidden_size=7",
                             f"trainer.resume={tmp_path / 'a/checkpoints/last.pt'}"), tmp_path / "b")
    ckpt = load_checkpoint(tmp_path / "a/checkpoints/last.pt")
    torch.save(ckpt | {"config": {}}, tmp_path / "bare.pt")  # no config to compare: the weights decide
    with pytest.raises(CheckpointError, match=r"does not fit this run's model: size mismatch for lstm"):
        train(compose_config(*common, "model.hidden_size=7", f"trainer.resume={tmp_path / 'bare.pt'}"),
              tmp_path / "c")
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_early_stopping(tmp_path):
    common = [*TINY_SQUARES, "logger=none", "trainer.max_epochs=50", "trainer.val_every_n_steps=1",
              "trainer.early_stopping_patience=2", "optimizer.lr=1e-12"]
    metrics = train(compose_config(*common), tmp_path / "es")
    assert metrics["steps"] < 20
    assert load_checkpoint(tmp_path / "es/checkpoints/last.pt")["state"]["step"] == metrics["steps"]  # no extra step


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from cnnlstm.engine.trainer import TrainingDiverged
    from cnnlstm.tasks import Classification

    common = [*TINY_SQUARES, "logger=none", "trainer.max_epochs=4", "trainer.log_every_n_steps=1"]
    train(compose_config(*common, "trainer.max_epochs=1"), tmp_path)
    good = load_checkpoint(tmp_path / "checkpoints/last.pt")
    loss, calls = Classification.loss, []

    def poisoned(self, outputs, batch):
        calls.append(1)
        return loss(self, outputs, batch) * (float("nan") if len(calls) > 3 else 1.0)

    monkeypatch.setattr(Classification, "loss", poisoned)
    with pytest.raises(TrainingDiverged, match="NaN"):
        train(compose_config(*common), tmp_path)
    kept = load_checkpoint(tmp_path / "checkpoints/last.pt")
    assert kept["state"] == good["state"]
    assert all(torch.equal(kept["model"][k], v) for k, v in good["model"].items())


def test_classification_runs_write_a_confusion_matrix_and_per_class_accuracy(tutorial_run):
    import pandas as pd

    run_dir, metrics = tutorial_run
    confusion = pd.read_csv(run_dir / "confusion.csv", index_col=0)
    assert confusion.shape == (2, 2) and int(confusion.to_numpy().sum()) == 64  # data.n_test
    assert confusion.to_numpy().trace() / 64 == pytest.approx(metrics["test/acc"])
    per_class = pd.read_csv(run_dir / "per_class.csv")
    assert list(per_class.columns) == ["class", "n", "acc"] and per_class.n.sum() == 64
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0}).Reload()
    assert "~final/test_confusion" in events.Tags()["images"]
