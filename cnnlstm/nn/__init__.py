"""Building blocks shared by the models."""

from cnnlstm.nn.attention import AdditiveAttention, DirectAttention
from cnnlstm.nn.conv_stack import ConvStack2d
from cnnlstm.nn.mlp import MLP
from cnnlstm.nn.rows import image_to_rows, rows_to_image
from cnnlstm.nn.time_distributed import TimeDistributed

__all__ = ["AdditiveAttention", "ConvStack2d", "DirectAttention", "MLP", "TimeDistributed", "image_to_rows",
           "rows_to_image"]
