"""Sequence classification: one label per sequence, binary (1 logit) or multi-class (K logits)."""

import itertools

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MetricCollection

from cnnlstm.arguments import Probability, checked
from cnnlstm.errors import DataError
from cnnlstm.nn.masking import IGNORE_LABEL
from cnnlstm.tasks.base import StepOutput, Task, TestReport


class Classification(Task):
    """Cross-entropy on logits ``(B, K)``; ``K == 1`` means binary cross-entropy on one logit.

    Metrics: ``loss`` and ``acc``.
    """

    @checked
    def __init__(self, label_smoothing: Probability = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def check_data(self, data) -> None:
        """A data source that names its classes must have two or more: one class has nothing to learn."""
        classes = data.classes
        if classes is not None and len(classes) < 2:
            raise DataError(f"the data has {len(classes)} class {list(classes)}: classification needs at least 2")

    def loss(self, outputs: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        y = batch["y"]
        if outputs.shape[-1] == 1:
            target = y.float() * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
            return F.binary_cross_entropy_with_logits(outputs.squeeze(-1).float(), target)
        return F.cross_entropy(outputs.float(), y, label_smoothing=self.label_smoothing)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """Class ids ``(B,)`` from logits ``(B, K)``."""
        if outputs.shape[-1] == 1:
            return (outputs.squeeze(-1) > 0).long()
        return outputs.argmax(-1)

    def metrics(self) -> MetricCollection:
        metrics = super().metrics()
        metrics.add_metrics({"acc": MeanMetric()})
        return metrics

    @torch.no_grad()
    def test_report(self, model: nn.Module, data, max_batches: int | None = None, reduce=None) -> TestReport:
        """``confusion.csv`` (rows: true class, columns: predicted), ``per_class.csv`` (count and
        accuracy of each class) and the row-normalised confusion matrix as an image."""
        model.eval()
        counts = None
        for batch in itertools.islice(data.batches("test"), max_batches):
            out = self.step(model, batch).outputs
            y, pred = batch["y"].flatten(), self.predict(out).flatten()
            valid = y != IGNORE_LABEL  # padding frames of frame labelling
            k = max(2, out.shape[-1])
            pairs = torch.bincount(y[valid] * k + pred[valid], minlength=k * k).reshape(k, k)
            counts = pairs if counts is None else counts + pairs
        if counts is None:
            return TestReport()
        counts = (reduce(counts) if reduce is not None else counts).cpu()  # every rank's share of the split
        names = [str(c) for c in data.classes or range(counts.shape[0])]
        confusion = "true\\predicted," + ",".join(names) + "\n" + "".join(
            f"{name}," + ",".join(str(int(v)) for v in row) + "\n" for name, row in zip(names, counts))
        totals = counts.sum(1)
        per_class = "class,n,acc\n" + "".join(
            f"{name},{int(n)},{(counts[i, i] / n).item() if n else float('nan'):.4f}\n"
            for i, (name, n) in enumerate(zip(names, totals)))
        share = counts.float() / totals.clamp_min(1)[:, None]  # (K, K), rows sum to 1
        image = share.repeat_interleave(16, 0).repeat_interleave(16, 1)[None].expand(3, -1, -1)
        return TestReport({"confusion.csv": confusion, "per_class.csv": per_class}, {"~final/test_confusion": image})

    def correct(self, outputs: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """1.0 for each correctly predicted target, 0.0 otherwise (what ``acc`` averages)."""
        return (self.predict(outputs) == batch["y"]).float()

    def update_metrics(self, metrics: MetricCollection, step: StepOutput, batch: dict[str, torch.Tensor]) -> None:
        super().update_metrics(metrics, step, batch)
        metrics["acc"].update(self.correct(step.outputs, batch))
