"""The CNN-LSTM encoder-decoder with direct attention (Haque, Yousuf and Rana, arXiv 1801.05141).

Run: ``python train.py model=denoiser`` (MNIST, lower half black plus noise, by default).
"""

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from cnnlstm.arguments import PositiveInt, Probability, UnitInterval, checked
from cnnlstm.models.conv_autoencoder import ImageInput
from cnnlstm.nn.activations import Activation
from cnnlstm.nn.attention import AdditiveAttention, DirectAttention
from cnnlstm.nn.conv_stack import ConvStack2d, per_layer
from cnnlstm.nn.lstm import LSTM, lstm_step
from cnnlstm.nn.rows import image_to_rows, rows_to_image


class CNNLSTMDenoiser(ImageInput, nn.Module):
    """A CNN encoder reads the corrupted image into a context vector; an LSTM writes it row by row.

    The image ``(B, C, H, W)`` is a sequence of ``H`` rows of ``C*W`` values. Decoder step ``t``
    reads the context vector, the corrupted row ``t`` (the paper's *direct attention*) and the
    restored row ``t-1``; a linear layer and a sigmoid on the top LSTM layer's output give restored
    row ``t``. ``attention`` chooses what else the decoder sees:

    - ``direct`` (default, the paper's model): context + corrupted row ``t`` + previous row.
    - ``none`` (ablation): context + previous row; the corrupted image reaches the decoder only
      through the encoder's vector.
    - ``additive`` (beyond the paper): as ``direct``, and the top LSTM output at step ``t``
      attends (Bahdanau's additive score) over the encoder's spatial feature map; the attended
      features join the LSTM output before the output layer, and the weights are returned for
      display with ``return_attention=True``.

    Choices where the paper is ambiguous (it gives no code and few sizes):

    - The context is the flattened conv feature map through one linear layer and a tanh, fed at
      every step (not only as the initial state), as "takes that vector ... row by row" reads.
    - The "previous output" of step 0 is a row of zeros (a start token).
    - Inference feeds back the model's own rows. Training feeds the clean row ``t-1`` with
      probability ``teacher_forcing_ratio`` and the model's own row otherwise (scheduled
      sampling), chosen per image and row. ``sampling`` says how the own rows are made:
      ``sequential`` (Bengio et al. 2015) decodes row by row exactly as at inference, with
      gradients through the fed-back rows, so ``teacher_forcing_ratio=0`` trains the very
      free-running decoder that is tested; ``parallel`` (Duckworth et al. 2019) takes them
      from a first teacher-forced pass without gradients, keeping the LSTM one fused call per
      pass (faster, but its rows are better than the free-running ones, so some exposure bias
      stays). ``teacher_forcing_ratio=1`` is plain teacher forcing, one fused call.
    - The additive attention sits after the LSTM (Luong's placement with Bahdanau's score), so a
      teacher-forced pass stays one LSTM call.

    Args:
        image_size: ``H`` (square) or ``(H, W)``; the LSTM writes ``H`` rows of ``C*W`` values.
        in_channels: image channels ``C`` (1 grayscale, 3 RGB).
        conv_channels, kernel_sizes, pool_sizes, padding, activation, batch_norm: the encoder's
            conv stack, see :class:`cnnlstm.nn.conv_stack.ConvStack2d`.
        context_size: width of the encoder's context vector.
        hidden_size, num_layers, dropout: the decoder LSTM (dropout between its layers).
        attention: ``direct``, ``none`` or ``additive`` (see above).
        attention_size: hidden width of the additive score.
        teacher_forcing_ratio: probability of feeding the clean previous row in training.
        sampling: ``sequential`` or ``parallel`` scheduled sampling (see above).

    Example:
        >>> model = CNNLSTMDenoiser(image_size=28)
        >>> model(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 1, 28, 28])
    """

    @checked
    def __init__(
        self,
        image_size: PositiveInt | Sequence[PositiveInt] = 28,
        in_channels: PositiveInt = 1,
        conv_channels: Sequence[PositiveInt] = (16, 32),
        kernel_sizes: PositiveInt | Sequence[PositiveInt] = 3,
        pool_sizes: PositiveInt | Sequence[PositiveInt] = 2,
        padding: Literal["valid", "same"] = "same",
        activation: Activation = "relu",
        batch_norm: bool = False,
        context_size: PositiveInt = 128,
        hidden_size: PositiveInt = 128,
        num_layers: PositiveInt = 2,
        dropout: Probability = 0.0,
        attention: Literal["direct", "none", "additive"] = "direct",
        attention_size: PositiveInt = 64,
        teacher_forcing_ratio: UnitInterval = 0.0,
        sampling: Literal["sequential", "parallel"] = "sequential",
    ) -> None:
        super().__init__()
        h, w = per_layer("image_size", image_size, 2)
        self.image_size = (h, w)
        self.in_channels, self.attention, self.sampling = in_channels, attention, sampling
        self.teacher_forcing_ratio = teacher_forcing_ratio
        self.encoder = ConvStack2d(in_channels, (h, w), conv_channels, kernel_sizes, pool_sizes, padding,
                                   activation, batch_norm)
        self.to_context = nn.Sequential(nn.Flatten(), nn.Linear(self.encoder.out_features, context_size), nn.Tanh())
        self.row_size = in_channels * w
        reads_rows = attention in ("direct", "additive")
        self.direct = DirectAttention()
        lstm_in = context_size + self.row_size * (2 if reads_rows else 1)
        self.lstm = LSTM(lstm_in, hidden_size, num_layers=num_layers, batch_first=True,
                         dropout=dropout if num_layers > 1 else 0.0)
        out_in = hidden_size
        self.additive = None
        if attention == "additive":
            self.additive = AdditiveAttention(hidden_size, self.encoder.out_channels, attention_size)
            out_in += self.encoder.out_channels
        self.out = nn.Linear(out_in, self.row_size)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x: (B, C, H, W)`` -> context ``(B, E)`` and spatial keys ``(B, h*w, C_enc)``."""
        features = self.encoder(x)  # (B, C_enc, h, w)
        return self.to_context(features), features.flatten(2).transpose(1, 2)

    def _lstm_inputs(self, context: torch.Tensor, corrupted: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """``context: (B, E)``, ``corrupted, previous: (B, T, R)`` -> LSTM inputs ``(B, T, *)``."""
        context = context[:, None, :].expand(-1, previous.shape[1], -1)  # (B, T, E)
        if self.attention == "none":
            return torch.cat([context, previous], dim=-1)
        return self.direct(context, corrupted, previous)

    def _rows_out(self, hidden: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Top LSTM outputs ``(B, T, hidden)`` -> rows ``(B, T, R)`` in [0, 1] and attention weights."""
        weights = None
        if self.additive is not None:
            attended, weights = self.additive(hidden, keys)  # (B, T, C_enc), (B, T, h*w)
            hidden = torch.cat([hidden, attended], dim=-1)
        return torch.sigmoid(self.out(hidden)), weights

    def _teacher_forced(self, context, keys, corrupted, previous):
        hidden, _ = self.lstm(self._lstm_inputs(context, corrupted, previous))  # (B, H, hidden)
        return self._rows_out(hidden, keys)

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None,
                return_attention: bool = False):
        """Restore ``x: (B, C, H, W)`` in [0, 1] -> ``(B, C, H, W)`` in [0, 1].

        ``target`` (the clean image, same shape) turns on teacher forcing: always in eval mode,
        with probability ``teacher_forcing_ratio`` per row in training; without it the decoder
        feeds back its own rows (inference). With ``return_attention=True`` also returns the
        additive attention weights ``(B, H, h_enc, w_enc)`` (None for the other choices).
        """
        self.check_images(x)
        context, keys = self.encode(x)  # (B, E), (B, N, C_enc)
        corrupted = image_to_rows(x)  # (B, H, R)
        if target is None:
            rows, weights = self._decode_rows(context, keys, corrupted)
        else:
            self.check_images(target, "target")
            rows, weights = self._decode_with_target(context, keys, corrupted, image_to_rows(target))
        image = rows_to_image(rows, self.in_channels)
        if not return_attention:
            return image
        if weights is not None:
            weights = weights.reshape(*weights.shape[:2], *self.encoder.output_size)
        return image, weights

    def _decode_with_target(self, context, keys, corrupted, clean):
        """Training and teacher-forced decoding; ``clean: (B, H, R)`` rows of the target image."""
        previous = _shift_down(clean)  # (B, H, R): clean row t-1 at step t
        ratio = self.teacher_forcing_ratio if self.training else 1.0
        if ratio == 1:
            return self._teacher_forced(context, keys, corrupted, previous)
        if ratio == 0 and self.sampling == "sequential":
            return self._decode_rows(context, keys, corrupted)  # free-running, as at inference
        keep = torch.rand(previous.shape[:2], device=previous.device) < ratio  # (B, H)
        if self.sampling == "sequential":
            return self._decode_rows(context, keys, corrupted, previous, keep)
        with torch.no_grad():
            guess, _ = self._teacher_forced(context, keys, corrupted, previous)
        previous = torch.where(keep[..., None], previous, _shift_down(guess))
        return self._teacher_forced(context, keys, corrupted, previous)

    def _decode_rows(self, context, keys, corrupted, forced=None, keep=None):
        """Decode row by row, feeding back each restored row; returns rows ``(B, H, R)`` and weights.

        Where ``keep: (B, H)`` is true, step ``t`` reads ``forced[:, t]`` instead of its own row.
        """
        previous = torch.zeros_like(corrupted[:, :1])  # (B, 1, R): the start row
        state, rows, weights = None, [], []
        for t in range(corrupted.shape[1]):
            if keep is not None:
                previous = torch.where(keep[:, t, None, None], forced[:, t:t + 1], previous)
            step_in = self._lstm_inputs(context, corrupted[:, t:t + 1], previous)  # (B, 1, *)
            hidden, state = lstm_step(self.lstm, step_in[:, 0], state)  # (B, hidden)
            previous, w = self._rows_out(hidden[:, None], keys)  # (B, 1, R)
            rows.append(previous)
            weights.append(w)
        return torch.cat(rows, dim=1), (torch.cat(weights, dim=1) if weights[0] is not None else None)


def _shift_down(rows: torch.Tensor) -> torch.Tensor:
    """``(B, H, R)`` -> the rows one step later, a zero row first: row ``t-1`` at index ``t``."""
    return torch.cat([torch.zeros_like(rows[:, :1]), rows[:, :-1]], dim=1)
