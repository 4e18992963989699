"""Seeing through the wrappers a training loop puts around a model (DDP, CUDA graphs, torch.compile)."""

import inspect

from torch import nn


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside its wrappers: ``torch.compile``'s (``_orig_mod``) and any module whose
    ``forward`` only passes ``(*args, **kwargs)`` on to the ``.module`` it holds (DistributedDataParallel,
    the engine's CudaGraphed). Duck-typed, so this layer needs no import of the engine that wraps."""
    while True:
        inner = getattr(model, "_orig_mod", None)
        if inner is None and isinstance(getattr(model, "module", None), nn.Module) and _only_passes_on(model):
            inner = model.module
        if inner is None:
            return model
        model = inner


def _only_passes_on(model: nn.Module) -> bool:
    kinds = {p.kind for p in inspect.signature(type(model).forward).parameters.values() if p.name != "self"}
    return kinds == {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}
