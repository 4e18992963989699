"""The one training loop for every model: a task object supplies the loss and the metrics.

Read top to bottom: :meth:`Trainer.fit` -> :meth:`Trainer.train_step` -> :meth:`Trainer.validate`
-> :meth:`Trainer.save`. The run (:mod:`cnnlstm.engine.run`) builds the parts, resumes them and
writes the run directory; the trainer only trains. Nothing syncs with the device except at log
intervals, validations and saves.
"""

import contextlib
import itertools
import logging
import math
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from cnnlstm.arguments import OpenUnitInterval, PositiveFloat, PositiveInt, checked
from cnnlstm.engine.checkpoint import save_atomic
from cnnlstm.engine.cuda_graphs import CudaGraphed, check_cuda_graphs
from cnnlstm.engine.distributed import Distributed
from cnnlstm.engine.loggers import NullLogger
from cnnlstm.engine.parts import TrainingParts
from cnnlstm.engine.precision import autocast, resolve_device, resolve_precision
from cnnlstm.engine.progress import Progress
from cnnlstm.engine.resume import resume_command
from cnnlstm.engine.signals import GracefulStop, StopNow
from cnnlstm.engine.speedups import compile_model, enable_activation_checkpointing, to_channels_last
from cnnlstm.engine.state import FitState, IntervalStats
from cnnlstm.errors import ConfigError, UserError

log = logging.getLogger(__name__)

# Submodules recomputed in backward with ``activation_checkpointing: true``: the per-frame and
# convolutional parts, whose activations are the largest.
CHECKPOINTED_BY_DEFAULT = ("TimeDistributed", "ConvStack2d", "FrequencyConv", "ConvEncoder")
NoLimit = Literal[-1]


class TrainingInterrupted(UserError):
    """Training stopped on a signal after saving ``last.pt``; ``signum`` gives the exit code."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; checkpoints already written are kept."""


class Trainer:
    """Fits a model with a task on a data source; every option is a plain constructor argument.

    Args:
        max_epochs: epochs to train (-1: no limit, then ``max_steps`` must be set).
        max_steps: batches to train (-1: no limit); training stops at whichever comes first. A
            batch is one step also when the task takes an optimizer step per chunk of it.
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
        log_every_n_steps: interval of train scalars and progress lines (None: the run's steps / 50,
            so every run draws a curve of about 50 points).
        monitor, monitor_mode: metric that picks ``best.pt`` and drives early stopping.
        early_stopping_patience: validations without improvement before stopping (None: off).
        resume: checkpoint to continue from; None continues from ``<run_dir>/checkpoints/last.pt``
            when it exists; False always starts afresh (read by the run, which resumes the parts).
        progress: ``auto`` (a bar on a terminal), ``bar`` or ``log``.
        test_checkpoint: ``best`` or ``last``, the weights the test split is scored with.
        ema_decay: keep an exponential moving average of the weights with this decay per
            optimizer step (None: off); validation, test and the inference CLIs then use the
            average (see :mod:`cnnlstm.engine.ema`).
        cuda_graphs: replay the training forward+backward from CUDA graphs for fixed-shape
            batches (see :mod:`cnnlstm.engine.cuda_graphs`).
        limit_eval_batches: score at most this many batches per validation and test (debugging).
        overfit_batches: every epoch trains on the same first N training batches (a model that
            cannot drive their loss to ~0 has a bug); validation is unchanged.
        profile: record the first training steps with the torch profiler into the run directory
            (TensorBoard's profiler tab).
        overwrite: let a fresh start (``resume: false``) replace a run directory's earlier results;
            they are moved to ``<run dir>/replaced/<time>/`` first (read by the run).
    """

    @checked
    def __init__(
        self,
        max_epochs: PositiveInt | NoLimit = 1,
        max_steps: PositiveInt | NoLimit = -1,
        device: str = "auto",
        precision: Literal["32", "bf16", "16", 32, 16] = "32",
        compile: bool | Literal["true", "false", "parts", "full"] = False,
        activation_checkpointing: bool | str | list[str] | None = None,
        channels_last: bool = False,
        grad_clip: PositiveFloat | None = None,
        accumulate_grad_batches: PositiveInt = 1,
        val_every_n_steps: PositiveInt | None = None,
        log_every_n_steps: PositiveInt | None = None,
        monitor: str = "val/loss",
        monitor_mode: Literal["min", "max"] = "min",
        early_stopping_patience: PositiveInt | None = None,
        resume: str | bool | None = None,
        progress: Literal["auto", "bar", "log"] = "auto",
        test_checkpoint: Literal["best", "last"] = "best",
        ema_decay: OpenUnitInterval | None = None,
        cuda_graphs: bool = False,
        limit_eval_batches: PositiveInt | None = None,
        overfit_batches: PositiveInt | None = None,
        profile: bool = False,
        overwrite: bool = False,
    ) -> None:
        if max_epochs == -1 and max_steps == -1:
            raise ConfigError("max_epochs and max_steps are both -1: training would never end")
        self.max_epochs, self.max_steps = max_epochs, max_steps
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.compile = str(compile).lower()
        if activation_checkpointing is True:
            activation_checkpointing = list(CHECKPOINTED_BY_DEFAULT)
        self.checkpointed = [activation_checkpointing] if isinstance(activation_checkpointing, str) else list(
            activation_checkpointing or [])
        self.channels_last, self.cuda_graphs, self.profile = channels_last, cuda_graphs, profile
        self.grad_clip, self.accumulate = grad_clip, accumulate_grad_batches
        self.val_every, self.log_every = val_every_n_steps, log_every_n_steps
        self.monitor, self.monitor_mode, self.patience = monitor, monitor_mode, early_stopping_patience
        self.resume, self.overwrite = resume, overwrite
        self.progress, self.test_checkpoint = progress, test_checkpoint
        self.ema_decay, self.limit_eval, self.overfit = ema_decay, limit_eval_batches, overfit_batches
        if cuda_graphs:
            check_cuda_graphs(self.device, self.compile, self.accumulate, bool(self.checkpointed),
                              int(os.environ.get("WORLD_SIZE", "1")) > 1)
        self.dist = Distributed()
        # set by fit: where it writes and what each checkpoint records
        self.run_dir, self.logger, self.config, self.overrides = Path("."), NullLogger(), {}, None

    # ----------------------------------------------------------------------------- planning
    def batches_per_epoch(self, data) -> int:
        """Training batches in one epoch (``overfit_batches`` caps it)."""
        return min(data.num_batches("train"), self.overfit or math.inf)

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

    def is_finished(self, state: FitState, batches_per_epoch: int) -> bool:
        """True when a run at ``state`` has nothing left to train."""
        return state.step >= self.total_steps(batches_per_epoch) or state.stopped_early

    def make_parts(self, model: nn.Module, optimizer, scheduler) -> TrainingParts:
        """The model with everything a checkpoint saves beside it (scaler, weight average)."""
        return TrainingParts.create(model, optimizer, scheduler, self.precision, self.device, self.ema_decay)

    # ----------------------------------------------------------------------------- the loop
    def fit(self, parts: TrainingParts, task, data, state: FitState, run_dir: str | Path, logger=None,
            config: dict | None = None, dist: Distributed | None = None,
            overrides: list[str] | None = None) -> FitState:
        """Train from ``state`` (fresh or resumed) until ``max_epochs``/``max_steps`` or early
        stopping; returns the final state.

        Writes ``checkpoints/last.pt`` at every validation and on SIGTERM/SIGINT, and
        ``checkpoints/best.pt`` when the monitored metric improves (main process only). ``config``
        and the command-line ``overrides`` go into every checkpoint, so a run says how to resume it.
        """
        self.run_dir, self.logger, self.config, self.overrides = Path(run_dir), logger or NullLogger(), config, overrides
        self.dist = dist or Distributed()
        self.check_task(task)
        forward = self.forward_model(parts.model, data.batch_size)
        n_batches, total = self.batches_per_epoch(data), self.total_steps(self.batches_per_epoch(data))
        log_every = self.log_every or max(1, total // 50)
        progress = Progress(total, state.step, self.progress if self.dist.is_main else "quiet")
        stats = IntervalStats(self.device)
        with GracefulStop() as stop, self.profiler() as profiler:
            while not self.is_finished(state, n_batches):
                got_batch = False
                for batch in self.train_batches(data, state):
                    got_batch = True
                    self.train_step(forward, parts, task, batch, stats, state, n_batches)
                    profiler.step()
                    if state.batch_in_epoch == n_batches:  # end of epoch
                        state.epoch, state.batch_in_epoch = state.epoch + 1, 0
                    finished = self.is_finished(state, n_batches)
                    if state.step % log_every == 0 or finished:
                        self.log_train(stats, state, parts.optimizer, progress)
                    at_update = state.batch_in_epoch % self.accumulate == 0 or finished
                    if at_update and self.validation_due(state, total):
                        with stats.paused():
                            self.validate(parts, task, data, stats, state, stop)
                    if at_update and self.dist.any(stop.requested, self.device):
                        self.interrupt(stop.signum or signal.SIGTERM, parts, stats, state)
                    if self.is_finished(state, n_batches):  # the steps ran out, or validation stopped early
                        break
                if not got_batch:  # never spin on an empty epoch
                    raise ConfigError(f"the training split gave no batch in epoch {state.epoch} "
                                      f"(data.batch_size={data.batch_size})")
        progress.close()
        if not (self.run_dir / "checkpoints" / "last.pt").exists():  # resumed from elsewhere, nothing left
            self.save(parts, state, "last.pt")
        return state

    def forward_model(self, model: nn.Module, batch_size: int) -> nn.Module:
        """What the loop calls: the model with the speed options applied, wrapped for DDP/CUDA graphs."""
        if self.checkpointed and not enable_activation_checkpointing(model, self.checkpointed):
            names = sorted({type(m).__name__ for m in model.modules()} - {type(model).__name__})
            raise ConfigError(f"trainer.activation_checkpointing: {type(model).__name__} has no submodule of the "
                              f"classes {self.checkpointed}; name some of its own: {names}")
        if self.channels_last:
            to_channels_last(model)
        forward = self.dist.wrap(compile_model(model, self.compile), self.device)
        return CudaGraphed(forward, batch_size=batch_size) if self.cuda_graphs else forward

    def train_batches(self, data, state: FitState) -> Iterator[dict]:
        """The rest of the current epoch's training batches, from the saved position."""
        if self.overfit:  # the same first batches every epoch
            return itertools.islice(data.batches("train", 0, 0), state.batch_in_epoch, self.overfit)
        return data.batches("train", state.epoch, state.batch_in_epoch)

    def train_step(self, model: nn.Module, parts: TrainingParts, task, batch: dict, stats: IntervalStats,
                   state: FitState, n_batches: int) -> None:
        """Forward, backward, and an optimizer step every ``accumulate_grad_batches`` batches.

        The batch's forward passes come from ``task.train_chunks`` (one for most tasks). A task with
        ``update_per_chunk`` (truncated BPTT as in the CLDNN paper) gets an optimizer step after each
        pass's backward, and the LR schedule then advances once per batch, so it is sized as usual;
        ``state.step`` counts batches either way, and a batch's chunks are never split by a checkpoint.
        """
        model.train()
        loss = torch.zeros((), device=self.device)
        for out in self.autocast_each(task.train_chunks(model, batch)):
            parts.scaler.scale(out.loss / self.accumulate).backward()
            loss = loss + out.loss.detach().float() * out.weight
            if task.update_per_chunk:
                stats.add_grad_norm(parts.optimizer_step(self.grad_clip, schedule=False))
        samples = int(batch["y"].shape[0]) * self.dist.world_size
        stats.add_loss(loss, samples)
        state.step, state.batch_in_epoch = state.step + 1, state.batch_in_epoch + 1
        state.train_samples += samples
        if task.update_per_chunk:
            parts.scheduler.step()
        elif (state.batch_in_epoch % self.accumulate == 0 or state.batch_in_epoch == n_batches
                or state.step == self.total_steps(n_batches)):
            stats.add_grad_norm(parts.optimizer_step(self.grad_clip))

    def autocast_each(self, passes: Iterator) -> Iterator:
        """Each of ``passes`` computed under autocast; the backward between them runs outside it."""
        while True:
            with autocast(self.precision, self.device, cache=not self.cuda_graphs):
                out = next(passes, None)
            if out is None:
                return
            yield out

    def check_task(self, task) -> None:
        """A task that updates per chunk steps the optimizer itself: no accumulation, CUDA graphs or
        several ranks (whose chunk counts could differ)."""
        if not task.update_per_chunk:
            return
        for setting, on in (("trainer.accumulate_grad_batches > 1", self.accumulate > 1),
                            ("trainer.cuda_graphs=true", self.cuda_graphs),
                            ("distributed training", self.dist.world_size > 1)):
            if on:
                raise ConfigError(f"task.update_per_chunk=true takes an optimizer step per chunk: it does not "
                                  f"work with {setting}")

    def log_train(self, stats: IntervalStats, state: FitState, optimizer, progress: Progress) -> None:
        self.check_finite(stats, state)
        values = stats.summary() | {"train/lr": optimizer.param_groups[0]["lr"], "train/epoch": state.epoch}
        self.logger.log_scalars(values, state.step)
        progress.update(state.step, {k: v for k, v in values.items() if k != "train/epoch"})
        state.train_seconds += stats.seconds
        stats.reset()

    def check_finite(self, stats: IntervalStats, state: FitState) -> None:
        if self.dist.any(stats.has_nonfinite(), self.device):
            written = sorted(p.name for p in (self.run_dir / "checkpoints").glob("*.pt"))
            kept = f"{' and '.join(written)} from step {state.last_val_step} kept" if written else "no checkpoint written"
            raise TrainingDiverged(f"the training loss became NaN or infinite by step {state.step} ({kept}); "
                                   "lower optimizer.lr or set trainer.grad_clip")

    @contextlib.contextmanager
    def profiler(self):
        """The torch profiler over training steps 2-4 (``profile: true``) writing into the run directory; else a no-op."""
        if not (self.profile and self.dist.is_main):
            yield _NoProfiler()
            return
        from torch.profiler import profile, schedule, tensorboard_trace_handler

        with profile(schedule=schedule(wait=1, warmup=1, active=3, repeat=1), record_shapes=True,
                     on_trace_ready=tensorboard_trace_handler(str(self.run_dir))) as prof:
            yield prof
        log.info("profiler trace written into %s (TensorBoard: PyTorch Profiler tab)", self.run_dir)

    # ----------------------------------------------------------------------------- validation
    def validation_due(self, state: FitState, total: int) -> bool:
        due = state.step % self.val_every == 0 if self.val_every else state.batch_in_epoch == 0
        return due or state.step >= total

    @torch.no_grad()
    def evaluate(self, model: nn.Module, task, data, split: str) -> dict[str, float]:
        """Metrics of ``model`` on a whole split (``limit_eval_batches`` caps it), as ``{"<split>/<name>": value}``."""
        model.eval()
        metrics = task.metrics().to(self.device)
        with autocast(self.precision, self.device):
            for batch in itertools.islice(data.batches(split), self.limit_eval):
                task.update_metrics(metrics, task.step(model, batch), batch)
        return {f"{split}/{k}": float(v) for k, v in metrics.compute().items()}

    def validate(self, parts: TrainingParts, task, data, stats: IntervalStats, state: FitState,
                 stop: GracefulStop | None = None) -> None:
        """Score the validation split, then write ``last.pt`` (and ``best.pt`` when it improved).

        A second stop signal during the pass (single process) cuts it short: the steps trained so
        far are saved in ``last.pt`` at once, and this step's validation is skipped."""
        self.check_finite(stats, state)
        model = parts.inference_model
        try:
            with stop.abortable(not self.dist.enabled) if stop else contextlib.nullcontext():
                metrics = self.evaluate(model, task, data, "val") if data.split_size("val") else {}
        except StopNow as e:
            log.warning("validation at step %d cut short by a second signal", state.step)
            self.interrupt(e.signum, parts, stats, state)
        self.logger.log_scalars(metrics, state.step)
        if metrics:
            log.info("validation at step %d: %s", state.step, " ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
            if self.dist.is_main:
                task.on_validation_end(model, data, self.logger, state.step, self.run_dir)
        improved = self.update_monitor(metrics, state)
        state.last_val_step = state.step
        self.save(parts, state, "last.pt", "best.pt" if improved else None)
        self.dist.barrier()  # every rank may read the checkpoints after this point

    def update_monitor(self, metrics: dict[str, float], state: FitState) -> bool:
        """Track the best monitored value (the run checked the name); True when this one is the best."""
        if not metrics:
            return True
        score, best = metrics[self.monitor], state.best_score
        if best is None or (score < best if self.monitor_mode == "min" else score > best):
            state.best_score, state.bad_validations = score, 0
            return True
        state.bad_validations += 1
        if self.patience is not None and state.bad_validations >= self.patience:
            log.info("early stopping at step %d: %s has not improved for %d validations",
                     state.step, self.monitor, state.bad_validations)
            state.stopped_early = True
        return False

    # ----------------------------------------------------------------------------- checkpoints
    def save(self, parts: TrainingParts, state: FitState, *names: str | None) -> None:
        """Write the checkpoint (parts, loop state, RNG, config, overrides) as each of ``names``."""
        if not self.dist.is_main:
            return
        ckpt = parts.checkpoint(state, self.config, self.overrides)
        for name in filter(None, names):
            save_atomic(ckpt, self.run_dir / "checkpoints" / name)

    def interrupt(self, signum: int, parts: TrainingParts, stats: IntervalStats, state: FitState) -> None:
        self.check_finite(stats, state)
        self.save(parts, state, "last.pt")
        raise TrainingInterrupted(
            f"interrupted by signal {signum} at step {state.step}; saved {self.run_dir / 'checkpoints' / 'last.pt'}. "
            f"Resume with: {resume_command(self.run_dir, self.overrides)}",
            signum,
        )


class _NoProfiler:
    """Stands in for the profiler when ``profile`` is off."""

    def step(self) -> None:
        pass
