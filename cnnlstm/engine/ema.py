"""An exponential moving average of the weights, the copy that validation and test score.

Averaging the last few hundred optimizer steps smooths the noise of small-batch training on
small data sets (Polyak averaging; the ``ema`` option of timm and Lightning). The averaged copy
is the one validated, checkpointed as ``ema`` and loaded by ``eval.py`` and the inference CLIs.
"""

import copy

import torch
from torch import nn


def warmed_up_decay(decay: float, updates: int) -> float:
    """``decay``, lowered for the first updates so the average forgets the random init quickly."""
    return min(decay, (1 + updates) / (10 + updates))


class WeightAverage(nn.Module):
    """An exponential moving average of a model's parameters; its buffers follow the model.

    ``update(model)`` after every optimizer step; ``module`` is the averaged copy (eval only,
    no gradients). Buffers (batch-norm running statistics, log-mel normalisation statistics)
    are copied, not averaged: they already are running statistics. The update count lives on
    the host, so no step waits for the device (``torch.optim.swa_utils.AveragedModel`` reads its
    device-side counter every update).

    Args:
        model: the model being trained (copied once; later updates read its current weights).
        decay: the average's decay per update; ``1 / (1 - decay)`` updates is its horizon.

    Example:
        >>> net = nn.Linear(2, 2)
        >>> ema = WeightAverage(net, decay=0.99)
        >>> ema.update(net)
        >>> ema.module(torch.zeros(1, 2)).shape
        torch.Size([1, 2])
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__()
        self.decay = decay
        self.reset(model)

    def reset(self, model: nn.Module) -> None:
        """Start the average afresh from ``model``'s current weights."""
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        for rnn in self.module.modules():
            if isinstance(rnn, nn.RNNBase):
                rnn.flatten_parameters()  # deepcopy leaves cuDNN's weight buffer split
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the model's current weights into the average."""
        weight = 1.0 - warmed_up_decay(self.decay, self.updates)
        averaged = list(self.module.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in model.parameters()], weight)
        for mine, theirs in zip(self.module.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)
        self.updates += 1

    def state_dict(self, *args, **kwargs) -> dict:
        """The averaged weights (as ``module.<name>``) and the update count."""
        return {"updates": self.updates, **{f"module.{k}": v for k, v in self.module.state_dict().items()}}

    def load_state_dict(self, state: dict, strict: bool = True, assign: bool = False):
        state = dict(state)
        self.updates = int(state.pop("updates"))
        return self.module.load_state_dict(unwrap(state), strict=strict, assign=assign)


def unwrap(state: dict) -> dict[str, torch.Tensor]:
    """The model weights of a :class:`WeightAverage` state dict (``module.`` prefix removed)."""
    prefix = "module."
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def inference_weights(ckpt: dict) -> dict[str, torch.Tensor]:
    """The weights to predict with from a checkpoint: the moving average when it has one."""
    return unwrap(ckpt["ema"]) if ckpt.get("ema") else ckpt["model"]
