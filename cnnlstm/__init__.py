"""cnnlstm: CNN-LSTM model families with Hydra configs and one trainer."""

__version__ = "0.1.0"
