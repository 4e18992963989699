"""A stack of Linear -> activation -> dropout layers ending in a linear output layer."""

from collections.abc import Sequence

import torch
from torch import nn

from cnnlstm.checks import positive_int, probability
from cnnlstm.nn.activations import activation


class MLP(nn.Sequential):
    """``in_features -> hidden[0] -> ... -> hidden[-1] -> out_features``; the last layer is linear.

    ``x: (..., in_features) -> (..., out_features)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (),
        activation_name: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        layers: list[nn.Module] = []
        prev = positive_int("in_features", in_features)
        for i, width in enumerate(hidden):
            layers += [nn.Linear(prev, positive_int(f"hidden[{i}]", width)), activation(activation_name)]
            if probability("dropout", dropout) > 0:
                layers.append(nn.Dropout(dropout))
            prev = width
        layers.append(nn.Linear(prev, positive_int("out_features", out_features)))
        super().__init__(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)
