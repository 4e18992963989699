"""The trainer's options: every setting of a fit, declared, and what follows from them alone
(how many steps a run takes, when it validates), apart from the loop that reads them
(:mod:`cnnlstm.engine.trainer`)."""

import math
import os
from typing import Literal

import torch
from torch import nn

from cnnlstm.arguments import OpenUnitInterval, PositiveFloat, PositiveInt, checked
from cnnlstm.engine.cuda_graphs import check_cuda_graphs
from cnnlstm.engine.distributed import Distributed
from cnnlstm.engine.loggers import NullLogger
from cnnlstm.engine.parts import TrainingParts
from cnnlstm.engine.precision import resolve_device, resolve_precision
from cnnlstm.engine.state import FitState
from cnnlstm.errors import ConfigError

# Submodules recomputed in backward with ``activation_checkpointing: true``: the per-frame and
# convolutional parts, whose activations are the largest.
CHECKPOINTED_BY_DEFAULT = ("TimeDistributed", "ConvStack2d", "FrequencyConv", "ConvEncoder")
NoLimit = Literal[-1]


class TrainerOptions:
    """The settings of :class:`~cnnlstm.engine.trainer.Trainer`; every option is a plain constructor argument.

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
        # the collaborators of the fit in progress (set by fit)
        self.checkpoints, self.logger, self.dist = None, NullLogger(), Distributed()
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

    def make_parts(self, model: nn.Module, optimizer, scheduler=None) -> TrainingParts:
        """The model with everything a checkpoint saves beside it (scaler, weight average); no
        ``scheduler``: a constant learning rate."""
        scheduler = scheduler or torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        return TrainingParts.create(model, optimizer, scheduler, self.precision, self.device, self.ema_decay)

    def validation_due(self, state: FitState, total: int) -> bool:
        due = state.step % self.val_every == 0 if self.val_every else state.batch_in_epoch == 0
        return due or state.step >= total


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
