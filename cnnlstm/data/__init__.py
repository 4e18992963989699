"""Data sources, one file each; configs in ``conf/data/`` name them with ``_target_``."""

from cnnlstm.data.indexed import IndexedData
from cnnlstm.data.moving_squares import MovingSquares
from cnnlstm.data.uea import UEA

__all__ = ["IndexedData", "MovingSquares", "UEA"]
