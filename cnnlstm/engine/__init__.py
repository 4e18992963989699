"""The training engine: the one trainer, checkpoints, logging, and the run that ties them."""

from cnnlstm.engine.trainer import Trainer

__all__ = ["Trainer"]
