"""The one training loop for every model: a task object supplies the loss and the metrics.

Read top to bottom: :meth:`Trainer.fit` -> :meth:`Trainer.train_step` -> :meth:`Trainer.validate`.
Plain PyTorch, usable from a notebook::

    data.setup(torch.device("cpu"))
    state = Trainer(max_steps=100, device="cpu").fit(model, Classification(), data)

The run (:mod:`cnnlstm.engine.run`) builds the parts, resumes them and owns the run directory;
the loop reaches it only through its collaborators: :class:`~cnnlstm.engine.checkpoint.Checkpoints`
(where checkpoints go), a logger, :class:`~cnnlstm.engine.signals.GracefulStop` and
:class:`~cnnlstm.engine.distributed.Distributed`. Nothing syncs with the device except at log
intervals, validations and saves.
"""

import contextlib
import itertools
import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from cnnlstm.engine.checkpoint import Checkpoints
from cnnlstm.engine.distributed import Distributed
from cnnlstm.engine.loggers import NullLogger
from cnnlstm.engine.parts import TrainingParts
from cnnlstm.engine.precision import autocast, autocast_each
from cnnlstm.engine.progress import Progress
from cnnlstm.engine.signals import GracefulStop, StopNow
from cnnlstm.engine.speedups import prepare_forward, profiler
from cnnlstm.engine.state import FitState, IntervalStats
from cnnlstm.engine.trainer_options import TrainerOptions
from cnnlstm.errors import ConfigError, UserError

log = logging.getLogger(__name__)


class TrainingInterrupted(UserError):
    """Training stopped on a signal after saving ``last.pt``; ``signum`` gives the exit code."""

    def __init__(self, message: str, signum: int, run_dir: Path | None = None) -> None:
        super().__init__(message)
        self.signum, self.run_dir = signum, run_dir


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; checkpoints already written are kept."""


class Trainer(TrainerOptions):
    """Fits a model with a task on a data source (the options: :class:`TrainerOptions`)."""

    # ----------------------------------------------------------------------------- the loop
    def fit(self, model: nn.Module | TrainingParts, task, data, optimizer=None, scheduler=None, *,
            state: FitState | None = None, checkpoints: Checkpoints | None = None, logger=None,
            dist: Distributed | None = None) -> FitState:
        """Train from ``state`` (default: from scratch) until ``max_epochs``/``max_steps`` or early
        stopping; returns the final state.

        ``model`` is a module (``optimizer`` then defaults to Adam at 1e-3, ``scheduler`` to a
        constant rate) or the :class:`TrainingParts` a run built and resumed. With
        ``checkpoints``, ``last.pt`` is written at every validation and on SIGTERM/SIGINT, and
        ``best.pt`` when the monitored metric improves.
        """
        parts = model if isinstance(model, TrainingParts) else self.make_parts(
            model, optimizer or torch.optim.Adam(model.parameters(), lr=1e-3), scheduler)
        state = state or FitState()
        self.checkpoints, self.logger, self.dist = checkpoints, logger or NullLogger(), dist or Distributed()
        self.check_task(task)
        forward = prepare_forward(parts.model, self, data.batch_size)
        n_batches, total = self.batches_per_epoch(data), self.total_steps(self.batches_per_epoch(data))
        log_every = self.log_every or max(1, total // 50)
        progress = Progress(total, state.step, self.progress if self.dist.is_main else "quiet")
        stats = IntervalStats(self.device)
        trace_dir = self.checkpoints.run_dir if self.checkpoints else None
        with GracefulStop() as stop, profiler(self.profile and self.dist.is_main, trace_dir) as prof:
            if 0 < state.step != state.last_val_step and self.validation_due(state, total):
                self.validate(parts, task, data, stats, state, stop)  # one a second signal cut short
            while not self.is_finished(state, n_batches):
                got_batch = False
                for batch in self.train_batches(data, state):
                    got_batch = True
                    self.train_step(forward, parts, task, batch, stats, state, n_batches)
                    prof.step()
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
        if self.checkpoints and not self.checkpoints.path("last.pt").exists():  # resumed from elsewhere
            self.checkpoints.save(parts, state, "last.pt")
        return state

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
        for out in autocast_each(task.train_chunks(model, batch), self.precision, self.device, not self.cuda_graphs):
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

    def log_train(self, stats: IntervalStats, state: FitState, optimizer, progress: Progress) -> None:
        self.check_finite(stats, state)
        values = stats.summary() | {"train/lr": optimizer.param_groups[0]["lr"], "train/epoch": state.epoch}
        self.logger.log_scalars(values, state.step)
        progress.update(state.step, {k: v for k, v in values.items() if k != "train/epoch"})
        state.train_seconds += stats.seconds
        stats.reset()

    def check_finite(self, stats: IntervalStats, state: FitState) -> None:
        if self.dist.any(stats.has_nonfinite(), self.device):
            written = self.checkpoints.written() if self.checkpoints else []
            kept = f"{' and '.join(written)} from step {state.last_val_step} kept" if written else "no checkpoint written"
            raise TrainingDiverged(f"the training loss became NaN or infinite by step {state.step} ({kept}); "
                                   "lower optimizer.lr or set trainer.grad_clip")

    # ----------------------------------------------------------------------------- validation
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
                run_dir = self.checkpoints.run_dir if self.checkpoints else None
                task.on_validation_end(model, data, self.logger, state.step, run_dir)
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
        if self.checkpoints and self.dist.is_main:
            self.checkpoints.save(parts, state, *names)

    def interrupt(self, signum: int, parts: TrainingParts, stats: IntervalStats, state: FitState) -> None:
        self.check_finite(stats, state)
        self.save(parts, state, "last.pt")
        saved = f"; saved {self.checkpoints.path('last.pt')}" if self.checkpoints else ""
        raise TrainingInterrupted(f"interrupted by signal {signum} at step {state.step}{saved}", signum,
                                  self.checkpoints.run_dir if self.checkpoints else None)
