"""Activation functions by name, so configs can say ``activation: relu``."""

from typing import Literal

from torch import nn

from cnnlstm.arguments import checked

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "identity": nn.Identity,
}

Activation = Literal[tuple(ACTIVATIONS)]  # the declared type of an ``activation`` argument: one of the names


@checked
def activation(name: Activation) -> nn.Module:
    """Return a fresh activation module for ``name`` (one of ``ACTIVATIONS``)."""
    return ACTIVATIONS[name]()
