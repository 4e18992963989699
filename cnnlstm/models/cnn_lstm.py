"""The CNN-LSTM video classifier of the Keras "moving square" tutorial, made configurable."""

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from cnnlstm.arguments import PositiveInt, Probability, checked
from cnnlstm.errors import ConfigError
from cnnlstm.nn.activations import Activation
from cnnlstm.nn.conv_stack import ConvStack2d, per_layer
from cnnlstm.nn.init import keras_init_
from cnnlstm.nn.lstm import LSTM
from cnnlstm.nn.mlp import MLP
from cnnlstm.nn.time_distributed import TimeDistributed


class CNNLSTM(nn.Module):
    """A CNN on every frame (time folded into batch), an LSTM over the frame features, a dense head.

    Defaults reproduce the tutorial: Conv2d(1->2, 2x2, ReLU), MaxPool 2x2, flatten, LSTM(50),
    Linear(50->1) on 50x50 frames. The head reads the LSTM output at the last step (both
    directions' final states when bidirectional).

    Args:
        frame_size: ``H`` (square) or ``(H, W)`` of each frame.
        in_channels: channels per frame.
        num_outputs: logits per sequence (1 for a binary label).
        conv_channels, kernel_sizes, pool_sizes, padding, activation, batch_norm: the per-frame
            conv stack, see :class:`cnnlstm.nn.conv_stack.ConvStack2d`.
        hidden_size, num_layers, bidirectional, dropout: the LSTM (dropout between its layers
            and before the head).
        head_hidden: widths of hidden dense layers in the head (tutorial: none).
        fold_time: fold time into batch for the CNN; False is the slow per-frame loop (not with
            ``batch_norm``: the loop would normalise each time step with its own statistics).
        eval_chunk_frames: frames per CNN call in eval mode on CPU (None: all at once), see
            :class:`cnnlstm.nn.time_distributed.TimeDistributed`; results do not depend on it.
        init: ``keras`` (the tutorial's framework defaults, see :func:`cnnlstm.nn.init.keras_init_`)
            or ``torch`` (PyTorch's own defaults).

    Example:
        >>> model = CNNLSTM(frame_size=50)
        >>> model(torch.zeros(4, 10, 1, 50, 50)).shape
        torch.Size([4, 1])
    """

    @checked
    def __init__(
        self,
        frame_size: PositiveInt | Sequence[PositiveInt] = 50,
        in_channels: PositiveInt = 1,
        num_outputs: PositiveInt = 1,
        conv_channels: Sequence[PositiveInt] = (2,),
        kernel_sizes: PositiveInt | Sequence[PositiveInt] = 2,
        pool_sizes: PositiveInt | Sequence[PositiveInt] = 2,
        padding: Literal["valid", "same"] = "valid",
        activation: Activation = "relu",
        batch_norm: bool = False,
        hidden_size: PositiveInt = 50,
        num_layers: PositiveInt = 1,
        bidirectional: bool = False,
        dropout: Probability = 0.0,
        head_hidden: Sequence[PositiveInt] = (),
        fold_time: bool = True,
        eval_chunk_frames: PositiveInt | None = 128,
        init: Literal["keras", "torch"] = "keras",
    ) -> None:
        super().__init__()
        if batch_norm and not fold_time:
            raise ConfigError("fold_time=false cannot be combined with batch_norm=true: the per-frame loop "
                              "would normalise each time step with its own batch statistics; keep fold_time=true")
        self.frame_size = tuple(per_layer("frame_size", frame_size, 2))  # (H, W)
        self.in_channels = in_channels
        conv = ConvStack2d(in_channels, self.frame_size, conv_channels, kernel_sizes, pool_sizes, padding,
                           activation, batch_norm)
        self.cnn = TimeDistributed(nn.Sequential(conv, nn.Flatten()), fold=fold_time,
                                   eval_chunk_frames=eval_chunk_frames)
        self.lstm = LSTM(conv.out_features, hidden_size, num_layers=num_layers, batch_first=True,
                         bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        directions = 2 if bidirectional else 1
        self.head = MLP(hidden_size * directions, num_outputs, head_hidden, activation, dropout)
        if init == "keras":
            keras_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, T, C, H, W)`` (or ``(B, T, H, W)`` for one channel) -> logits ``(B, num_outputs)``."""
        if x.dim() == 4 and self.in_channels == 1:
            x = x.unsqueeze(2)  # (B, T, 1, H, W)
        if x.dim() != 5 or tuple(x.shape[2:]) != (self.in_channels, *self.frame_size):
            raise ValueError(
                f"CNNLSTM expects x of shape (B, T, {self.in_channels}, {self.frame_size[0]}, "
                f"{self.frame_size[1]}), got {tuple(x.shape)}"
            )
        features = self.cnn(x)  # (B, T, F)
        _, (h_n, _) = self.lstm(features)  # h_n: (layers * directions, B, hidden)
        directions = 2 if self.lstm.bidirectional else 1
        last = h_n[-directions:].transpose(0, 1).flatten(1)  # (B, hidden * directions)
        return self.head(self.dropout(last))  # (B, num_outputs)
