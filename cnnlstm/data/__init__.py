"""Data sources, one file each; configs in ``conf/data/`` name them with ``_target_``."""

from cnnlstm.data.indexed import IndexedData
from cnnlstm.data.lookahead import LookaheadSymbols
from cnnlstm.data.moving_squares import MovingSquares
from cnnlstm.data.uea import UEA
from cnnlstm.data.wav_folder import WavFolder

__all__ = ["IndexedData", "LookaheadSymbols", "MovingSquares", "UEA", "WavFolder"]
