"""Data sources, one file each; configs in ``conf/data/`` name them with ``_target_``."""

from cnnlstm.data.image_folder import ImageFolder
from cnnlstm.data.indexed import IndexedData
from cnnlstm.data.mnist import MNIST
from cnnlstm.data.moving_squares import MovingSquares
from cnnlstm.data.restoration_base import RestorationData

__all__ = ["ImageFolder", "IndexedData", "MNIST", "MovingSquares", "RestorationData"]
