"""A whole training or evaluation run: build the parts, resume them, fit, test, write the run directory.

``train.py`` calls :func:`run_job` with :func:`train`; tests call :func:`train` and
:func:`evaluate` directly with a composed config and a temporary run directory. Everything that
could refuse the run (bad values, a resume that does not fit) happens before the first write.
"""

import contextlib
import errno
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
from cnnlstm.engine.builder import (
    build,
    build_model,
    build_optimizer,
    build_scheduler,
    load_trained_model,
    stored_config,
)
from cnnlstm.engine.checkpoint import Checkpoints, load_checkpoint, load_weights
from cnnlstm.engine.distributed import Distributed
from cnnlstm.engine.ema import inference_weights
from cnnlstm.engine.hydra_callbacks import created_here, sweep_id
from cnnlstm.engine.loggers import NullLogger
from cnnlstm.engine.parts import TrainingParts
from cnnlstm.engine.resume import (
    check_same_config,
    command_overrides,
    flatten,
    loop_state,
    resume_command,
    resume_path,
)
from cnnlstm.engine.rng import seed_everything, set_rng_state
from cnnlstm.engine.run_lock import (
    LOCK_NAME,
    RunDirectoryBusy,
    make_room,
    refuse_linked_folders,
    run_directory_lock,
)
from cnnlstm.engine.run_log import accept_run_log
from cnnlstm.engine.signals import hand_over
from cnnlstm.engine.state import FitState
from cnnlstm.engine.summary import model_summary
from cnnlstm.engine.trainer import Trainer, TrainingInterrupted
from cnnlstm.errors import ConfigError, DataError, UserError, first_line
from cnnlstm.files import remove_leftovers, storage_error, write_atomic, write_json

log = logging.getLogger("cnnlstm")

# the top-level keys of conf/config.yaml: the parts of a run and the run's own settings
RUN_KEYS = ("seed", "optimized_metric", "trainer", "optimizer", "scheduler", "task", "data", "model", "logger")
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


# --------------------------------------------------------------------------------- the Hydra job
def run_job(job: Callable[[DictConfig, Path], dict], cfg: DictConfig, extra_keys: tuple[str, ...] = ()) -> float | None:
    """Call ``job(cfg, run_dir)`` in Hydra's run directory; return ``optimized_metric`` for sweepers.

    Bad input is one line and exit 2 (a crash keeps its traceback), and a run directory this
    command created is removed again when it holds nothing; in a multirun a failing job writes
    ``failure.json`` and returns None, so the sweep goes on (the Optuna sweeper marks the trial
    failed; NaN would stop the whole search).
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra = HydraConfig.get()
    run_dir, multirun = Path(hydra.runtime.output_dir), hydra.mode == RunMode.MULTIRUN
    try:
        if multirun:  # Hydra made the job's folder: a link there (or in it) was planted
            refuse_linked_folders(run_dir, itself=True)
        if multirun and not (run_dir / "config.yaml").exists():  # a new job's record from the start, as Hydra
            write_hydra_record(run_dir, cfg)  # writes it (a job killed early keeps it); an existing job's stays
        refuse_unknown_keys(cfg, [str(o) for o in hydra.overrides.task], extra_keys)
        name = selection_metric(cfg)
        metrics = job(cfg, run_dir)
        if name and name not in metrics:  # e.g. a run with no validation split has no best score
            raise ConfigError(f"optimized_metric={name} is not among the run's metrics ({', '.join(sorted(metrics))})")
    except TrainingInterrupted as e:
        log.warning("%s. Resume with: %s", e, resume_command(e.run_dir or run_dir, command_overrides()))
        hand_over(e.signum)  # e.g. submitit's requeue on SLURM preemption
        sys.exit(128 + e.signum)
    except Exception as e:
        if isinstance(e, OSError) and e.errno in DISK_ERRORS:  # e.g. a full disk under TensorBoard or an image
            e = storage_error(e, e.filename or run_dir)
        line = f"error: {e}" if isinstance(e, UserError) else f"{type(e).__name__}: {first_line(e)}"
        if not multirun:
            remove_if_unused(run_dir)
            if not isinstance(e, UserError):
                raise
            print(line, file=sys.stderr)
            sys.exit(2)
        return failed_job(e, line, run_dir)
    if multirun:
        (run_dir / "failure.json").unlink(missing_ok=True)  # a rerun that succeeds clears an old failure
    return float(metrics[name]) if name else None


def failed_job(error: Exception, line: str, run_dir: Path) -> None:
    """Record a sweep job's failure in its directory: ``failure.json``, or ``refused.json`` when the
    directory holds results (or another process is writing it) that the failure must not shadow;
    the summary reads failure.json, the sweep's exit code reads both, for its own sweep id only."""
    kept = (run_dir / "metrics.json").exists() or isinstance(error, RunDirectoryBusy)
    linked = run_dir.is_symlink() or (run_dir / ".hydra").is_symlink()
    if not kept and not linked:
        accept_run_log()  # the job's own directory: its log may keep the failure
    log.error("job failed: %s", traceback.format_exc() if not isinstance(error, UserError) else line)
    name = "refused.json" if kept else "failure.json"
    record = run_dir.parent / f"{run_dir.name}.{name}" if linked else run_dir / name  # never through a link
    with contextlib.suppress(UserError, OSError):  # on a full disk, the log line is all there is
        write_json(record, {"error": line, "sweep": sweep_id()})
    return None


def remove_if_unused(run_dir: Path) -> None:
    """Remove a run directory this command created (and the parents it created for it) when a
    refused run left nothing in it but its lock."""
    made = created_here(run_dir)
    with contextlib.suppress(OSError):
        if made and {p.name for p in run_dir.iterdir()} <= {LOCK_NAME}:
            (run_dir / LOCK_NAME).unlink(missing_ok=True)
            for folder in made:  # deepest first; one another process has filled meanwhile stays
                with contextlib.suppress(OSError):
                    folder.rmdir()


def selection_metric(cfg: DictConfig) -> str | None:
    """``optimized_metric``, what a sweeper chooses by: the best validation score of the run
    (``best/<trainer.monitor>``), never a test metric, so no hyper-parameter is chosen on the test
    split (the test split is scored once, at the end, and only reported)."""
    name, best = cfg.get("optimized_metric"), f"best/{cfg.trainer.get('monitor', 'val/loss')}"
    if name is not None and name != best:
        raise ConfigError(f"optimized_metric={name}: a sweep may only choose by the run's best validation score, "
                          f"{best} (best/${{trainer.monitor}}); the test split is for reporting")
    return name


def refuse_unknown_keys(cfg: DictConfig, overrides: list[str], extra_keys: tuple[str, ...] = ()) -> None:
    """A top-level key added on the command line (``+foo=1``, ``+foo.bar=1``) that nothing reads is an
    error naming it (config groups chosen with ``+group=name`` and keys from ``local/`` configs are
    not affected; keys inside a part, ``+model.x=1``, are checked by the constructor that takes them)."""
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+")
        top = key.split(".")[0]
        if override.startswith("+") and top in cfg and top not in (*RUN_KEYS, *extra_keys):
            raise ConfigError(f"{override}: no part of the run reads a top-level key {top!r} (known: "
                              f"{', '.join(RUN_KEYS)}); set a key inside one, e.g. model.{key.split('.')[-1]}=...")


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
        run_dir = Path(dist.broadcast(str(run_dir)))
        with run_directory_lock(run_dir, enabled=dist.is_main):  # before anything is written
            return _train(cfg, run_dir, trainer, dist)
    finally:
        dist.close()


def _train(cfg: DictConfig, run_dir: Path, trainer: Trainer, dist: Distributed) -> dict[str, float]:
    refuse_linked_folders(run_dir)
    data, task, model = build_parts(cfg, trainer.device, dist.rank, dist.world_size)
    config = OmegaConf.to_container(cfg, resolve=True)
    n_batches = check_trainable(cfg, data, task, trainer)
    optimizer = build_optimizer(cfg.optimizer, model.parameters())
    scheduler = build_scheduler(cfg.scheduler, optimizer, trainer.optimizer_steps(n_batches))
    parts = trainer.make_parts(model, optimizer, scheduler)
    state, rng, resumed_from = resume(trainer.resume, run_dir, parts, config, n_batches, trainer.device)
    if trainer.is_finished(state, n_batches) and (run_dir / "metrics.json").exists():  # nothing written yet
        return finished_metrics(run_dir)
    if resumed_from != run_dir / "checkpoints" / "last.pt":  # not continuing this directory's own run
        make_room(run_dir, trainer.overwrite)  # a fresh start never mixes with an earlier run's files
    logger = start_run_directory(cfg, config, run_dir, model, task, data) if dist.is_main else NullLogger()
    try:
        if rng is not None:
            set_rng_state(rng)
        start = time.perf_counter()
        checkpoints = Checkpoints(run_dir, config, command_overrides(), enabled=dist.is_main)
        state = trainer.fit(parts, task, data, state=state, checkpoints=checkpoints, logger=logger, dist=dist)
        fit_seconds = time.perf_counter() - start
        metrics = test(trainer, parts.model, task, data, run_dir, logger, dist) | {
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
    task.check_data(data)  # first: a task may take metrics from the data (frame labelling's fer)
    names = sorted(f"val/{name}" for name in task.metrics().keys())
    if data.split_size("val") and trainer.monitor not in names:
        raise ConfigError(f"trainer.monitor={trainer.monitor} is not a validation metric; choose one of {names}")
    return n_batches


def resume(setting, run_dir: Path, parts: TrainingParts, config: dict, n_batches: int,
           device: torch.device) -> tuple[FitState, dict | None, Path | None]:
    """Load the checkpoint ``trainer.resume`` names (default: the run's own ``last.pt``) into the
    parts, once, after checking it was trained with this model, data and task; returns the loop
    state, the RNG state to continue with and the checkpoint's path (a fresh state, None, None when
    starting afresh)."""
    path = resume_path(setting, run_dir)
    if path is None:
        return FitState(), None, None
    ckpt = load_checkpoint(path, map_location=device)
    check_same_config(ckpt, path, config)
    parts.load(ckpt, path)
    state = loop_state(ckpt, path, n_batches)
    log.info("resumed from %s at step %d (epoch %d)", path, state.step, state.epoch)
    return state, ckpt["rng"], path


def finished_metrics(run_dir: Path) -> dict[str, float]:
    log.info("%s has finished training and holds metrics.json; nothing to do (delete metrics.json to test it "
             "again)", run_dir)
    path = run_dir / "metrics.json"
    try:
        metrics = json.loads(path.read_text())
        if not isinstance(metrics, dict):
            raise ValueError("not a JSON object")
        return metrics
    except (OSError, ValueError) as e:
        raise DataError(f"{path} is unreadable or corrupt ({first_line(e)}): delete it to test the finished "
                        "run again") from None


def start_run_directory(cfg: DictConfig, config: dict, run_dir: Path, model, task, data):
    """The run's record (``config.yaml``, ``.hydra/``, ``model_summary.txt``) and its logger."""
    run_dir.mkdir(parents=True, exist_ok=True)
    accept_run_log()  # the run owns its directory now: train.log gets the lines kept so far
    for folder in (run_dir, run_dir / "checkpoints"):
        for leftover in remove_leftovers(folder):
            log.info("removed %s, left by an interrupted write", leftover)
    write_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(config).encode())
    write_hydra_record(run_dir, cfg)
    args, kwargs = task.model_inputs(data.example_batch())
    log.info("model summary:\n%s", model_summary(model, args, kwargs, run_dir / "model_summary.txt"))
    logger = build(cfg.logger, "logger", log_dir=str(run_dir))  # TensorBoard names the run after its directory
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
    write_atomic(record / "config.yaml", OmegaConf.to_yaml(cfg).encode())
    write_atomic(record / "overrides.yaml", yaml.safe_dump([str(o) for o in hydra.overrides.task]).encode())
    write_atomic(record / "hydra.yaml", OmegaConf.to_yaml({"hydra": hydra}).encode())


def test(trainer: Trainer, model, task, data, run_dir: Path, logger, dist: Distributed) -> dict[str, float]:
    """Score the test split once, with ``trainer.test_checkpoint`` (best, else last), and write the
    task's report of it (e.g. ``confusion.csv``) beside the metrics (main process only)."""
    if not data.split_size("test"):
        return {}
    chosen = run_dir / "checkpoints" / f"{trainer.test_checkpoint}.pt"
    path = chosen if chosen.exists() else run_dir / "checkpoints" / "last.pt"
    load_weights(model, inference_weights(load_checkpoint(path, map_location=trainer.device)), path)
    metrics = trainer.evaluate(model, task, data, "test")
    report = task.test_report(model, data, trainer.limit_eval, reduce=dist.sum_)  # a collective: every rank
    if dist.is_main:
        write_report(report, run_dir, logger)
    return metrics


def write_report(report, out_dir: Path, logger=None) -> None:
    """The task's test report: its files into ``out_dir`` (atomically), its images to the logger."""
    for name, text in report.files.items():
        write_atomic(out_dir / name, text.encode())
    for tag, image in report.images.items():
        if logger is not None:
            logger.log_images(tag, image[None], 0)


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
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"output_dir={out_dir} is a file: choose a folder for metrics.json")
    if (out_dir / "checkpoints").is_dir():
        raise ConfigError(f"output_dir={out_dir} is a training run; its metrics.json would be replaced: "
                          "choose another output_dir")
    if "cache_dir" in cfg.data:  # a cache folder is the training machine's: a stored path is not written to
        cfg.data.cache_dir = None
    try:
        cfg.merge_with_dotlist(list(overrides))
    except Exception as e:
        raise ConfigError(f"bad override in {overrides}: {first_line(e)}") from None
    trainer = build(cfg.trainer, "trainer")
    data = build(cfg.data, "data")
    data.setup(trainer.device, 0, 1)
    task = build(cfg.task, "task").to(trainer.device)
    task.check_data(data)
    if not data.split_size("test"):
        raise ConfigError("the test split is empty (data.n_test=0 or no test files): there is nothing to score")
    ckpt["config"] = OmegaConf.to_container(cfg, resolve=True)
    model, _ = load_trained_model(ckpt_path, data.model_args, trainer.device, ckpt=ckpt)
    metrics = trainer.evaluate(model, task, data, "test")
    write_json(out_dir / "metrics.json", metrics)
    write_report(task.test_report(model, data, trainer.limit_eval), out_dir)
    return metrics
