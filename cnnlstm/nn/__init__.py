"""Building blocks shared by the models."""

from cnnlstm.nn.conv_stack import ConvStack2d
from cnnlstm.nn.frequency_conv import FrequencyConv
from cnnlstm.nn.log_mel import LogMel
from cnnlstm.nn.mlp import MLP
from cnnlstm.nn.time_distributed import TimeDistributed

__all__ = ["ConvStack2d", "FrequencyConv", "LogMel", "MLP", "TimeDistributed"]
