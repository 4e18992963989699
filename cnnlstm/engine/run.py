"""A whole training or evaluation run: build the parts, resume them, fit, test, write the run directory.

``train.py`` calls :func:`run_job` with :func:`train`; tests call :func:`train` and
:func:`evaluate` directly with a composed config and a temporary run directory. Everything that
could refuse the run (bad values, a resume that does not fit) happens before the first write.
"""

import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from cnnlstm.engine.allocator import keep_freed_memory
from cnnlstm.engine.atomic import write_json
from cnnlstm.engine.builder import build, build_model, build_optimizer, build_scheduler
from cnnlstm.engine.checkpoint import load_checkpoint, load_trained_model, load_weights, stored_config
from cnnlstm.engine.config_keys import flatten
from cnnlstm.engine.distributed import Distributed
from cnnlstm.engine.ema import inference_weights
from cnnlstm.engine.loggers import NullLogger
from cnnlstm.engine.parts import TrainingParts
from cnnlstm.engine.resume import check_same_config, command_overrides, loop_state, resume_path
from cnnlstm.engine.rng import seed_everything, set_rng_state
from cnnlstm.engine.signals import hand_over
from cnnlstm.engine.state import FitState
from cnnlstm.engine.summary import model_summary
from cnnlstm.engine.trainer import Trainer, TrainingInterrupted
from cnnlstm.errors import ConfigError, UserError, first_line

log = logging.getLogger("cnnlstm")


# --------------------------------------------------------------------------------- the Hydra job
def run_job(job: Callable[[DictConfig, Path], dict], cfg: DictConfig) -> float | None:
    """Call ``job(cfg, run_dir)`` in Hydra's run directory; return ``optimized_metric`` for sweepers.

    Bad input is one line and exit 2 (a crash keeps its traceback); in a multirun a failing job
    writes ``failure.json`` and returns None, so the sweep goes on (the Optuna sweeper marks the
    trial failed; NaN would stop the whole search).
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra = HydraConfig.get()
    run_dir, multirun = Path(hydra.runtime.output_dir), hydra.mode == RunMode.MULTIRUN
    try:
        metrics = job(cfg, run_dir)
    except TrainingInterrupted as e:
        log.warning("%s", e)
        hand_over(e.signum)  # e.g. submitit's requeue on SLURM preemption
        sys.exit(128 + e.signum)
    except Exception as e:
        line = f"error: {e}" if isinstance(e, UserError) else f"{type(e).__name__}: {first_line(e)}"
        if not multirun and not isinstance(e, UserError):
            raise
        if not multirun:
            print(line, file=sys.stderr)
            sys.exit(2)
        log.error("job failed: %s", traceback.format_exc() if not isinstance(e, UserError) else line)
        write_hydra_record(run_dir, cfg)  # the summary reads each job's overrides, failed ones too
        write_json(run_dir / "failure.json", {"error": line, "sweep": sweep_token(Path(hydra.sweep.dir))})
        return None
    if multirun:
        (run_dir / "failure.json").unlink(missing_ok=True)  # a rerun that succeeds clears an old failure
    name = cfg.get("optimized_metric")
    return float(metrics[name]) if name and name in metrics else None


def sweep_token(sweep_dir: Path) -> str | None:
    """The id of the sweep now writing ``sweep_dir`` (see :class:`cnnlstm.engine.hydra_callbacks.FailedJobsExit`)."""
    try:
        return (sweep_dir / ".sweep_id").read_text().strip()
    except OSError:
        return None


# --------------------------------------------------------------------------------- training
def build_parts(cfg: DictConfig, device: torch.device, rank: int = 0, world_size: int = 1):
    """The data (set up on ``device`` for this rank), the task and the model (on ``device``) of a config."""
    data = build(cfg.data, "data")
    data.setup(device, rank, world_size)
    task = build(cfg.task, "task")
    model = build_model(cfg.model, data.model_args)
    return data, task.to(device), model.to(device)


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, float]:
    """Train, test the chosen checkpoint, and write the run directory; returns the metrics.

    Under ``torchrun`` every rank trains on its share of each batch and only rank 0 writes.
    """
    if not isinstance(cfg.get("seed"), int):
        raise ConfigError(f"seed must be an integer, got {cfg.get('seed')!r}")
    seed_everything(cfg.seed)
    trainer: Trainer = build(cfg.trainer, "trainer")
    if trainer.device.type == "cpu" and int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        keep_freed_memory()  # single process only: not measured safe beside gloo's threads
    dist, trainer.device = Distributed.from_env(trainer.device)
    if not dist.is_main:
        logging.getLogger().setLevel(logging.WARNING)  # one copy of each log line, rank 0's
    try:
        return _train(cfg, Path(dist.broadcast(str(run_dir))), trainer, dist)
    finally:
        dist.close()


def _train(cfg: DictConfig, run_dir: Path, trainer: Trainer, dist: Distributed) -> dict[str, float]:
    data, task, model = build_parts(cfg, trainer.device, dist.rank, dist.world_size)
    config = OmegaConf.to_container(cfg, resolve=True)
    n_batches = check_trainable(cfg, data, task, trainer)
    optimizer = build_optimizer(cfg.optimizer, model.parameters())
    scheduler = build_scheduler(cfg.scheduler, optimizer, trainer.optimizer_steps(n_batches))
    parts = trainer.make_parts(model, optimizer, scheduler)
    state, rng = resume(trainer.resume, run_dir, parts, config, n_batches, trainer.device)  # nothing written yet
    if trainer.is_finished(state, n_batches) and (run_dir / "metrics.json").exists():
        return finished_metrics(run_dir)
    logger = start_run_directory(cfg, config, run_dir, model, task, data) if dist.is_main else NullLogger()
    try:
        if rng is not None:
            set_rng_state(rng)
        start = time.perf_counter()
        state = trainer.fit(parts, task, data, state, run_dir, logger, config, dist, overrides=command_overrides())
        fit_seconds = time.perf_counter() - start
        metrics = test(trainer, parts.model, task, data, run_dir) | {
            "fit_seconds": fit_seconds,
            "train_samples_per_s": state.train_samples / max(state.train_seconds, 1e-9),
            "steps": state.step,
            "epochs": state.epoch,
        } | ({f"best/{trainer.monitor}": state.best_score} if state.best_score is not None else {})
        if dist.is_main:
            write_json(run_dir / "metrics.json", metrics)
            logger.log_hparams(flatten(config), {k: float(v) for k, v in metrics.items()})
            log.info("wrote %s", run_dir / "metrics.json")
    finally:
        logger.close()
    log.info("test metrics: %s", " ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
    return metrics


def check_trainable(cfg: DictConfig, data, task, trainer: Trainer) -> int:
    """Checks of the whole run that no single constructor can make; returns the batches per epoch."""
    n_batches = trainer.batches_per_epoch(data)
    if n_batches < 1:
        drop_last = " with data.drop_last=true" if cfg.data.get("drop_last") else ""
        raise ConfigError(f"the training split ({data.split_size('train')} samples) gives no batch of "
                          f"data.batch_size={data.batch_size}{drop_last}")
    names = sorted(f"val/{name}" for name in task.metrics().keys())
    if data.split_size("val") and trainer.monitor not in names:
        raise ConfigError(f"trainer.monitor={trainer.monitor} is not a validation metric; choose one of {names}")
    task.check_data(data)
    return n_batches


def resume(setting, run_dir: Path, parts: TrainingParts, config: dict, n_batches: int,
           device: torch.device) -> tuple[FitState, dict | None]:
    """Load the checkpoint ``trainer.resume`` names (default: the run's own ``last.pt``) into the
    parts, once, after checking it was trained with this model, data and task; returns the loop
    state and the RNG state to continue with (a fresh state and None when starting afresh)."""
    path = resume_path(setting, run_dir)
    if path is None:
        return FitState(), None
    ckpt = load_checkpoint(path, map_location=device)
    check_same_config(ckpt, path, config)
    parts.load(ckpt, path)
    state = loop_state(ckpt, path, n_batches)
    log.info("resumed from %s at step %d (epoch %d)", path, state.step, state.epoch)
    return state, ckpt["rng"]


def finished_metrics(run_dir: Path) -> dict[str, float]:
    log.info("%s has finished training and holds metrics.json; nothing to do (delete metrics.json to test it "
             "again)", run_dir)
    return json.loads((run_dir / "metrics.json").read_text())


def start_run_directory(cfg: DictConfig, config: dict, run_dir: Path, model, task, data):
    """The run's record (``config.yaml``, ``.hydra/``, ``model_summary.txt``) and its logger."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(config))
    write_hydra_record(run_dir, cfg)
    args, kwargs = task.model_inputs(data.example_batch())
    log.info("model summary:\n%s", model_summary(model, args, kwargs, run_dir / "model_summary.txt"))
    logger = build(cfg.logger, "logger", log_dir=str(run_dir / "tb"))
    logger.log_graph(model, args)
    log.info("run directory: %s", run_dir)
    return logger


def write_hydra_record(run_dir: Path, cfg: DictConfig) -> None:
    """Hydra's record of the command (``.hydra/{config,hydra,overrides}.yaml``), written by the run
    once its checks passed (``hydra.output_subdir`` is null, so a refused command writes none)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    record, hydra = run_dir / ".hydra", HydraConfig.get()
    record.mkdir(parents=True, exist_ok=True)
    (record / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    (record / "overrides.yaml").write_text(yaml.safe_dump([str(o) for o in hydra.overrides.task]))
    (record / "hydra.yaml").write_text(OmegaConf.to_yaml({"hydra": hydra}))


def test(trainer: Trainer, model, task, data, run_dir: Path) -> dict[str, float]:
    """Score the test split once, with ``trainer.test_checkpoint`` (best, else last)."""
    if not data.split_size("test"):
        return {}
    chosen = run_dir / "checkpoints" / f"{trainer.test_checkpoint}.pt"
    path = chosen if chosen.exists() else run_dir / "checkpoints" / "last.pt"
    load_weights(model, inference_weights(load_checkpoint(path, map_location=trainer.device)), path)
    return trainer.evaluate(model, task, data, "test")


# --------------------------------------------------------------------------------- evaluation
def evaluate(ckpt_path: str | Path, overrides: list[str], out_dir: str | Path) -> dict[str, float]:
    """Rebuild the model from the config stored in a checkpoint and score it on the test split.

    ``overrides`` (``data.batch_size=1``, ``trainer.device=cpu`` ...) apply on top of the stored
    config; predictions do not depend on the batch size.
    """
    ckpt = load_checkpoint(ckpt_path)
    cfg = stored_config(ckpt, ckpt_path, "model", "data")
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
        raise ConfigError(f"bad override in {overrides}: {first_line(e)}") from None
    trainer = build(cfg.trainer, "trainer")
    data = build(cfg.data, "data")
    data.setup(trainer.device, 0, 1)
    task = build(cfg.task, "task").to(trainer.device)
    task.check_data(data)
    ckpt["config"] = OmegaConf.to_container(cfg, resolve=True)
    model, _ = load_trained_model(ckpt_path, data.model_args, trainer.device, ckpt=ckpt)
    metrics = trainer.evaluate(model, task, data, "test")
    write_json(out_dir / "metrics.json", metrics)
    return metrics
