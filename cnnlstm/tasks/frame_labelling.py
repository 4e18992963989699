"""Frame-level labelling: one target per frame, with an output delay and truncated BPTT (Sainath et al.)."""

import torch
import torch.nn.functional as F
from torch import nn

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

    Metrics: ``loss`` and ``acc`` (frame accuracy over the valid frames).
    """

    @checked
    def __init__(self, delay: NonNegativeInt = 5, tbptt_steps: PositiveInt | None = 20,
                 label_smoothing: Probability = 0.0) -> None:
        super().__init__(label_smoothing)
        self.delay, self.tbptt_steps = delay, tbptt_steps

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
