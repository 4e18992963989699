"""Frame-level labelling: one target per frame, with an output delay and truncated BPTT (Sainath et al.)."""

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MetricCollection

from cnnlstm.arguments import NonNegativeInt, PositiveInt, Probability, checked
from cnnlstm.nn.masking import IGNORE_LABEL
from cnnlstm.tasks.base import StepOutput
from cnnlstm.tasks.classification import Classification


class FrameLabelling(Classification):
    """Per-frame cross-entropy on ``y: (B, T)`` (``IGNORE_LABEL`` past each end), the label of frame ``t``
    predicted at frame ``t + delay``.

    A causal model (unidirectional LSTM, no right context) at frame ``t`` has seen only frames
    ``<= t``; delaying its output by ``delay`` frames lets it use ``delay`` frames of future
    context (paper: 5). The input gets ``delay`` zero frames appended so the last labels are
    predicted too. ``tbptt_steps`` (paper: 20) runs the LSTM in chunks of that many steps in
    training, carrying its state across chunks and cutting the gradient there; the model needs
    a ``frame_outputs(x, lengths, tbptt_steps=)`` method and may say by ``samples_per_frame`` how
    many input steps make a frame (its front end's hop for raw audio; 1 when absent), as
    :class:`~cnnlstm.models.CLDNN` does.

    Metrics: ``loss`` and ``acc`` (frame accuracy over the valid frames). Data that scores in a
    folded label set (TIMIT: trained on 61 or 48 phones, scored on 39) gives ``score_map``, a
    tensor mapping each training class to its scoring class (-1: not scored, TIMIT's ``q``); the
    task reads it in :meth:`check_data` and adds ``acc39`` and ``fer`` (frame error rate,
    ``1 - acc39``) over the valid frames whose true class is scored, both predictions and
    targets folded. ``acc`` keeps its meaning (unfolded) for every data.
    """

    @checked
    def __init__(self, delay: NonNegativeInt = 5, tbptt_steps: PositiveInt | None = 20,
                 label_smoothing: Probability = 0.0) -> None:
        super().__init__(label_smoothing)
        self.delay, self.tbptt_steps = delay, tbptt_steps
        self.score_map: torch.Tensor | None = None

    def check_data(self, data) -> None:
        """As :class:`Classification`, and take the data's ``score_map`` (if any) for ``acc39``/``fer``."""
        super().check_data(data)
        score_map = getattr(data, "score_map", None)
        self.score_map = None if score_map is None else torch.as_tensor(score_map, dtype=torch.long)

    def metrics(self) -> MetricCollection:
        metrics = super().metrics()
        if self.score_map is not None:
            metrics.add_metrics({"acc39": MeanMetric(), "fer": MeanMetric()})
        return metrics

    def update_metrics(self, metrics: MetricCollection, step: StepOutput, batch: dict[str, torch.Tensor]) -> None:
        super().update_metrics(metrics, step, batch)
        if self.score_map is not None:
            folded = self.folded_correct(step.outputs, batch)
            metrics["acc39"].update(folded)
            metrics["fer"].update(1 - folded)

    def step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        x, lengths, y = batch["x"], batch.get("lengths"), batch["y"]
        extra = self.delay * getattr(model, "samples_per_frame", 1)  # frames, or samples of audio
        if extra:
            x = F.pad(x, (0, extra) if x.dim() == 2 else (0, 0, 0, extra))  # (B, T + d, F)
            lengths = None if lengths is None else lengths + extra
        out, _ = model.frame_outputs(x, lengths, tbptt_steps=self.tbptt_steps)  # (B, T + d, K)
        out = out[:, self.delay:self.delay + y.shape[1]]  # (B, T, K): row t predicts label t
        return StepOutput(self.loss(out, batch), out)

    def loss(self, outputs: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(outputs.flatten(0, 1).float(), batch["y"].flatten(), ignore_index=IGNORE_LABEL,
                               label_smoothing=self.label_smoothing)

    def correct(self, outputs: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Correctness of each valid frame (padding frames are left out of ``acc``)."""
        valid = batch["y"] != IGNORE_LABEL
        return (self.predict(outputs) == batch["y"])[valid].float()

    def folded_correct(self, outputs: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Correctness of each scored frame after folding prediction and target with ``score_map``."""
        fold = self.score_map.to(outputs.device)
        y = batch["y"]
        target = torch.where(y == IGNORE_LABEL, -1, fold[y.clamp(min=0)])
        scored = target >= 0
        return (fold[self.predict(outputs)] == target)[scored].float()
