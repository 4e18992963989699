"""Building blocks shared by the models."""

from cnnlstm.nn.conv_stack import ConvStack2d
from cnnlstm.nn.mlp import MLP
from cnnlstm.nn.time_distributed import TimeDistributed

__all__ = ["ConvStack2d", "MLP", "TimeDistributed"]
