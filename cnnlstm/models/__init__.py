"""Whole models, one file each; configs in ``conf/model/`` name them with ``_target_``."""

from cnnlstm.models.cnn_lstm import CNNLSTM

__all__ = ["CNNLSTM"]
