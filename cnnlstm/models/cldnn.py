"""CLDNN (Sainath, Vinyals, Senior, Sak, ICASSP 2015): frequency CNN -> LSTM -> DNN, and its ablations.

``python train.py model=cldnn`` (JapaneseVowels), ``model=cldnn_paper`` (the paper's sizes for
40 log-mel bins), ``model=cldnn_streaming`` (causal and unidirectional: :meth:`CLDNN.stream`).
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from cnnlstm.arguments import (
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    ValidationError,
    checked,
    first_problem,
)
from cnnlstm.errors import ConfigError
from cnnlstm.nn.activations import Activation
from cnnlstm.nn.frequency_conv import FrequencyConv
from cnnlstm.nn.log_mel import LogMel
from cnnlstm.nn.lstm import LSTM
from cnnlstm.nn.masking import pool_frames, zero_padding
from cnnlstm.nn.mlp import hidden_layers

VARIANTS = {  # variant -> (CNN before the LSTM, DNN after it)
    "lstm": (False, False),
    "ldnn": (False, True),
    "cld": (True, False),
    "cldnn": (True, True),
}

State = dict[str, torch.Tensor]


def log_mel_frontend(sample_rate: int | None, frontend: Mapping | None,
                     in_features: int | None) -> tuple[LogMel | None, int]:
    """The input side of a frame model (CLDNN, FrameDNN): with a ``sample_rate``, a log-mel front end
    on raw audio and its feature width; without, no front end and ``in_features`` frames. A bad
    ``frontend`` entry is named by its key, ``frontend.hop_ms must be > 0``."""
    if sample_rate is None:
        if in_features is None:
            raise ConfigError("in_features must be set (or given by the data), got None")
        return None, in_features
    try:
        logmel = LogMel(sample_rate=sample_rate, **(frontend or {}))
    except ValidationError as e:
        raise ConfigError(f"frontend.{first_problem(e, LogMel)}") from None
    return logmel, logmel.out_features


class FrameInput:
    """The input side of a frame model (CLDNN, FrameDNN): raw audio through its ``frontend`` (from
    :func:`log_mel_frontend`), or, without one, frames of ``in_features`` bins."""

    frontend: LogMel | None
    in_features: int

    @property
    def samples_per_frame(self) -> int:
        """Input steps per frame: the front end's hop in samples for raw audio, else 1."""
        return self.frontend.hop if self.frontend is not None else 1

    def frames(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The model's input frames ``(B, T, F)``, ``T >= 1`` (zeros past each end) and their lengths:
        the front end's log-mel features for audio ``x: (B, S)``, else ``x`` itself."""
        name = type(self).__name__
        if self.frontend is not None:
            if x.dim() != 2:
                raise ValueError(f"{name} with a front end expects raw audio (B, S), got shape {tuple(x.shape)}")
            feats, lengths = self.frontend(x, lengths)
        elif x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"{name} expects x of shape (B, T, {self.in_features}), got {tuple(x.shape)}")
        else:
            feats = zero_padding(x, lengths)
        if feats.shape[1] == 0:
            raise ValueError(f"{name} got no frames: input of shape {tuple(x.shape)} is shorter than one frame")
        return feats, lengths


class CLDNN(FrameInput, nn.Module):
    """Convolutional, LSTM, fully connected DNN over frames ``x: (B, T, F)``, optionally from raw audio.

    Per frame: :class:`~cnnlstm.nn.frequency_conv.FrequencyConv` over the frame's window -> linear
    reduction to ``reduce_dim`` (no non-linearity, as in the paper) -> LSTM layers (optional
    recurrent projection ``proj_size``) -> DNN layers (ReLU) -> output layer. ``variant`` drops
    parts for the paper's ablation (``lstm``, ``ldnn``, ``cld``, ``cldnn``); the multi-scale
    switches add the raw frame ``x_t`` to the LSTM input (``x_to_lstm``) and the CNN features to
    the DNN input (``cnn_to_dnn``); both are no-ops in variants without a CNN, whose LSTM already
    reads ``x_t``. Initialisation as in the paper: Glorot for the conv and dense layers, uniform in
    ``[-lstm_init, lstm_init]`` for the LSTM.

    Args:
        in_features: ``F``, bins per frame (ignored with a front end, which decides it).
        num_outputs: logits per utterance (or per frame).
        variant, x_to_lstm, cnn_to_dnn: see above.
        conv_channels, freq_kernels, time_kernels, freq_pools, left_context, right_context,
            fit_frequency: the :class:`FrequencyConv` (paper: 256/256 maps, 9x9 and 4x3 kernels,
            pool 3 then none, ``l=10, r=0``).
        conv_activation: the non-linearity after each conv layer (``relu``, the paper's CNNs').
            A ReLU conv over ReLU (non-negative) inputs can die under Adam: every unit of a layer
            negative on every input, so nothing after it sees the input and no gradient reaches
            it (experiments/results/kws_streaming). ``leaky_relu`` or ``elu`` cannot die.
        reduce_dim: width of the linear reduction of the CNN output (paper: 256).
        hidden_size, proj_size, num_layers, bidirectional: the LSTM (paper: 2 x 832 cells with a
            512 projection, unidirectional). ``proj_size=0``: no projection.
        dnn_hidden: widths of the ReLU layers before the output layer (paper: 1024, 1024).
        dropout: between LSTM layers, after the LSTM and after each DNN layer.
        pool: ``mean`` (masked mean of the per-frame logits) or ``last`` (last valid frame)
            gives one output per utterance; ``none`` returns the per-frame outputs ``(B, T, K)``.
        causal: no output depends on a future frame: the conv's ``right_context`` becomes 0 and
            the LSTM unidirectional (this overrides those two arguments). Needed by :meth:`stream`.
        lstm_init: half-width of the LSTM's uniform initialisation (paper: 0.02).
        sample_rate: when set, the model takes raw audio ``(B, S)`` through a
            :class:`~cnnlstm.nn.log_mel.LogMel` front end built from ``frontend`` (its kwargs).
        frontend: keyword arguments of :class:`LogMel` (n_mels, win_ms, hop_ms, normalize ...).

    Example:
        >>> model = CLDNN(in_features=12, num_outputs=9, conv_channels=[8, 8], freq_kernels=[3, 3],
        ...               time_kernels=[3, 3], freq_pools=[2, 1], left_context=4, hidden_size=16,
        ...               proj_size=0, dnn_hidden=[16], reduce_dim=16)
        >>> model(torch.zeros(2, 20, 12), lengths=torch.tensor([20, 7])).shape
        torch.Size([2, 9])
    """

    @checked
    def __init__(
        self,
        *,
        in_features: PositiveInt | None = None,
        num_outputs: PositiveInt,
        variant: Literal["lstm", "ldnn", "cld", "cldnn"] = "cldnn",
        x_to_lstm: bool = False,
        cnn_to_dnn: bool = False,
        conv_channels: Sequence[PositiveInt] = (256, 256),
        freq_kernels: PositiveInt | Sequence[PositiveInt] = (9, 4),
        time_kernels: PositiveInt | Sequence[PositiveInt] = (9, 3),
        freq_pools: PositiveInt | Sequence[PositiveInt] = (3, 1),
        left_context: NonNegativeInt = 10,
        right_context: NonNegativeInt = 0,
        fit_frequency: bool = False,
        conv_activation: Activation = "relu",
        reduce_dim: PositiveInt = 256,
        hidden_size: PositiveInt = 832,
        proj_size: NonNegativeInt = 512,
        num_layers: PositiveInt = 2,
        bidirectional: bool = False,
        dnn_hidden: Sequence[PositiveInt] = (1024, 1024),
        dropout: Probability = 0.0,
        pool: Literal["mean", "last", "none"] = "mean",
        causal: bool = False,
        lstm_init: PositiveFloat = 0.02,
        sample_rate: PositiveInt | None = None,
        frontend: Mapping | None = None,
    ) -> None:
        super().__init__()
        if proj_size >= hidden_size:
            raise ConfigError(f"proj_size must be < hidden_size ({hidden_size}), got {proj_size}")
        self.num_outputs, self.variant, self.pool, self.causal = num_outputs, variant, pool, causal
        use_cnn, use_dnn = VARIANTS[variant]
        if causal:
            right_context, bidirectional = 0, False
        self.bidirectional = bidirectional

        # raw audio -> frames
        self.frontend, self.in_features = log_mel_frontend(sample_rate, frontend, in_features)
        in_features = self.in_features

        # frames -> LSTM input
        self.cnn, self.reduce = None, None
        self.x_to_lstm = x_to_lstm and use_cnn
        self.cnn_to_dnn = cnn_to_dnn and use_cnn
        lstm_in = in_features
        if use_cnn:
            self.cnn = FrequencyConv(in_features, channels=conv_channels, freq_kernels=freq_kernels,
                                     time_kernels=time_kernels, freq_pools=freq_pools, left_context=left_context,
                                     right_context=right_context, activation_name=conv_activation,
                                     fit_frequency=fit_frequency)
            self.reduce = nn.Linear(self.cnn.out_features, reduce_dim)
            lstm_in = reduce_dim + (in_features if self.x_to_lstm else 0)

        # LSTM
        self.lstm = LSTM(lstm_in, hidden_size, num_layers=num_layers, batch_first=True,
                         bidirectional=bidirectional, proj_size=proj_size,
                         dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        width = (proj_size or hidden_size) * (2 if bidirectional else 1)
        if self.cnn_to_dnn:
            width += reduce_dim

        # DNN (the hidden layers of an MLP, ReLU and dropout) and output layer
        dnn_hidden = dnn_hidden if use_dnn else []
        self.dnn = nn.Sequential(*hidden_layers(width, dnn_hidden, "relu", dropout))
        self.output = nn.Linear(dnn_hidden[-1] if dnn_hidden else width, num_outputs)
        self._init_weights(lstm_init)

    def _init_weights(self, lstm_init: float) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        for p in self.lstm.parameters():
            nn.init.uniform_(p, -lstm_init, lstm_init)

    # ------------------------------------------------------------------------ offline
    @property
    def streamable(self) -> bool:
        """True when no output depends on the future, so :meth:`stream` equals :meth:`forward`."""
        conv_ok = self.cnn is None or self.cnn.causal
        front_ok = self.frontend is None or self.frontend.streamable
        return conv_ok and front_ok and not self.bidirectional

    def _encode(self, feats: torch.Tensor, cnn_out: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Frames and their CNN patches -> LSTM input ``(B, T, D)`` and the reduced CNN features."""
        if self.cnn is None:
            return feats, None
        reduced = self.reduce(cnn_out)  # (B, T, reduce_dim)
        lstm_in = torch.cat([reduced, feats], dim=-1) if self.x_to_lstm else reduced
        return lstm_in, reduced

    def _decode(self, h: torch.Tensor, reduced: torch.Tensor | None) -> torch.Tensor:
        """LSTM outputs ``(B, T, H)`` -> per-frame logits ``(B, T, K)``."""
        h = self.dropout(h)
        if self.cnn_to_dnn:
            h = torch.cat([h, reduced], dim=-1)
        return self.output(self.dnn(h))

    def _recur(self, z: torch.Tensor, lengths: torch.Tensor | None, tbptt_steps: int | None) -> torch.Tensor:
        z = z.contiguous()
        if self.bidirectional:
            # the backward direction must start at each utterance's own end: pack only when ragged.
            # An empty utterance runs on one frame of its zero padding, as the unidirectional LSTM does.
            if lengths is not None and bool((lengths != z.shape[1]).any()):
                packed = pack_padded_sequence(z, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
                return pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=z.shape[1])[0]
            return self.lstm(z)[0]
        if not tbptt_steps or not self.training:
            return self.lstm(z)[0]  # unidirectional: valid steps never see the padding
        outs, state = [], None
        for piece in z.split(tbptt_steps, dim=1):  # truncated BPTT: state carried, gradient cut
            out, state = self.lstm(piece, state)
            state = tuple(s.detach() for s in state)
            outs.append(out)
        return torch.cat(outs, dim=1)

    def frame_outputs(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                      tbptt_steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-frame logits ``(B, T, K)`` and frame lengths, for ``x: (B, T, F)`` or audio ``(B, S)``.

        ``tbptt_steps``: in training mode, run the (unidirectional) LSTM in chunks of that many
        steps, carrying its state and cutting the gradient between chunks (truncated BPTT);
        the outputs are the same as without it.
        """
        if tbptt_steps and self.bidirectional:
            raise ConfigError("truncated BPTT (tbptt_steps) needs a unidirectional LSTM")
        feats, lengths = self.frames(x, lengths)  # (B, T, F)
        z, reduced = self._encode(feats, self.cnn(feats) if self.cnn is not None else None)
        return self._decode(self._recur(z, lengths, tbptt_steps), reduced), lengths

    def frame_chunks(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                     chunk_frames: int | None = None) -> Iterator[torch.Tensor]:
        """Per-frame logits chunk by chunk: ``(B, n, K)`` for frames ``0 .. n - 1``, then the next
        ``chunk_frames`` ... (None: the whole utterance at once). Concatenated they equal
        :meth:`frame_outputs`.

        For truncated BPTT with an optimizer update per chunk (Sainath et al. 2015): each chunk's
        graph reaches back only to the chunk itself, since its conv patches are computed from the
        chunk's frames and their context (:meth:`FrequencyConv.window`) and the LSTM starts from the
        previous chunk's detached ``(h, c)``. So the caller may backward and step the optimizer
        before it asks for the next chunk, which then runs with the updated weights; the memory
        kept for backward is one chunk's. The front end (no weights) frames the whole input once.
        """
        if self.bidirectional:
            raise ConfigError("truncated BPTT by chunks needs a unidirectional LSTM")
        feats, _ = self.frames(x, lengths)  # (B, T, F)
        steps, state = chunk_frames or feats.shape[1], None
        for start in range(0, feats.shape[1], steps):
            end = min(start + steps, feats.shape[1])
            cnn_out = self.cnn.window(feats, start, end) if self.cnn is not None else None
            z, reduced = self._encode(feats[:, start:end], cnn_out)
            h, state = self.lstm(z.contiguous(), state)
            state = tuple(s.detach() for s in state)
            yield self._decode(h, reduced)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``x: (B, T, F)`` frames (or ``(B, S)`` audio with a front end), ``lengths: (B,)`` valid
        steps (samples for audio) -> logits ``(B, K)``, or ``(B, T, K)`` with ``pool="none"``."""
        out, lengths = self.frame_outputs(x, lengths)
        return pool_frames(out, lengths, self.pool)

    # ------------------------------------------------------------------------ streaming
    def stream(self, chunk: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Run on the next chunk of an utterance, carrying the context between calls.

        ``chunk``: ``(B, n, F)`` frames, or ``(B, n)`` audio samples with a front end, any ``n``
        (also 0). Returns the per-frame logits of the frames this chunk completes ``(B, k, K)``
        and the new state (audio not yet framed, the conv's left context, the LSTM ``(h, c)``).
        Concatenated over an utterance the outputs equal :meth:`frame_outputs` on the whole of it
        (in eval mode). Needs a streamable model: ``causal=True`` (or ``right_context=0`` and a
        unidirectional LSTM) and a front end without deltas or per-utterance normalisation.
        """
        if not self.streamable:
            raise ConfigError("stream() needs a causal model (model.causal=true: right_context 0, unidirectional "
                              "LSTM) and a front end with deltas=0 and normalize global or none")
        state = dict(state or {})
        new: State = {}
        if self.frontend is not None:
            feats, new["audio"] = self.frontend.stream(chunk, state.get("audio"))
        else:
            feats = chunk
        if self.cnn is not None:
            cnn_out, new["conv"] = self.cnn.stream(feats, state.get("conv"))
        if feats.shape[1] == 0:
            new.update({k: v for k, v in state.items() if k in ("h", "c")})
            return feats.new_zeros(feats.shape[0], 0, self.num_outputs), new
        z, reduced = self._encode(feats, cnn_out if self.cnn is not None else None)
        hc = (state["h"], state["c"]) if "h" in state else None
        h, (new["h"], new["c"]) = self.lstm(z.contiguous(), hc)
        return self._decode(h, reduced), new
