"""Whole models, one file each; configs in ``conf/model/`` name them with ``_target_``."""

from cnnlstm.models.cldnn import CLDNN
from cnnlstm.models.cnn_lstm import CNNLSTM
from cnnlstm.models.conv_autoencoder import ConvAutoencoder
from cnnlstm.models.denoiser import CNNLSTMDenoiser
from cnnlstm.models.frame_dnn import FrameDNN

__all__ = ["CLDNN", "CNNLSTM", "CNNLSTMDenoiser", "ConvAutoencoder", "FrameDNN"]
