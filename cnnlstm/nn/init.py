"""Weight initialisations by name, so a model can reproduce the framework its paper used."""

from torch import nn


def keras_init_(module: nn.Module) -> None:
    """Keras defaults: Glorot-uniform kernels and zero biases for conv and dense layers; for LSTMs
    Glorot-uniform input weights, orthogonal recurrent weights, zero biases and forget-gate bias 1.

    Zero biases matter for a ReLU conv on sparse frames (the moving squares): PyTorch's random
    conv biases can switch every channel off, and the LSTM then sees only zeros.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LSTM):
            lstm_keras_init_(m)


def lstm_keras_init_(lstm: nn.LSTM) -> None:
    """Glorot input weights, orthogonal recurrent weights (per gate), biases zero but forget gate 1."""
    hidden = lstm.hidden_size
    for name, param in lstm.named_parameters():
        if name.startswith("weight_ih"):
            for gate in param.data.split(hidden):
                nn.init.xavier_uniform_(gate)
        elif name.startswith("weight_hh"):
            for gate in param.data.split(hidden):
                nn.init.orthogonal_(gate)
        elif name.startswith("bias"):
            nn.init.zeros_(param)
            if name.startswith("bias_ih"):
                param.data[hidden:2 * hidden] = 1.0  # gate order i, f, g, o: forget gate
        elif name.startswith("weight_hr"):
            nn.init.xavier_uniform_(param)
