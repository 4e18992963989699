"""A whole training or evaluation run: build the parts from the config, fit, test, write results.

``train.py`` and ``eval.py`` are thin Hydra wrappers around :func:`train` and :func:`evaluate`;
tests call these functions directly with a composed config and a temporary run directory.
"""

import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from cnnlstm.engine.allocator import keep_freed_memory
from cnnlstm.engine.builder import build, build_model, build_optimizer, build_scheduler
from cnnlstm.engine.checkpoint import load_checkpoint
from cnnlstm.engine.distributed import Distributed
from cnnlstm.engine.ema import inference_weights
from cnnlstm.engine.loggers import NullLogger
from cnnlstm.engine.resume import command_overrides
from cnnlstm.engine.rng import seed_everything
from cnnlstm.engine.summary import model_summary
from cnnlstm.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)


def build_parts(cfg: DictConfig, device: torch.device, rank: int = 0, world_size: int = 1):
    """The data (set up on ``device`` for this rank), the task and the model of a config."""
    data = build(cfg.data, "data")
    data.setup(device, rank, world_size)
    task = build(cfg.task, "task")
    model = build_model(cfg.model, data.model_args)
    return data, task, model


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, float]:
    """Train, test with the best checkpoint, and write the run directory; returns the metrics.

    Under ``torchrun`` every rank trains on its share of each batch and only rank 0 writes.
    """
    if not isinstance(cfg.get("seed"), int):
        raise ConfigError(f"seed must be an integer, got {cfg.get('seed')!r}")
    seed_everything(cfg.seed)
    trainer = build(cfg.trainer, "trainer")
    if trainer.device.type == "cpu" and int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        keep_freed_memory()  # single process only: not measured safe beside gloo's threads
    dist, trainer.device = Distributed.from_env(trainer.device)
    if not dist.is_main:
        logging.getLogger().setLevel(logging.WARNING)  # one copy of each log line, rank 0's
    try:
        return _train(cfg, Path(dist.broadcast(str(run_dir))), trainer, dist)
    finally:
        dist.close()


def _train(cfg: DictConfig, run_dir: Path, trainer, dist: Distributed) -> dict[str, float]:
    data, task, model = build_parts(cfg, trainer.device, dist.rank, dist.world_size)
    config = OmegaConf.to_container(cfg, resolve=True)
    n_batches = _check_trainable(cfg, data, task, trainer)
    model.to(trainer.device)
    optimizer = build_optimizer(cfg.optimizer, model.parameters())
    scheduler = build_scheduler(cfg.scheduler, optimizer, trainer.optimizer_steps(n_batches))
    resumed = trainer.check_resume(run_dir, model, config, n_batches)  # before anything is written
    if resumed is not None and trainer.finished(resumed, n_batches) and (run_dir / "metrics.json").exists():
        log.info("%s has finished training and holds metrics.json; nothing to do (delete metrics.json "
                 "to test it again)", run_dir)
        return json.loads((run_dir / "metrics.json").read_text())
    args, kwargs = task.model_inputs(data.example_batch())
    logger = NullLogger()
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(config))
        log.info("model summary:\n%s", model_summary(model, args, kwargs, run_dir / "model_summary.txt"))
        logger = build(cfg.logger, "logger", log_dir=str(run_dir / "tb"))
    try:
        logger.log_graph(model, args)
        start = time.perf_counter()
        log.info("run directory: %s", run_dir)
        state = trainer.fit(model, task, data, optimizer, scheduler, run_dir, logger, config, dist,
                            overrides=command_overrides())
        fit_seconds = time.perf_counter() - start
        test_ckpt = run_dir / "checkpoints" / f"{trainer.test_checkpoint}.pt"
        _load_weights(model, test_ckpt if test_ckpt.exists() else run_dir / "checkpoints" / "last.pt", trainer.device)
        metrics = trainer.evaluate(model, task, data, "test") if data.split_size("test") else {}
        metrics |= {
            "fit_seconds": fit_seconds,
            "train_samples_per_s": state.train_samples / max(state.train_seconds, 1e-9),
            "steps": state.step,
            "epochs": state.epoch,
        }
        if state.best_score is not None:
            metrics[f"best/{trainer.monitor}"] = state.best_score
        if dist.is_main:
            write_json(run_dir / "metrics.json", metrics)
            log.info("wrote %s", run_dir / "metrics.json")
            logger.log_hparams(flat_hparams(config), {k: float(v) for k, v in metrics.items()})
    finally:
        logger.close()
    log.info("test metrics: %s", " ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
    return metrics


def _check_trainable(cfg: DictConfig, data, task, trainer) -> int:
    """Checks of the whole run that no single constructor can make; returns the batches per epoch."""
    n_batches = data.num_batches("train")
    if n_batches < 1:
        drop_last = " with data.drop_last=true" if cfg.data.get("drop_last") else ""
        raise ConfigError(f"the training split ({data.split_size('train')} samples) gives no batch of "
                          f"data.batch_size={data.batch_size}{drop_last}")
    if data.split_size("val"):
        trainer.check_monitor(task)
    task.check_data(data)
    return n_batches


def evaluate(ckpt_path: str | Path, overrides: list[str], out_dir: str | Path) -> dict[str, float]:
    """Rebuild the model from the config stored in a checkpoint and score it on the test split.

    ``overrides`` (``data.batch_size=1``, ``trainer.device=cpu`` ...) apply on top of the stored
    config; predictions do not depend on the batch size.
    """
    ckpt = load_checkpoint(ckpt_path)
    cfg = OmegaConf.create(ckpt.get("config") or {})
    if "model" not in cfg or "data" not in cfg:
        raise CheckpointError(f"checkpoint {ckpt_path} carries no config; it was not written by cnnlstm train")
    for override in overrides:
        key = override.split("=", 1)[0]
        if key.split(".")[0] not in cfg:
            raise ConfigError(f"{key}: the checkpoint's config has no such key (it has {', '.join(cfg)}); "
                              "eval.py writes metrics.json to output_dir=DIR")
        if "." not in key and isinstance(cfg[key], Mapping):
            raise ConfigError(f"{override}: eval.py rebuilds the run's own {key}; it cannot swap a config group "
                              f"(override keys inside it, e.g. {key}.batch_size=...)")
    out_dir = Path(out_dir)
    if (out_dir / "checkpoints").is_dir():
        raise ConfigError(f"output_dir={out_dir} is a training run; its metrics.json would be replaced: "
                          "choose another output_dir")
    try:
        cfg.merge_with_dotlist(list(overrides))
    except Exception as e:
        raise ConfigError(f"bad override in {overrides}: {str(e).splitlines()[0]}") from None
    trainer = build(cfg.trainer, "trainer")
    data, task, model = build_parts(cfg, trainer.device)
    task.check_data(data)
    _load_weights(model, ckpt_path, trainer.device, ckpt)
    task.to(trainer.device)
    metrics = trainer.evaluate(model, task, data, "test")
    write_json(Path(out_dir) / "metrics.json", metrics)
    return metrics


def _load_weights(model, path: Path, device: torch.device, ckpt: dict | None = None) -> None:
    ckpt = ckpt or load_checkpoint(path, map_location=device)
    try:
        model.load_state_dict(inference_weights(ckpt))
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path} does not fit the model: {str(e).splitlines()[0]}") from None
    model.to(device)


def write_json(path: Path, obj: dict) -> None:
    """Write ``obj`` as JSON atomically (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def flat_hparams(config: dict, prefix: str = "") -> dict[str, object]:
    """Flatten a nested config into ``{"model.hidden_size": 50, ...}`` of TensorBoard-safe values."""
    flat: dict[str, object] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flat_hparams(value, f"{name}.")
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        elif value is None:
            flat[name] = "null"
        else:
            flat[name] = str(value)
    return flat
