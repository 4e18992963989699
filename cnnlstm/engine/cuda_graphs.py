"""CUDA graphs for the training step of fixed-shape models (``trainer.cuda_graphs=true``).

A small model on a GPU spends most of a step launching kernels. ``torch.cuda.make_graphed_callables``
records the forward and backward once and replays them as two graph launches, cuDNN LSTM
included, which ``torch.compile(mode="reduce-overhead")`` cannot capture because dynamo breaks
the graph at ``nn.LSTM``.

A graph replays fixed shapes, so :class:`CudaGraphed` captures on the first training batch and
replays for every batch with the same input shapes and dtypes; other batches (a short last batch,
variable-length sequences, whose lengths are a keyword input), any keyword input and eval mode
run the model eagerly with the same weights. Not bit-identical to eager (different kernels and dropout
streams), and the capture's warm-up passes update batch-norm statistics three extra times.
"""

from collections.abc import Callable

import torch
from torch import nn

from cnnlstm.errors import ConfigError


def check_cuda_graphs(device: torch.device, compile_mode: str, accumulate: int, checkpointing: bool,
                      distributed: bool) -> None:
    """One clear error for a setting CUDA graphs cannot run with."""
    if device.type != "cuda":
        raise ConfigError(f"trainer.cuda_graphs=true needs trainer.device=cuda, got {device.type}")
    if compile_mode != "false":
        raise ConfigError("trainer.cuda_graphs=true replaces trainer.compile; set trainer.compile=false")
    if checkpointing:
        raise ConfigError("trainer.cuda_graphs=true cannot capture trainer.activation_checkpointing "
                          "(it saves and restores the CUDA RNG state); switch one off")
    if accumulate > 1:
        raise ConfigError("trainer.cuda_graphs=true needs trainer.accumulate_grad_batches=1 "
                          "(replays overwrite the gradient buffers that accumulation would add to)")
    if distributed:
        raise ConfigError("trainer.cuda_graphs=true is single-process only; run without torchrun")


class CudaGraphed(nn.Module):
    """Call ``module`` through a CUDA graph of its training forward+backward where the shapes allow.

    Args:
        module: the model to train (its ``forward`` is replaced in place at the capture; weights
            and state-dict keys are unchanged). ``.module`` as for DistributedDataParallel.
        batch_size: capture on the first training batch of this many samples (a resume may start
            on an epoch's short last batch); None: on the first training batch.
        make_graphed: the capturing function (``torch.cuda.make_graphed_callables``; tests on
            CPU pass a stand-in).
    """

    def __init__(self, module: nn.Module, batch_size: int | None = None,
                 make_graphed: Callable = torch.cuda.make_graphed_callables) -> None:
        super().__init__()
        self.module = module
        self.batch_size = batch_size
        self._eager = module.forward
        self._make_graphed = make_graphed
        self._signature: tuple | None = None
        self.replays = 0

    @staticmethod
    def _signature_of(args: tuple) -> tuple | None:
        if not args or not all(isinstance(a, torch.Tensor) for a in args):
            return None
        return tuple((tuple(a.shape), a.dtype, a.device) for a in args)

    def _capture(self, args: tuple, signature: tuple) -> None:
        samples = tuple(a.detach().clone() for a in args)  # the graph's static inputs
        self._make_graphed(self.module, samples)
        self._signature = signature

    def forward(self, *args, **kwargs):
        """As ``module(*args, **kwargs)``; graphed when training on tensors shaped like the captured batch."""
        signature = None if kwargs or not self.training else self._signature_of(args)
        if signature is None:
            return self._eager(*args, **kwargs)
        if self._signature is None and self.batch_size in (None, args[0].shape[0]):
            self._capture(args, signature)
        if signature != self._signature:
            return self._eager(*args)
        self.replays += 1
        return self.module(*args)
