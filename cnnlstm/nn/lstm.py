"""An ``nn.LSTM`` whose recurrence runs in a dtype you choose, whatever autocast is active."""

import warnings

import torch
from torch import nn

# torch warns on every process's first CPU LSTM with proj_size (the CLDNN paper's) that oneDNN
# lacks it; the default kernel it falls back to is the right one, so the warning is only noise.
warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")


class LSTM(nn.LSTM):
    """``nn.LSTM`` (same arguments and state dict) that is predictable under mixed precision.

    Autocast sends cuDNN RNNs to float16 even inside a bfloat16 context, and float16 recurrences
    over long sequences lose accuracy. Here the recurrence runs in ``recurrent_dtype`` (float32 by
    default; ``None`` leaves it to autocast): inputs and states are cast on the way in, and the
    outputs are returned in that dtype. Weights stay flattened and contiguous for cuDNN.
    """

    def __init__(self, *args, recurrent_dtype: torch.dtype | None = torch.float32, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.recurrent_dtype = recurrent_dtype

    def forward(self, input, hx=None):
        device_type = input.device.type if isinstance(input, torch.Tensor) else input.data.device.type
        if self.recurrent_dtype is None or not torch.is_autocast_enabled(device_type):
            return super().forward(input, hx)
        dtype = self.recurrent_dtype
        input = _cast(input, dtype)
        if hx is not None:
            hx = tuple(h.to(dtype) for h in hx)
        with torch.autocast(device_type=device_type, enabled=False):
            return super().forward(input, hx)


def _cast(input, dtype: torch.dtype):
    if isinstance(input, nn.utils.rnn.PackedSequence):
        return input._replace(data=input.data.to(dtype))
    return input.to(dtype)


LayerStates = list[tuple[torch.Tensor, torch.Tensor]]


def lstm_step(lstm: nn.LSTM, x: torch.Tensor, state: LayerStates | None = None) -> tuple[torch.Tensor, LayerStates]:
    """One time step of a unidirectional ``nn.LSTM`` without projections, with its own weights.

    ``x: (B, I)`` -> the top layer's output ``(B, H)`` and each layer's new ``(h, c)``, each
    ``(B, H)`` (``state=None``: zeros). The same computation as ``lstm(x[:, None], state)``, with
    dropout between layers in training, but through the LSTM cell kernel: decoders that feed
    back their own output must call an LSTM one step at a time, and there ``nn.LSTM``'s CPU
    (oneDNN) path re-prepares its weights on every call, about 2x slower forward and backward.
    A :class:`LSTM`'s ``recurrent_dtype`` holds here too: under autocast the step runs in it.
    """
    if lstm.bidirectional or lstm.proj_size:
        raise ValueError("lstm_step needs a unidirectional nn.LSTM without proj_size")
    dtype = getattr(lstm, "recurrent_dtype", None)
    if dtype is not None and torch.is_autocast_enabled(x.device.type):
        x = x.to(dtype)
        state = None if state is None else [(h.to(dtype), c.to(dtype)) for h, c in state]
        with torch.autocast(device_type=x.device.type, enabled=False):
            return lstm_step(lstm, x, state)
    if state is None:
        zeros = x.new_zeros(x.shape[0], lstm.hidden_size)
        state = [(zeros, zeros)] * lstm.num_layers
    new_state, inp = [], x
    for layer in range(lstm.num_layers):
        weights = [getattr(lstm, f"{name}_l{layer}", None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        h, c = torch.lstm_cell(inp, state[layer], *weights)
        new_state.append((h, c))
        inp = h
        if layer < lstm.num_layers - 1 and lstm.dropout and lstm.training:
            inp = nn.functional.dropout(inp, lstm.dropout, training=True)
    return inp, new_state
