"""A frame-independent baseline: an MLP on each frame's stacked window of frames, no recurrence.

The CLDNN paper's comparisons (Sainath et al., ICASSP 2015) are against a DNN on the same stacked
frames; ``python train.py model=frame_dnn`` is that baseline, chosen like ``model=cldnn_paper``
(same data, trainer, optimizer and scheduler), so the two are a like-for-like pair.
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from cnnlstm.arguments import NonNegativeInt, PositiveInt, Probability, checked
from cnnlstm.models.cldnn import FrameInput, log_mel_frontend
from cnnlstm.nn.activations import Activation
from cnnlstm.nn.masking import pool_frames
from cnnlstm.nn.mlp import hidden_layers


def windows(x: torch.Tensor, width: int) -> torch.Tensor:
    """``x: (B, N, F)`` -> ``(B, N - width + 1, width * F)``: row ``i`` is frames ``i .. i + width - 1``
    concatenated, oldest first."""
    return x.unfold(1, width, 1).transpose(-1, -2).flatten(-2)  # (B, N - W + 1, F, W) -> (.., W * F)


def stack_frames(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """``x: (B, T, F)`` -> ``(B, T, (left + 1 + right) * F)``: row ``t`` is frames ``t - left .. t + right``
    concatenated, oldest first, with zero frames before the start and after the end of ``x``."""
    return windows(F.pad(x, (0, 0, left, right)), left + 1 + right)  # padded: (B, left + T + right, F)


class FrameDNN(FrameInput, nn.Module):
    """Per-frame classifier on stacked frames: output ``t`` reads only frames ``t - l .. t + r``.

    Frame ``t``'s window ``t - left_context .. t + right_context`` (zeros outside the utterance,
    so padding never leaks in) is flattened to ``(l + 1 + r) * F`` inputs and passed through the
    hidden layers of an MLP (``hidden``, ReLU by default, dropout) and a linear output layer. There
    is no recurrence: the outputs of two frames depend on each other's inputs only where their
    windows overlap, which makes it the frame-independent baseline the CLDNN should beat.
    Initialisation as the CLDNN's dense layers: Glorot uniform, zero biases.

    Args:
        in_features: ``F``, bins per frame (ignored with a front end, which decides it).
        num_outputs: ``K``, logits per frame (or per utterance after pooling).
        left_context, right_context: frames of past and future context in each window.
        hidden: widths of the hidden layers.
        activation: their non-linearity (:mod:`cnnlstm.nn.activations`).
        dropout: after each hidden layer.
        pool: ``mean`` (masked mean of the per-frame logits) or ``last`` (last valid frame)
            gives one output per utterance; ``none`` returns the per-frame outputs ``(B, T, K)``.
        sample_rate: when set, the model takes raw audio ``(B, S)`` through a
            :class:`~cnnlstm.nn.log_mel.LogMel` front end built from ``frontend`` (its kwargs),
            as :class:`~cnnlstm.models.CLDNN` does.
        frontend: keyword arguments of :class:`LogMel` (n_mels, win_ms, hop_ms, normalize ...).

    Example:
        >>> model = FrameDNN(in_features=12, num_outputs=9, left_context=2, right_context=1, hidden=[16])
        >>> model(torch.zeros(2, 20, 12), lengths=torch.tensor([20, 7])).shape
        torch.Size([2, 9])
        >>> model.frame_outputs(torch.zeros(2, 20, 12))[0].shape
        torch.Size([2, 20, 9])
    """

    @checked
    def __init__(
        self,
        *,
        in_features: PositiveInt | None = None,
        num_outputs: PositiveInt,
        left_context: NonNegativeInt = 10,
        right_context: NonNegativeInt = 5,
        hidden: Sequence[PositiveInt] = (2048, 2048, 2048),
        activation: Activation = "relu",
        dropout: Probability = 0.0,
        pool: Literal["mean", "last", "none"] = "mean",
        sample_rate: PositiveInt | None = None,
        frontend: Mapping | None = None,
    ) -> None:
        super().__init__()
        self.num_outputs, self.pool = num_outputs, pool
        self.left_context, self.right_context = left_context, right_context
        self.frontend, self.in_features = log_mel_frontend(sample_rate, frontend, in_features)
        in_features = self.in_features
        width = (left_context + 1 + right_context) * in_features
        self.dnn = nn.Sequential(*hidden_layers(width, hidden, activation, dropout))
        self.output = nn.Linear(hidden[-1] if hidden else width, num_outputs)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def frame_outputs(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                      tbptt_steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-frame logits ``(B, T, K)`` and frame lengths ``(B,)`` (or None), for frames
        ``x: (B, T, F)`` or audio ``(B, S)``; ``lengths``: valid steps (samples for audio).

        ``tbptt_steps`` is accepted for :class:`~cnnlstm.tasks.FrameLabelling` and ignored:
        nothing is recurrent, so there is no gradient through time to truncate.
        """
        feats, lengths = self.frames(x, lengths)  # (B, T, F)
        stacked = stack_frames(feats, self.left_context, self.right_context)  # (B, T, W * F)
        return self.output(self.dnn(stacked)), lengths

    def frame_chunks(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                     chunk_frames: int | None = None) -> Iterator[torch.Tensor]:
        """Per-frame logits chunk by chunk: ``(B, n, K)`` for frames ``0 .. n - 1``, then the next
        ``chunk_frames`` ... (None: all at once). Concatenated they equal :meth:`frame_outputs`.

        So ``task.update_per_chunk=true`` (an optimizer step per chunk, the CLDNN paper's training)
        runs with this model too and ``model=frame_dnn`` stays a like-for-like pair for
        ``model=cldnn_paper``: each chunk's graph holds only the windows of its own frames, so the
        caller may step the optimizer before asking for the next chunk.
        """
        feats, _ = self.frames(x, lengths)  # (B, T, F)
        width = self.left_context + 1 + self.right_context
        padded = F.pad(feats, (0, 0, self.left_context, self.right_context))  # (B, l + T + r, F)
        steps = chunk_frames or feats.shape[1]
        for start in range(0, feats.shape[1], steps):
            end = min(start + steps, feats.shape[1])
            rows = padded[:, start:end + width - 1]  # frames start - l .. end - 1 + r of the utterance
            yield self.output(self.dnn(windows(rows, width)))  # (B, end - start, K)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``x: (B, T, F)`` frames (or ``(B, S)`` audio with a front end), ``lengths: (B,)`` valid
        steps (samples for audio) -> logits ``(B, K)``, or ``(B, T, K)`` with ``pool="none"``."""
        out, lengths = self.frame_outputs(x, lengths)
        return pool_frames(out, lengths, self.pool)
