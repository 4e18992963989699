"""Trainer options that change how a model runs, not what it computes: compile, checkpointing, layout."""

import contextlib
import functools
from collections.abc import Iterator

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def compile_model(model: nn.Module, mode) -> nn.Module:
    """Apply ``torch.compile`` in place; returns the module to call.

    ``parts`` (what ``true`` means) compiles each largest submodule without a recurrent layer —
    the CNN and dense parts — and leaves the LSTMs eager, since dynamo graph-breaks on
    ``nn.LSTM``. ``full`` compiles the whole model. ``Module.compile`` keeps state-dict keys, so
    checkpoints are the same either way.
    """
    mode = str(mode).lower()  # the trainer declared the choices
    if mode == "false":
        return model
    if mode == "full" or not _has_rnn(model):
        model.compile()
        return model
    for child in _non_recurrent_parts(model):
        child.compile()
    return model


def _has_rnn(module: nn.Module) -> bool:
    return any(isinstance(m, nn.RNNBase) for m in module.modules())


def _non_recurrent_parts(module: nn.Module) -> list[nn.Module]:
    parts = []
    for child in module.children():
        if isinstance(child, nn.RNNBase):
            continue
        if _has_rnn(child):
            parts += _non_recurrent_parts(child)
        elif any(p.numel() for p in child.parameters()) or len(list(child.children())):
            parts.append(child)
    return parts


def enable_activation_checkpointing(model: nn.Module, class_names: list[str]) -> int:
    """Recompute the activations of every submodule whose class is named in ``class_names``
    during backward instead of storing them: less memory for about one more forward pass.
    Returns how many modules are checkpointed (wrapped now or before)."""
    count = 0
    for module in model.modules():
        if type(module).__name__ not in class_names:
            continue
        count += 1
        if not getattr(module, "_checkpointed", False):
            recompute = functools.partial(_running_stats_frozen, module)
            module.forward = functools.partial(checkpoint, module.forward, use_reentrant=False,
                                               context_fn=lambda r=recompute: (contextlib.nullcontext(), r()))
            module._checkpointed = True
    return count


@contextlib.contextmanager
def _running_stats_frozen(module: nn.Module) -> Iterator[None]:
    """While backward recomputes ``module``'s forward, its normalisation layers normalise with the
    batch statistics as before but leave their running statistics as the first forward left them
    (momentum 0 keeps the kernels and saved tensors of that forward; the batch count is put back)."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats]
    saved = [(m.momentum, m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, batches) in zip(norms, saved):
            m.momentum = momentum
            m.num_batches_tracked.copy_(batches)


def to_channels_last(model: nn.Module) -> nn.Module:
    """Store 4-D conv weights channels-last; convolutions then produce channels-last outputs."""
    return model.to(memory_format=torch.channels_last)


def prepare_forward(model: nn.Module, trainer, batch_size: int) -> nn.Module:
    """What the loop calls: ``model`` with the trainer's speed options applied (activation
    checkpointing, channels-last, compile), wrapped for DDP and CUDA graphs."""
    from cnnlstm.engine.cuda_graphs import CudaGraphed
    from cnnlstm.errors import ConfigError

    if trainer.checkpointed and not enable_activation_checkpointing(model, trainer.checkpointed):
        names = sorted({type(m).__name__ for m in model.modules()} - {type(model).__name__})
        raise ConfigError(f"trainer.activation_checkpointing: {type(model).__name__} has no submodule of the "
                          f"classes {trainer.checkpointed}; name some of its own: {names}")
    if trainer.channels_last:
        to_channels_last(model)
    forward = trainer.dist.wrap(compile_model(model, trainer.compile), trainer.device)
    return CudaGraphed(forward, batch_size=batch_size) if trainer.cuda_graphs else forward


class _NoProfiler:
    """Stands in for the profiler when ``profile`` is off."""

    def step(self) -> None:
        pass


@contextlib.contextmanager
def profiler(enabled: bool, trace_dir):
    """The torch profiler over training steps 2-4 writing a trace into ``trace_dir`` (TensorBoard's
    PyTorch Profiler tab); else a no-op."""
    if not enabled or trace_dir is None:
        yield _NoProfiler()
        return
    import logging

    from torch.profiler import profile, schedule, tensorboard_trace_handler

    with profile(schedule=schedule(wait=1, warmup=1, active=3, repeat=1), record_shapes=True,
                 on_trace_ready=tensorboard_trace_handler(str(trace_dir))) as prof:
        yield prof
    logging.getLogger(__name__).info("profiler trace written into %s (TensorBoard: PyTorch Profiler tab)",
                                     trace_dir)
