"""The CLDNN's convolution over (frequency, time) windows, pooling along frequency only."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cnnlstm.arguments import NonNegativeInt, PositiveInt, checked
from cnnlstm.errors import ConfigError
from cnnlstm.nn.activations import Activation, activation
from cnnlstm.nn.conv_stack import per_layer


class FrequencyConv(nn.Module):
    """Convolution layers over the window of each frame and its neighbours; max-pool along frequency.

    Frame ``t`` of ``x: (B, T, F)`` is described by the ``F x (l + 1 + r)`` patch of frames
    ``t - l .. t + r`` (``l = left_context``, ``r = right_context``; frames outside the sequence
    are zeros). Layer ``i`` applies ``channels[i]`` maps with a ``freq_kernels[i] x
    time_kernels[i]`` kernel ("valid" along both axes), an activation and a non-overlapping max-pool
    of ``freq_pools[i]`` along frequency only, never along time. The patch's output is flattened.
    Sainath et al. (2015): 40x11 patches (``l=10, r=0``), 256 maps 9x9 with pool 3, then 256 maps
    4x3 (frequency x time) without pooling.

    All patches are computed at once: the layers run over the whole zero-padded sequence, and
    the patch of frame ``t`` is the slice of the last layer's output its window produces, which is
    exactly the per-window computation without repeating it for overlapping windows.
    With ``right_context=0`` no output sees a future frame, and :meth:`stream` carries the last
    ``l`` frames between chunks.

    Args:
        in_features: ``F``, bins per frame.
        channels, freq_kernels, time_kernels, freq_pools: per layer (an int applies to all).
        left_context, right_context: neighbouring frames in each frame's patch.
        activation_name: non-linearity after each conv.
        fit_frequency: shrink a frequency kernel or pool that is larger than the bins reaching
            it instead of raising, so one preset fits inputs of any width.

    Raises:
        ConfigError: at build time when the geometry does not fit the input, naming the layer.

    Example:
        >>> conv = FrequencyConv(40)  # the paper's layers
        >>> conv(torch.zeros(2, 7, 40)).shape, conv.out_features
        (torch.Size([2, 7, 1792]), 1792)
    """

    @checked
    def __init__(
        self,
        in_features: PositiveInt,
        channels: Sequence[PositiveInt] = (256, 256),
        freq_kernels: PositiveInt | Sequence[PositiveInt] = (9, 4),
        time_kernels: PositiveInt | Sequence[PositiveInt] = (9, 3),
        freq_pools: PositiveInt | Sequence[PositiveInt] = (3, 1),
        left_context: NonNegativeInt = 10,
        right_context: NonNegativeInt = 0,
        activation_name: Activation = "relu",
        fit_frequency: bool = False,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        n = len(channels)
        fks = per_layer("freq_kernels", freq_kernels, n)
        tks = per_layer("time_kernels", time_kernels, n)
        pools = per_layer("freq_pools", freq_pools, n)
        self.left, self.right = left_context, right_context
        self.patch_frames = self.left + 1 + self.right  # frames in each frame's patch
        span = sum(k - 1 for k in tks) + 1  # frames one output of the last layer sees
        if span > self.patch_frames:
            raise ConfigError(
                f"time_kernels {tks} span {span} frames, more than the {self.patch_frames}-frame window "
                f"(left_context {self.left} + 1 + right_context {self.right})")
        self.patch_steps = self.patch_frames - span + 1  # time positions per patch after the layers
        layers, width, prev = [], self.in_features, 1
        for i, (c, fk, tk, p) in enumerate(zip(channels, fks, tks, pools)):
            if fit_frequency:
                fk = min(fk, width)
            if fk > width:
                raise ConfigError(
                    f"freq_kernels[{i}] = {fk} is larger than the {width} frequency bins reaching conv "
                    f"layer {i} (input width {self.in_features}); use smaller kernels or pools, or "
                    "fit_frequency=true")
            conv_width = width - fk + 1
            if fit_frequency:
                p = min(p, conv_width)
            if conv_width // p < 1:
                raise ConfigError(
                    f"freq_pools[{i}] = {p} pools the {conv_width} bins out of conv layer {i} to zero "
                    f"(input width {self.in_features})")
            block = [nn.Conv2d(prev, c, (fk, tk)), activation(activation_name)]
            if p > 1:
                block.append(nn.MaxPool2d((p, 1)))  # frequency only, never time
            layers.append(nn.Sequential(*block))
            prev, width = c, conv_width // p
        self.layers = nn.Sequential(*layers)
        self.out_channels, self.out_bins = prev, width
        self.out_features = prev * width * self.patch_steps

    @property
    def causal(self) -> bool:
        return self.right == 0

    def _patches(self, padded: torch.Tensor) -> torch.Tensor:
        """Layers on ``padded: (B, T + patch_frames - 1, F)`` -> patches ``(B, T, out_features)``."""
        y = self.layers(padded.transpose(1, 2).unsqueeze(1))  # (B, C, F_out, T + patch_steps - 1)
        y = y.unfold(3, self.patch_steps, 1)  # (B, C, F_out, T, patch_steps)
        return y.permute(0, 3, 1, 2, 4).flatten(2)  # (B, T, C * F_out * patch_steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, T, F) -> (B, T, out_features)``; steps past an utterance's end must be zeros."""
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"FrequencyConv expects x of shape (B, T, {self.in_features}), got {tuple(x.shape)}")
        return self._patches(F.pad(x, (0, 0, self.left, self.right)))

    def window(self, x: torch.Tensor, start: int, end: int) -> torch.Tensor:
        """The patches of frames ``start .. end - 1`` of ``x: (B, T, F)``, ``(B, end - start, out_features)``,
        equal to ``forward(x)[:, start:end]`` but computed from those frames and their context only.

        Training chunk by chunk (truncated BPTT with an update per chunk) then keeps the conv
        activations of one chunk, not of the whole utterance; needs no state, so it also works with
        ``right_context > 0`` (the chunk's right context is read from ``x``).
        """
        lo, hi = start - self.left, end + self.right
        piece = x[:, max(lo, 0):min(hi, x.shape[1])]
        return self._patches(F.pad(piece, (0, 0, max(-lo, 0), max(hi - x.shape[1], 0))))

    def initial_state(self, batch: int, device=None, dtype=None) -> torch.Tensor:
        """The left context before the first frame: ``(B, left_context, F)`` zeros."""
        return torch.zeros(batch, self.left, self.in_features, device=device, dtype=dtype)

    def stream(self, chunk: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Causal chunked forward: ``chunk: (B, n, F)``, ``state``: the previous ``l`` frames.

        Returns ``((B, n, out_features), state)``; the concatenated outputs of consecutive chunks
        equal :meth:`forward` on the whole sequence.
        """
        if not self.causal:
            raise ValueError(f"FrequencyConv.stream needs right_context=0, got {self.right}")
        if state is None:
            state = self.initial_state(chunk.shape[0], chunk.device, chunk.dtype)
        context = torch.cat([state, chunk], dim=1)  # (B, l + n, F)
        new_state = context[:, context.shape[1] - self.left:]
        if chunk.shape[1] == 0:
            return chunk.new_zeros(chunk.shape[0], 0, self.out_features), new_state
        return self._patches(context), new_state
