"""An ``nn.LSTM`` whose recurrence runs in a dtype you choose, whatever autocast is active."""

import torch
from torch import nn


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
