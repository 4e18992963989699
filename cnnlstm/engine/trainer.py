"""The one training loop for every model: a task object supplies the loss and the metrics.

Read top to bottom: ``fit`` -> ``_train_step`` -> ``_validate`` -> ``_save``. State is explicit
(:class:`FitState`), checkpoints are dicts of tensors and plain values, and nothing syncs with
the device except at log intervals, validations and saves.
"""

import logging
import math
import os
import signal
import time
from pathlib import Path

import torch
from torch import nn

from cnnlstm.checks import one_of, positive_float, positive_int
from cnnlstm.engine.allocator import keep_freed_memory
from cnnlstm.engine.checkpoint import load_checkpoint, save_atomic
from cnnlstm.engine.cuda_graphs import CudaGraphed, check_cuda_graphs
from cnnlstm.engine.distributed import Distributed
from cnnlstm.engine.ema import WeightAverage
from cnnlstm.engine.loggers import NullLogger
from cnnlstm.engine.precision import autocast, grad_scaler, resolve_device, resolve_precision
from cnnlstm.engine.progress import Progress
from cnnlstm.engine.resume import check_same_config, load_part, loop_state, resume_command, resume_path
from cnnlstm.engine.rng import rng_state, set_rng_state
from cnnlstm.engine.signals import GracefulStop
from cnnlstm.engine.speedups import (
    COMPILE_MODES,
    compile_model,
    enable_activation_checkpointing,
    to_channels_last,
)
from cnnlstm.engine.state import FitState, RunningWindow
from cnnlstm.errors import ConfigError, UserError

log = logging.getLogger(__name__)

# Submodules recomputed in backward with ``activation_checkpointing: true``: the per-frame and
# convolutional parts, whose activations are the largest.
CHECKPOINTED_BY_DEFAULT = ("TimeDistributed", "ConvStack2d", "FrequencyConv", "ConvEncoder")


class TrainingInterrupted(UserError):
    """Training stopped on a signal after saving ``last.pt``; ``signum`` gives the exit code."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class Trainer:
    """Fits a model with a task on a data source; every option is a plain constructor argument.

    Args:
        max_epochs: epochs to train (-1: no limit, then ``max_steps`` must be set).
        max_steps: batches to train (-1: no limit); training stops at whichever comes first.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:N]``.
        precision: ``32``, ``bf16`` (autocast, CPU or CUDA) or ``16`` (float16 autocast, CUDA).
        compile: ``false``, ``true``/``parts`` (compile the CNN and dense parts, keep LSTMs eager)
            or ``full`` (the whole model); see :func:`cnnlstm.engine.speedups.compile_model`.
        activation_checkpointing: class names of submodules whose activations are recomputed in
            backward to save memory (``true``: the per-frame CNNs and conv stacks).
        channels_last: store conv weights channels-last (faster convolutions on some hardware).
        grad_clip: max global gradient norm (None: no clipping; the norm is logged either way).
        accumulate_grad_batches: batches per optimizer step.
        val_every_n_steps: validate every N batches (None: at the end of each epoch).
        log_every_n_steps: interval of train scalars and progress lines.
        monitor, monitor_mode: metric that picks ``best.pt`` and drives early stopping.
        early_stopping_patience: validations without improvement before stopping (None: off).
        resume: checkpoint to continue from; None continues from ``<run_dir>/checkpoints/last.pt``
            when it exists; False always starts afresh.
        progress: ``auto`` (a bar on a terminal), ``bar`` or ``log``.
        test_checkpoint: ``best`` or ``last``, the weights the test split is scored with.
        cuda_graphs: replay the training forward+backward from CUDA graphs for fixed-shape
            batches (see :mod:`cnnlstm.engine.cuda_graphs`).
        ema_decay: keep an exponential moving average of the weights with this decay per
            optimizer step (None: off); validation, test and the inference CLIs then use the
            average (see :mod:`cnnlstm.engine.ema`).
    """

    def __init__(
        self,
        max_epochs: int = 1,
        max_steps: int = -1,
        device: str = "auto",
        precision: str | int = "32",
        compile: bool | str = False,
        activation_checkpointing: bool | list[str] | None = None,
        channels_last: bool = False,
        grad_clip: float | None = None,
        accumulate_grad_batches: int = 1,
        val_every_n_steps: int | None = None,
        log_every_n_steps: int = 50,
        monitor: str = "val/loss",
        monitor_mode: str = "min",
        early_stopping_patience: int | None = None,
        resume: str | bool | None = None,
        progress: str = "auto",
        test_checkpoint: str = "best",
        ema_decay: float | None = None,
        cuda_graphs: bool = False,
    ) -> None:
        if max_epochs == -1 and max_steps == -1:
            raise ConfigError("max_epochs and max_steps are both -1: training would never end")
        self.max_epochs = max_epochs if max_epochs == -1 else positive_int("max_epochs", max_epochs)
        self.max_steps = max_steps if max_steps == -1 else positive_int("max_steps", max_steps)
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.compile = one_of("compile", str(compile).lower(), COMPILE_MODES)
        if activation_checkpointing is True:
            activation_checkpointing = list(CHECKPOINTED_BY_DEFAULT)
        if isinstance(activation_checkpointing, str):
            activation_checkpointing = [activation_checkpointing]
        self.checkpointed = list(activation_checkpointing or [])
        if not isinstance(channels_last, bool):
            raise ConfigError(f"channels_last must be true or false, got {channels_last!r}")
        self.channels_last = channels_last
        self.grad_clip = None if grad_clip is None else positive_float("grad_clip", grad_clip)
        self.accumulate = positive_int("accumulate_grad_batches", accumulate_grad_batches)
        self.val_every = None if val_every_n_steps is None else positive_int("val_every_n_steps", val_every_n_steps)
        self.log_every = positive_int("log_every_n_steps", log_every_n_steps)
        self.monitor = str(monitor)
        self.monitor_mode = one_of("monitor_mode", monitor_mode, ("min", "max"))
        self.patience = None if early_stopping_patience is None else positive_int(
            "early_stopping_patience", early_stopping_patience)
        self.resume = resume
        self.progress = one_of("progress", progress, ("auto", "bar", "log"))
        self.test_checkpoint = one_of("test_checkpoint", test_checkpoint, ("best", "last"))
        if ema_decay is not None and not 0 < ema_decay < 1:
            raise ConfigError(f"ema_decay must be in (0, 1) or null, got {ema_decay}")
        self.ema_decay = ema_decay
        if not isinstance(cuda_graphs, bool):
            raise ConfigError(f"cuda_graphs must be true or false, got {cuda_graphs!r}")
        self.cuda_graphs = cuda_graphs
        if self.cuda_graphs:
            check_cuda_graphs(self.device, self.compile, self.accumulate, bool(self.checkpointed),
                              int(os.environ.get("WORLD_SIZE", "1")) > 1)
        self.dist = Distributed()
        self.overrides: list[str] | None = None  # the run's command line, set by fit

    # ----------------------------------------------------------------------------- planning
    def total_steps(self, batches_per_epoch: int) -> int:
        """Number of training batches the run will take."""
        by_epochs = self.max_epochs * batches_per_epoch if self.max_epochs > 0 else math.inf
        by_steps = self.max_steps if self.max_steps > 0 else math.inf
        return int(min(by_epochs, by_steps))

    def optimizer_steps(self, batches_per_epoch: int) -> int:
        """Number of optimizer steps (what an LR schedule counts)."""
        epochs, rest = divmod(self.total_steps(batches_per_epoch), batches_per_epoch)
        per_epoch = -(-batches_per_epoch // self.accumulate)  # the last batch of an epoch steps too
        return max(1, epochs * per_epoch + -(-rest // self.accumulate))  # and the last batch of the run

    def _finished(self, state: FitState, total: int) -> bool:
        return state.step >= total or state.stopped_early

    def finished(self, state: FitState, batches_per_epoch: int) -> bool:
        """True when a run at ``state`` has nothing left to train."""
        return self._finished(state, self.total_steps(batches_per_epoch))

    # ----------------------------------------------------------------------------- the loop
    def fit(self, model: nn.Module, task, data, optimizer, scheduler, run_dir: str | Path,
            logger=None, config: dict | None = None, dist: Distributed | None = None,
            overrides: list[str] | None = None) -> FitState:
        """Train until ``max_epochs``/``max_steps`` or early stopping; returns the final state.

        Writes ``checkpoints/last.pt`` at every validation and on SIGTERM/SIGINT, and
        ``checkpoints/best.pt`` when the monitored metric improves (main process only; under
        ``torchrun`` the model trains through DistributedDataParallel). ``config`` and the
        command-line ``overrides`` are stored in every checkpoint, so a run can say how to resume it.
        """
        self.overrides = overrides
        logger = logger or NullLogger()
        self.dist = dist = dist or Distributed()
        if self.device.type == "cpu" and not dist.enabled:  # (run.train does it before gloo starts threads)
            keep_freed_memory()  # no page faults on every step's large buffers
        ckpt_dir = Path(run_dir) / "checkpoints"
        model.to(self.device)
        task.to(self.device)
        scaler = grad_scaler(self.precision, self.device)
        parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler}
        if self.ema_decay is not None:
            parts["ema"] = WeightAverage(model, self.ema_decay)
        n_batches = data.num_batches("train")
        state = self._maybe_resume(Path(run_dir), parts, config, n_batches)
        if data.split_size("val"):
            self.check_monitor(task)
        if self.checkpointed and not enable_activation_checkpointing(model, self.checkpointed):
            parts = sorted({type(m).__name__ for m in model.modules()} - {type(model).__name__})
            raise ConfigError(f"trainer.activation_checkpointing: {type(model).__name__} has no submodule of the "
                              f"classes {self.checkpointed}; name some of its own: {parts}")
        if self.channels_last:
            to_channels_last(model)
        forward_model = dist.wrap(compile_model(model, self.compile), self.device)
        if self.cuda_graphs:
            forward_model = CudaGraphed(forward_model, batch_size=data.batch_size)
        total = self.total_steps(n_batches)
        progress = Progress(total, state.step, self.progress if dist.is_main else "quiet")
        window = RunningWindow(self.device)
        fit_start = time.perf_counter()
        with GracefulStop() as stop:
            while not self._finished(state, total):
                tick, got_batch = time.perf_counter(), False
                for batch in data.batches("train", state.epoch, state.batch_in_epoch):
                    self._train_step(forward_model, task, batch, parts, window, state, n_batches, total)
                    got_batch = True
                    end_of_epoch = state.batch_in_epoch == n_batches
                    if end_of_epoch:
                        state.epoch, state.batch_in_epoch = state.epoch + 1, 0
                    boundary = state.batch_in_epoch % self.accumulate == 0 or self._finished(state, total)
                    if state.step % self.log_every == 0 or self._finished(state, total):
                        window.seconds += time.perf_counter() - tick
                        self._log_train(window, state, optimizer, logger, progress)
                        tick = time.perf_counter()
                    if boundary and self._validation_due(state, end_of_epoch, total):
                        window.seconds += time.perf_counter() - tick
                        self._validate(task, data, parts, window, state, ckpt_dir, logger, config)
                        tick = time.perf_counter()
                    if boundary and dist.any(stop.requested, self.device):
                        self._interrupt(stop.signum or signal.SIGTERM, parts, window, state, ckpt_dir, config)
                    if self._finished(state, total):
                        break
                window.seconds += time.perf_counter() - tick
                if not got_batch:  # never spin on an empty epoch
                    raise ConfigError(f"the training split gave no batch in epoch {state.epoch} "
                                      f"(data.batch_size={data.batch_size})")
        progress.close()
        if not (ckpt_dir / "last.pt").exists():  # resumed from elsewhere with nothing left to train
            self._save(self._checkpoint(parts, state, config), ckpt_dir / "last.pt")
        state.train_seconds = state.train_seconds or (time.perf_counter() - fit_start)
        return state

    def _train_step(self, model, task, batch, parts, window: RunningWindow, state: FitState,
                    n_batches: int, total: int) -> None:
        model.train()
        with autocast(self.precision, self.device, cache=not self.cuda_graphs):
            out = task.step(model, batch)
        parts["scaler"].scale(out.loss / self.accumulate).backward()
        samples = int(batch["y"].shape[0]) * self.dist.world_size
        window.add_loss(out.loss, samples)
        state.step, state.batch_in_epoch = state.step + 1, state.batch_in_epoch + 1
        state.train_samples += samples
        if state.batch_in_epoch % self.accumulate == 0 or state.batch_in_epoch == n_batches or state.step == total:
            self._optimizer_step(parts, window)

    def _optimizer_step(self, parts, window: RunningWindow) -> None:
        optimizer, scaler = parts["optimizer"], parts["scaler"]
        scaler.unscale_(optimizer)
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip or math.inf, foreach=True)
        window.add_grad_norm(norm)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        parts["scheduler"].step()
        if "ema" in parts:
            parts["ema"].update(parts["model"])

    def _log_train(self, window: RunningWindow, state: FitState, optimizer, logger, progress) -> None:
        self._check_finite(window, state)
        values = window.summary() | {"train/lr": optimizer.param_groups[0]["lr"], "train/epoch": state.epoch}
        logger.log_scalars(values, state.step)
        progress.update(state.step, {k: v for k, v in values.items() if k != "train/epoch"})
        state.train_seconds += window.seconds
        window.reset()

    def _check_finite(self, window: RunningWindow, state: FitState) -> None:
        if self.dist.any(window.has_nonfinite(), self.device):
            raise TrainingDiverged(
                f"the training loss became NaN or infinite by step {state.step}; the last good checkpoint "
                "is kept (lower optimizer.lr or set trainer.grad_clip)"
            )

    # ----------------------------------------------------------------------------- validation
    def _validation_due(self, state: FitState, end_of_epoch: bool, total: int) -> bool:
        if self.val_every is not None:
            due = state.step % self.val_every == 0
        else:
            due = end_of_epoch
        return due or state.step >= total

    @torch.no_grad()
    def evaluate(self, model: nn.Module, task, data, split: str) -> dict[str, float]:
        """Metrics of ``model`` on a whole split, as ``{"<split>/<name>": value}``."""
        model.eval()
        metrics = task.metrics().to(self.device)
        with autocast(self.precision, self.device):
            for batch in data.batches(split):
                task.update_metrics(metrics, task.step(model, batch), batch)
        return {f"{split}/{k}": float(v) for k, v in metrics.compute().items()}

    def _validate(self, task, data, parts, window, state: FitState, ckpt_dir: Path, logger, config) -> None:
        self._check_finite(window, state)
        model = parts["ema"].module if "ema" in parts else parts["model"]  # what will be tested, unwrapped
        metrics = self.evaluate(model, task, data, "val") if data.split_size("val") else {}
        logger.log_scalars(metrics, state.step)
        if metrics:
            log.info("validation at step %d: %s", state.step, " ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
            task.on_validation_end(model, data, logger, state.step, ckpt_dir.parent)
        improved = self._update_monitor(metrics, state)
        state.last_val_step = state.step
        ckpt = self._checkpoint(parts, state, config)
        self._save(ckpt, ckpt_dir / "last.pt")
        if improved:
            self._save(ckpt, ckpt_dir / "best.pt")
        self.dist.barrier()  # every rank may read the checkpoints after this point

    def check_monitor(self, task) -> None:
        """``trainer.monitor`` must name a validation metric of ``task``: checked before training."""
        names = sorted(f"val/{name}" for name in task.metrics().keys())
        if self.monitor not in names:
            raise ConfigError(f"trainer.monitor={self.monitor} is not a validation metric; choose one of {names}")

    def _update_monitor(self, metrics: dict[str, float], state: FitState) -> bool:
        """Track the best monitored value; True when this validation is the best so far."""
        if not metrics:
            return True
        if self.monitor not in metrics:
            raise ConfigError(f"trainer.monitor={self.monitor} is not a validation metric; "
                              f"choose one of {sorted(metrics)}")
        score = metrics[self.monitor]
        best = state.best_score
        better = best is None or (score < best if self.monitor_mode == "min" else score > best)
        if better:
            state.best_score, state.bad_validations = score, 0
        else:
            state.bad_validations += 1
            if self.patience is not None and state.bad_validations >= self.patience:
                log.info("early stopping at step %d: %s has not improved for %d validations",
                         state.step, self.monitor, state.bad_validations)
                state.stopped_early = True
        return better

    # ----------------------------------------------------------------------------- checkpoints
    def _checkpoint(self, parts: dict, state: FitState, config: dict | None) -> dict:
        ckpt = {name: part.state_dict() for name, part in parts.items()}
        extra = {} if self.overrides is None else {"overrides": list(self.overrides)}
        return ckpt | {"rng": rng_state(), "state": state.to_dict(), "config": config or {}, "format": 1} | extra

    def _save(self, ckpt: dict, path: Path) -> None:
        if self.dist.is_main:
            save_atomic(ckpt, path)

    def _interrupt(self, signum: int, parts, window, state: FitState, ckpt_dir: Path, config) -> None:
        self._check_finite(window, state)
        path = ckpt_dir / "last.pt"
        self._save(self._checkpoint(parts, state, config), path)
        raise TrainingInterrupted(
            f"interrupted by signal {signum} at step {state.step}; saved {path}. Resume with: "
            f"{resume_command(ckpt_dir.parent, self.overrides)}",
            signum,
        )

    def check_resume(self, run_dir: str | Path, model: nn.Module, config: dict | None,
                     n_batches: int) -> FitState | None:
        """Check, before anything is written, that the checkpoint this run would resume from fits:
        the same model, data and task config, weights that load into ``model``, a loop position
        inside this run's epochs. Returns its loop state (None: a fresh start)."""
        path = resume_path(self.resume, run_dir)
        if path is None:
            return None
        ckpt = load_checkpoint(path)
        check_same_config(ckpt, path, config)
        load_part(model, ckpt, "model", path)
        return loop_state(ckpt, path, n_batches)

    def _maybe_resume(self, run_dir: Path, parts: dict, config: dict | None, n_batches: int) -> FitState:
        path = resume_path(self.resume, run_dir)
        if path is None:
            return FitState()
        ckpt = load_checkpoint(path, map_location=self.device)
        check_same_config(ckpt, path, config)
        for name, part in parts.items():
            if name == "ema" and "ema" not in ckpt:  # EMA switched on for a run that had none
                part.reset(parts["model"])
                log.info("%s has no moving average: it starts from the resumed weights", path)
                continue
            load_part(part, ckpt, name, path)
        state = loop_state(ckpt, path, n_batches)
        set_rng_state(ckpt["rng"])
        log.info("resumed from %s at step %d (epoch %d)", path, state.step, state.epoch)
        return state
