"""The convolutional encoder-decoder baseline of the CNN-LSTM denoiser paper (arXiv 1801.05141)."""

from collections.abc import Sequence

import torch
from torch import nn

from cnnlstm.arguments import PositiveInt, checked
from cnnlstm.errors import ConfigError
from cnnlstm.nn.activations import Activation
from cnnlstm.nn.activations import activation as make_activation
from cnnlstm.nn.conv_stack import per_layer


class ImageInput:
    """The input side of a restoration model (ConvAutoencoder, CNNLSTMDenoiser): image batches
    ``(B, C, H, W)`` of its ``in_channels`` and ``image_size``."""

    in_channels: int
    image_size: tuple[int, int]

    def check_images(self, x: torch.Tensor, name: str = "x") -> None:
        """ValueError naming the model and the expected shape unless ``x`` is such a batch."""
        want = (self.in_channels, *self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"{type(self).__name__} expects {name} of shape (B, {want[0]}, {want[1]}, {want[2]}), "
                             f"got {tuple(x.shape)}")


class ConvAutoencoder(ImageInput, nn.Module):
    """Conv + max-pool blocks down, transposed-conv ("deconvolution") blocks up, a sigmoid output.

    The paper compares against "a deep convolutional encoder decoder with convolution and
    deconvolution steps" without giving sizes; we use the common denoising autoencoder of that
    time (the Keras blog's): encoder ``Conv3x3(c_i) -> act -> MaxPool2`` per entry of
    ``channels``, decoder the mirror with ``ConvTranspose2d(kernel 2, stride 2) -> act``, then a
    ``Conv3x3`` to ``in_channels`` and a sigmoid. With the default ``channels=[32, 32]`` on
    28x28 MNIST the bottleneck is 32x7x7.

    Args:
        image_size: ``H`` (square) or ``(H, W)``; both must be divisible by ``2**len(channels)``.
        in_channels: image channels.
        channels: channels of the encoder blocks (the decoder mirrors them).
        activation: hidden activation name.
        batch_norm: BatchNorm2d after each hidden conv.

    Example:
        >>> ConvAutoencoder(image_size=28)(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 1, 28, 28])
    """

    @checked
    def __init__(self, image_size: PositiveInt | Sequence[PositiveInt] = 28, in_channels: PositiveInt = 1,
                 channels: Sequence[PositiveInt] = (32, 32), activation: Activation = "relu",
                 batch_norm: bool = False) -> None:
        super().__init__()
        h, w = per_layer("image_size", image_size, 2)
        self.image_size = (h, w)
        self.in_channels = in_channels
        factor = 2 ** len(channels)
        if h % factor or w % factor:
            raise ConfigError(f"image_size {h}x{w} must be divisible by {factor} (2 per entry of channels "
                              f"{list(channels)}) so the decoder gives back the input size")

        def block(conv: nn.Module, c: int) -> list[nn.Module]:
            return [conv, *([nn.BatchNorm2d(c)] if batch_norm else []), make_activation(activation)]

        down, prev = [], self.in_channels
        for c in channels:
            down += [*block(nn.Conv2d(prev, c, 3, padding=1), c), nn.MaxPool2d(2)]
            prev = c
        up = []
        for c in reversed(channels):
            up += block(nn.ConvTranspose2d(prev, c, 2, stride=2), c)
            prev = c
        self.encoder = nn.Sequential(*down)
        self.decoder = nn.Sequential(*up, nn.Conv2d(prev, self.in_channels, 3, padding=1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, C, H, W)`` in [0, 1] -> restored ``(B, C, H, W)`` in [0, 1]."""
        self.check_images(x)
        return self.decoder(self.encoder(x))  # (B, C, H, W)
