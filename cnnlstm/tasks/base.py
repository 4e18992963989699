"""What a task is to the trainer: how to call the model on a batch, the loss, and the metrics."""

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torchmetrics import MeanMetric, MetricCollection


@dataclass
class StepOutput:
    """The result of one forward pass: the scalar loss and the model outputs for the metrics.

    ``weight``: the share of its batch this pass scores; the batch's loss is the weighted sum of its
    passes' losses (1: the pass is the whole batch; see :meth:`Task.train_chunks`).
    """

    loss: torch.Tensor
    outputs: torch.Tensor
    weight: float = 1.0


@dataclass
class TestReport:
    """What a task reports about the test split besides its metrics (see :meth:`Task.test_report`)."""

    files: dict[str, str] = field(default_factory=dict)
    images: dict[str, torch.Tensor] = field(default_factory=dict)


class Task(nn.Module, ABC):
    """Loss and metrics of a family of problems; the one trainer is the same for every task.

    Subclasses implement :meth:`loss` and :meth:`update_metrics`, and may extend :meth:`metrics`
    and :meth:`model_inputs`. Metrics are torchmetrics objects, so they accumulate on the device
    and all-reduce across ranks.
    """

    monitor: str = "val/loss"
    monitor_mode: str = "min"
    # True: the trainer takes an optimizer step after each of :meth:`train_chunks`' passes
    update_per_chunk: bool = False

    def model_inputs(self, batch: dict[str, torch.Tensor]) -> tuple[tuple, dict]:
        """Positional and keyword arguments of the model call for ``batch``."""
        kwargs = {"lengths": batch["lengths"]} if "lengths" in batch else {}
        return (batch["x"],), kwargs

    def step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        """Run ``model`` on ``batch`` and compute the loss."""
        args, kwargs = self.model_inputs(batch)
        outputs = model(*args, **kwargs)
        return StepOutput(self.loss(outputs, batch), outputs)

    def train_chunks(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> Iterator[StepOutput]:
        """A training batch as forward passes the trainer runs one at a time, each followed by its
        backward (and, with ``update_per_chunk``, its own optimizer step) before the next pass is
        computed, so a pass may use the weights its predecessor updated. The default: one pass,
        :meth:`step` on the whole batch."""
        yield self.step(model, batch)

    @abstractmethod
    def loss(self, outputs: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The scalar training loss of ``outputs`` against ``batch``."""

    def metrics(self) -> MetricCollection:
        """A fresh set of metrics for one evaluation pass; ``loss`` is averaged over samples."""
        return MetricCollection({"loss": MeanMetric()})

    def update_metrics(self, metrics: MetricCollection, step: StepOutput, batch: dict[str, torch.Tensor]) -> None:
        metrics["loss"].update(step.loss.detach().float(), weight=batch["y"].shape[0])

    def check_data(self, data) -> None:
        """Raise ConfigError when ``data`` (set up, with its ``model_args``) cannot be scored by this task's
        metrics; called before training or evaluation starts. The default accepts anything."""

    def on_validation_end(self, model: nn.Module, data, logger, step: int, run_dir: Path) -> None:
        """Hook after each validation (on the main process), e.g. to log sample images or write
        files such as ``samples.png`` into ``run_dir``; the default does nothing."""

    def test_report(self, model: nn.Module, data, max_batches: int | None = None, reduce=None) -> "TestReport":
        """Files (name -> text) and images (tag -> ``(C, H, W)``) that describe the test split's
        results beyond the metrics, written by the run beside ``metrics.json``; the default: none.
        ``reduce`` sums a tensor over the ranks of a distributed run (each sees its share of the split)."""
        return TestReport()

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """The task's prediction from model outputs (class ids, images ...)."""
        return outputs
