"""CLDNN (Sainath, Vinyals, Senior, Sak, ICASSP 2015): frequency CNN -> LSTM -> DNN, and its ablations.

``python train.py model=cldnn`` (JapaneseVowels), ``model=cldnn_paper`` (the paper's sizes for
40 log-mel bins), ``model=cldnn_streaming`` (causal and unidirectional: :meth:`CLDNN.stream`).
"""

from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from cnnlstm.checks import int_list, one_of, positive_float, positive_int, probability
from cnnlstm.errors import ConfigError
from cnnlstm.nn.frequency_conv import FrequencyConv
from cnnlstm.nn.log_mel import LogMel
from cnnlstm.nn.lstm import LSTM
from cnnlstm.nn.masking import last_step, masked_mean, zero_padding

VARIANTS = {  # variant -> (CNN before the LSTM, DNN after it)
    "lstm": (False, False),
    "ldnn": (False, True),
    "cld": (True, False),
    "cldnn": (True, True),
}
POOLS = ("mean", "last", "none")

State = dict[str, torch.Tensor]


class CLDNN(nn.Module):
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

    def __init__(
        self,
        *,
        in_features: int | None = None,
        num_outputs: int | None = None,
        variant: str = "cldnn",
        x_to_lstm: bool = False,
        cnn_to_dnn: bool = False,
        conv_channels: Sequence[int] | None = None,
        freq_kernels: int | Sequence[int] | None = None,
        time_kernels: int | Sequence[int] | None = None,
        freq_pools: int | Sequence[int] | None = None,
        left_context: int = 10,
        right_context: int = 0,
        fit_frequency: bool = False,
        reduce_dim: int = 256,
        hidden_size: int = 832,
        proj_size: int = 512,
        num_layers: int = 2,
        bidirectional: bool = False,
        dnn_hidden: Sequence[int] | None = None,
        dropout: float = 0.0,
        pool: str = "mean",
        causal: bool = False,
        lstm_init: float = 0.02,
        sample_rate: int | None = None,
        frontend: Mapping | None = None,
    ) -> None:
        super().__init__()
        if num_outputs is None:
            raise ConfigError("num_outputs must be set (or given by the data), got None")
        self.num_outputs = positive_int("num_outputs", num_outputs)
        self.variant = one_of("variant", variant, list(VARIANTS))
        use_cnn, use_dnn = VARIANTS[variant]
        self.pool = one_of("pool", pool, POOLS)
        self.causal = bool(causal)
        if self.causal:
            right_context, bidirectional = 0, False
        self.bidirectional = bool(bidirectional)
        dropout = probability("dropout", dropout)

        # raw audio -> frames
        self.frontend = None
        if sample_rate is not None:
            self.frontend = LogMel(sample_rate=sample_rate, **dict(frontend or {}))
            in_features = self.frontend.out_features
        if in_features is None:
            raise ConfigError("in_features must be set (or given by the data), got None")
        self.in_features = positive_int("in_features", in_features)

        # frames -> LSTM input
        self.cnn, self.reduce = None, None
        self.x_to_lstm = bool(x_to_lstm) and use_cnn
        self.cnn_to_dnn = bool(cnn_to_dnn) and use_cnn
        lstm_in = self.in_features
        if use_cnn:
            self.cnn = FrequencyConv(
                self.in_features,
                conv_channels if conv_channels is not None else (256, 256),
                freq_kernels if freq_kernels is not None else (9, 4),
                time_kernels if time_kernels is not None else (9, 3),
                freq_pools if freq_pools is not None else (3, 1),
                left_context, right_context, fit_frequency=fit_frequency)
            self.reduce = nn.Linear(self.cnn.out_features, positive_int("reduce_dim", reduce_dim))
            lstm_in = reduce_dim + (self.in_features if self.x_to_lstm else 0)

        # LSTM
        hidden_size = positive_int("hidden_size", hidden_size)
        proj_size = positive_int("proj_size", proj_size, allow_zero=True)
        if proj_size >= hidden_size:
            raise ConfigError(f"proj_size must be < hidden_size ({hidden_size}), got {proj_size}")
        num_layers = positive_int("num_layers", num_layers)
        self.lstm = LSTM(lstm_in, hidden_size, num_layers=num_layers, batch_first=True,
                         bidirectional=self.bidirectional, proj_size=proj_size,
                         dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        width = (proj_size or hidden_size) * (2 if self.bidirectional else 1)
        if self.cnn_to_dnn:
            width += reduce_dim

        # DNN and output layer
        dnn: list[nn.Module] = []
        for i, w in enumerate(int_list("dnn_hidden", dnn_hidden if dnn_hidden is not None else (1024, 1024))
                              if use_dnn else []):
            dnn += [nn.Linear(width, positive_int(f"dnn_hidden[{i}]", w)), nn.ReLU(), nn.Dropout(dropout)]
            width = w
        self.dnn = nn.Sequential(*dnn)
        self.output = nn.Linear(width, self.num_outputs)
        self._init_weights(positive_float("lstm_init", lstm_init))

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

    def frames(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The model's input frames ``(B, T, F)`` (zeros past each end) and their lengths: the
        front end's log-mel features for audio ``x: (B, S)``, else ``x`` itself."""
        if self.frontend is not None:
            if x.dim() != 2:
                raise ValueError(f"CLDNN with a front end expects raw audio (B, S), got shape {tuple(x.shape)}")
            return self.frontend(x, lengths)
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"CLDNN expects x of shape (B, T, {self.in_features}), got {tuple(x.shape)}")
        return zero_padding(x, lengths), lengths

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
        if feats.shape[1] == 0:
            raise ValueError(f"CLDNN got no frames: input of shape {tuple(x.shape)} is shorter than one frame")
        z, reduced = self._encode(feats, self.cnn(feats) if self.cnn is not None else None)
        return self._decode(self._recur(z, lengths, tbptt_steps), reduced), lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``x: (B, T, F)`` frames (or ``(B, S)`` audio with a front end), ``lengths: (B,)`` valid
        steps (samples for audio) -> logits ``(B, K)``, or ``(B, T, K)`` with ``pool="none"``."""
        out, lengths = self.frame_outputs(x, lengths)
        if self.pool == "mean":
            return masked_mean(out, lengths)
        if self.pool == "last":
            return last_step(out, lengths)
        return out

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
