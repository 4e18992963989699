"""Building blocks shared by the models."""

from cnnlstm.nn.attention import AdditiveAttention, DirectAttention
from cnnlstm.nn.conv_stack import ConvStack2d
from cnnlstm.nn.frequency_conv import FrequencyConv
from cnnlstm.nn.log_mel import LogMel
from cnnlstm.nn.mlp import MLP
from cnnlstm.nn.rows import image_to_rows, rows_to_image
from cnnlstm.nn.time_distributed import TimeDistributed

__all__ = ["AdditiveAttention", "ConvStack2d", "DirectAttention", "FrequencyConv", "LogMel", "MLP",
           "TimeDistributed", "image_to_rows", "rows_to_image"]
