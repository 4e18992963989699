"""Frame-level labelling: one target per frame, with an output delay and truncated BPTT (Sainath et al.)."""

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MetricCollection

from cnnlstm.arguments import NonNegativeInt, PositiveInt, Probability, checked
from cnnlstm.errors import ConfigError
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

    ``update_per_chunk`` trains as the paper does: an optimizer step per chunk of ``tbptt_steps``
    frames (None: the whole utterance is one chunk), so the graph kept for backward is one
    chunk's, whatever the utterance's length (:meth:`train_chunks`; the model needs
    ``frame_chunks(x, lengths, chunk_frames)``). Off, one step per batch keeps the whole graph.

    Metrics: ``loss`` and ``acc`` (frame accuracy over the valid frames). Data that scores in a
    folded label set (TIMIT: trained on 61 or 48 phones, scored on 39) gives ``score_map``, a
    tensor mapping each training class to its scoring class (-1: not scored, TIMIT's ``q``); the
    task reads it in :meth:`check_data` and adds ``acc39`` and ``fer`` (frame error rate,
    ``1 - acc39``) over the valid frames whose true class is scored, both predictions and
    targets folded. ``acc`` keeps its meaning (unfolded) for every data.
    """

    @checked
    def __init__(self, delay: NonNegativeInt = 5, tbptt_steps: PositiveInt | None = 20,
                 label_smoothing: Probability = 0.0, update_per_chunk: bool = False) -> None:
        super().__init__(label_smoothing)
        self.delay, self.tbptt_steps, self.update_per_chunk = delay, tbptt_steps, update_per_chunk
        self.score_map: torch.Tensor | None = None

    def check_data(self, data) -> None:
        """As :class:`Classification`, and take the data's ``score_map`` (if any) for ``acc39``/``fer``."""
        super().check_data(data)
        score_map = data.score_map
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

    def delayed_input(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x`` and ``lengths`` with ``delay`` zero frames (or their samples of audio) appended."""
        x, lengths = batch["x"], batch.get("lengths")
        extra = self.delay * getattr(model, "samples_per_frame", 1)  # frames, or samples of audio
        if extra:
            x = F.pad(x, (0, extra) if x.dim() == 2 else (0, 0, 0, extra))  # (B, T + d, F)
            lengths = None if lengths is None else lengths + extra
        return x, lengths

    def step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        y = batch["y"]
        out, _ = model.frame_outputs(*self.delayed_input(model, batch), tbptt_steps=self.tbptt_steps)  # (B, T + d, K)
        out = out[:, self.delay:self.delay + y.shape[1]]  # (B, T, K): row t predicts label t
        return StepOutput(self.loss(out, batch), out)

    def train_chunks(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> Iterator[StepOutput]:
        """With ``update_per_chunk``: one pass per chunk of ``tbptt_steps`` output frames, the LSTM
        state carried (detached) from the previous chunk, which the trainer has already stepped on.

        Output frame ``u`` predicts label ``u - delay``, so a chunk of frames ``[s, e)`` scores
        labels ``[s - delay, e - delay)``: the delay shifts the labels across chunk borders exactly
        as in :meth:`step`. The loss is the mean over the chunk's valid labels and ``weight`` its
        share of the batch's, so the logged batch loss is the one :meth:`step` gives. Chunks
        without a valid label (padding, or the first ``delay`` frames) are run for their state but
        yield nothing: they take no optimizer step. Counting the labels syncs once per batch.
        """
        if not self.update_per_chunk:
            yield from super().train_chunks(model, batch)
            return
        if not hasattr(model, "frame_chunks"):
            raise ConfigError(f"task.update_per_chunk=true needs a model with frame_chunks() (CLDNN), "
                              f"got {type(model).__name__}")
        y = batch["y"]
        steps = self.tbptt_steps or y.shape[1] + self.delay
        counts = self.labels_per_chunk(y, steps)
        total, start = sum(counts), 0
        chunks = model.frame_chunks(*self.delayed_input(model, batch), chunk_frames=self.tbptt_steps)
        for k, out in enumerate(chunks):  # out: (B, n, K), output frames [start, start + n)
            lo, hi = self.scored_labels(start, start + out.shape[1], y.shape[1])
            out, start = out[:, lo + self.delay - start:hi + self.delay - start], start + out.shape[1]
            if k < len(counts) and counts[k]:
                yield StepOutput(self.loss(out, {"y": y[:, lo:hi]}), out, counts[k] / total)

    def scored_labels(self, start: int, end: int, num_labels: int) -> tuple[int, int]:
        """The labels ``[lo, hi)`` that output frames ``[start, end)`` predict (delayed by ``delay``)."""
        return tuple(min(max(t - self.delay, 0), num_labels) for t in (start, end))

    def labels_per_chunk(self, y: torch.Tensor, steps: int) -> list[int]:
        """Valid labels scored by each chunk of ``steps`` output frames (chunk ``k``: labels
        ``[k * steps - delay, (k + 1) * steps - delay)``), read to the host in one sync."""
        per_frame = torch.cumsum((y != IGNORE_LABEL).sum(0), 0)  # (T,) valid labels up to each
        per_frame = torch.cat([per_frame.new_zeros(1), per_frame])  # labels before frame t
        ends = torch.arange(1, -(-(y.shape[1] + self.delay) // steps) + 1, device=y.device) * steps - self.delay
        cum = per_frame[ends.clamp(0, y.shape[1])]
        return torch.diff(cum, prepend=cum.new_zeros(1)).tolist()

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
