"""A stack of Conv2d -> activation -> MaxPool blocks whose output size is known at build time."""

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from cnnlstm.arguments import PositiveInt, checked
from cnnlstm.errors import ConfigError
from cnnlstm.nn.activations import Activation, activation
from cnnlstm.nn.shift_conv import ShiftConv2d

# Activations that commute with max-pooling (non-decreasing), so pooling can come first.
MONOTONIC = {"relu", "leaky_relu", "elu", "tanh", "sigmoid", "identity"}


def per_layer(name: str, value: int | Sequence[int], layers: int) -> list[int]:
    """``value`` for each of ``layers`` layers: an int applies to all, a list must have one per layer
    (a rule between two arguments, so it is checked here rather than declared)."""
    items = [value] if isinstance(value, int) else list(value)
    if len(items) == 1:
        items *= layers
    if len(items) != layers:
        raise ConfigError(f"{name} must have {layers} entries, got {len(items)}: {items}")
    return items


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Length of a conv/pool output along one axis (no dilation)."""
    return (size + 2 * padding - kernel) // stride + 1


class ConvStack2d(nn.Module):
    """``len(channels)`` blocks of Conv2d(kernel, padding) -> activation -> MaxPool2d(pool).

    For a non-decreasing activation (ReLU ...) the block pools first, which gives the same result
    on a quarter of the values for 2x2 pooling.

    Args:
        in_channels: channels of the input image.
        input_size: ``(H, W)`` of the input, used to check the geometry when the stack is built.
        channels: output channels per block.
        kernel_sizes: square kernel per block (an int applies to every block).
        pool_sizes: square max-pool per block; 1 means no pooling.
        padding: ``"valid"`` (Keras default, as in the tutorial) or ``"same"``.
        activation: name from :data:`cnnlstm.nn.activations.ACTIVATIONS`.
        batch_norm: add BatchNorm2d after each conv.

    Raises:
        ConfigError: when a block would shrink the image below 1x1, naming the block and sizes.
    """

    @checked
    def __init__(
        self,
        in_channels: PositiveInt,
        input_size: Sequence[PositiveInt],
        channels: Sequence[PositiveInt],
        kernel_sizes: PositiveInt | Sequence[PositiveInt] = 3,
        pool_sizes: PositiveInt | Sequence[PositiveInt] = 2,
        padding: Literal["valid", "same"] = "valid",
        activation_name: Activation = "relu",
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        kernels = per_layer("kernel_sizes", kernel_sizes, len(channels))
        pools = per_layer("pool_sizes", pool_sizes, len(channels))
        h, w = input_size
        blocks, prev = [], in_channels
        for i, (c, k, p) in enumerate(zip(channels, kernels, pools)):
            ch, cw = (h, w) if padding == "same" else (conv_output_size(h, k), conv_output_size(w, k))
            nh, nw = ch // p, cw // p
            if min(ch, cw) < 1 or min(nh, nw) < 1:
                raise ConfigError(
                    f"frame {input_size[0]}x{input_size[1]} is too small for the conv stack: block {i} "
                    f"(kernel {k}, pool {p}) gets {h}x{w} and would output {max(nh, 0)}x{max(nw, 0)}"
                )
            layers: list[nn.Module] = [ShiftConv2d(prev, c, k, padding=padding, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(c))
            if p > 1 and activation_name in MONOTONIC:
                layers += [nn.MaxPool2d(p), activation(activation_name)]  # same result, 1/p^2 the work
            else:
                layers += [activation(activation_name)] + ([nn.MaxPool2d(p)] if p > 1 else [])
            blocks.append(nn.Sequential(*layers))
            prev, h, w = c, nh, nw
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = prev
        self.output_size = (h, w)

    @property
    def out_features(self) -> int:
        """Number of values per image after flattening the output."""
        return self.out_channels * self.output_size[0] * self.output_size[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (N, C, H, W) -> (N, C_out, H_out, W_out)``."""
        return self.blocks(x)
