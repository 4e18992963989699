"""A stack of Linear -> activation -> dropout layers ending in a linear output layer."""

from collections.abc import Sequence

import torch
from torch import nn

from cnnlstm.arguments import PositiveInt, Probability, checked
from cnnlstm.nn.activations import Activation, activation


@checked
def hidden_layers(in_features: PositiveInt, hidden: Sequence[PositiveInt] = (), activation_name: Activation = "relu",
                  dropout: Probability = 0.0) -> list[nn.Module]:
    """``Linear -> activation [-> Dropout]`` for each width in ``hidden`` (no Dropout at rate 0):
    the hidden part of an :class:`MLP`, for models that keep their output layer apart."""
    layers: list[nn.Module] = []
    prev = in_features
    for width in hidden:
        layers += [nn.Linear(prev, width), activation(activation_name)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        prev = width
    return layers


class MLP(nn.Sequential):
    """``in_features -> hidden[0] -> ... -> hidden[-1] -> out_features``; the last layer is linear.

    ``x: (..., in_features) -> (..., out_features)``.
    """

    @checked
    def __init__(
        self,
        in_features: PositiveInt,
        out_features: PositiveInt,
        hidden: Sequence[PositiveInt] = (),
        activation_name: Activation = "relu",
        dropout: Probability = 0.0,
    ) -> None:
        layers = hidden_layers(in_features, hidden, activation_name, dropout)
        super().__init__(*layers, nn.Linear(hidden[-1] if hidden else in_features, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)
