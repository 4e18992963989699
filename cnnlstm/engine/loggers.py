"""Experiment loggers: TensorBoard, or nothing (``logger=none``)."""

import contextlib
import logging
import threading
import warnings
from pathlib import Path

import torch
from torch import nn

from cnnlstm.errors import first_line
from cnnlstm.files import storage_error

log = logging.getLogger(__name__)

FINAL = "~final"  # the tag group of a run's final numbers: "~" sorts after train/ and val/ in TensorBoard


class NullLogger:
    """A logger that records nothing; the trainer calls it the same way."""

    def __init__(self, log_dir: str | Path | None = None) -> None:
        self.log_dir = log_dir

    def log_scalars(self, values: dict[str, float], step: int) -> None:
        pass

    def log_graph(self, model: nn.Module, args: tuple) -> None:
        pass

    def log_images(self, tag: str, images: torch.Tensor, step: int) -> None:
        pass

    def log_hparams(self, hparams: dict, metrics: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


class TensorBoardLogger(NullLogger):
    """Writes TensorBoard event files into ``log_dir`` (the run directory itself, so that
    ``tensorboard --logdir outputs`` names each run after its directory, not ``.`` or ``.../tb``).

    The Time Series view sorts tag groups by name and opens the first ones: the curves are
    ``train/*`` and ``val/*``; the numbers a run ends with (``test/*``, ``best/*``, ``epochs``,
    ``fit_seconds`` ...) go under ``~final/`` (sorted last) for the HParams view, and are in
    ``metrics.json`` as they are.

    Hyper-parameters go into the same event directory as the scalars (not a per-call
    sub-directory as ``SummaryWriter.add_hparams`` does), so each run of a sweep is one row in
    the HParams view with its final metrics.
    """

    def __init__(self, log_dir: str | Path, flush_secs: int = 30) -> None:
        from torch.utils.tensorboard import SummaryWriter

        _quiet_writer_threads()
        with self._storage(log_dir):
            self.writer = SummaryWriter(log_dir=str(log_dir), flush_secs=flush_secs)

    @contextlib.contextmanager
    def _storage(self, log_dir: str | Path | None = None):
        """A failed write (full disk, quota) is one StorageError naming the event file; the writer's
        thread fails first and its error surfaces at the next call."""
        try:
            yield
        except OSError as e:
            writer = getattr(getattr(self, "writer", None), "file_writer", None)
            name = getattr(getattr(writer, "event_writer", None), "_file_name", None)
            raise storage_error(e, e.filename or name or log_dir) from None

    def log_scalars(self, values: dict[str, float], step: int) -> None:
        with self._storage():
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def log_graph(self, model: nn.Module, args: tuple) -> None:
        """Trace ``model`` in eval mode without gradients: no dropout draw, no batch-norm update."""
        was_training = model.training
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with torch.no_grad():
                    self.writer.add_graph(model.eval(), args)
        except Exception as e:  # tracing is best-effort: a model it cannot trace still trains
            log.warning("TensorBoard graph skipped: %s", first_line(e))
        finally:
            model.train(was_training)

    def log_images(self, tag: str, images: torch.Tensor, step: int) -> None:
        with self._storage():
            self.writer.add_images(tag, images.detach().float().cpu().clamp(0, 1), step)

    def log_hparams(self, hparams: dict, metrics: dict[str, float]) -> None:
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        safe = {k: v if isinstance(v, (bool, int, float, str)) else "null" if v is None else str(v)
                for k, v in hparams.items()}  # TensorBoard takes scalars and strings only
        metrics = {f"{FINAL}/{k}": v for k, v in metrics.items()}
        exp, ssi, sei = hparams_summary(safe, metrics)
        with self._storage():
            for summary in (exp, ssi, sei):
                self.writer.file_writer.add_summary(summary)
            for key, value in metrics.items():
                self.writer.add_scalar(key, value)
            self.writer.flush()

    def close(self) -> None:
        with self._storage():
            self.writer.close()


def _quiet_writer_threads() -> None:
    """TensorBoard's writer thread re-raises a failed write, and Python prints that thread's
    traceback; the same error reaches the trainer at its next log call as one line, so the
    thread's own report is dropped (every other thread's still goes to the previous hook)."""
    previous = threading.excepthook
    if getattr(previous, "quiet_tensorboard", False):
        return

    def hook(args) -> None:
        if type(args.thread).__name__ != "_AsyncWriterThread" or not issubclass(args.exc_type, OSError):
            previous(args)

    hook.quiet_tensorboard = True
    threading.excepthook = hook
