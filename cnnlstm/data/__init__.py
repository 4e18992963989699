"""Data sources, one file each; configs in ``conf/data/`` name them with ``_target_``."""

from cnnlstm.data.image_folder import ImageFolder
from cnnlstm.data.indexed import IndexedData
from cnnlstm.data.lookahead import LookaheadSymbols
from cnnlstm.data.mnist import MNIST
from cnnlstm.data.moving_squares import MovingSquares
from cnnlstm.data.restoration_base import RestorationData
from cnnlstm.data.speech_commands import SpeechCommands
from cnnlstm.data.timit import TIMIT
from cnnlstm.data.uea import UEA
from cnnlstm.data.wav_folder import WavFolder

__all__ = ["ImageFolder", "IndexedData", "LookaheadSymbols", "MNIST", "MovingSquares", "RestorationData",
           "SpeechCommands", "TIMIT", "UEA", "WavFolder"]
