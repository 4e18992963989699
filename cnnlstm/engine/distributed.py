"""Data-parallel training across processes started by ``torchrun`` (NCCL on CUDA, gloo on CPU).

One :class:`Distributed` object tells the run its rank and world size and does the few
collective operations the loop needs. Without ``torchrun`` (``WORLD_SIZE`` unset or 1) every
method is a cheap no-op, so the single-process path stays the plain one.
"""

import os
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn


class Distributed:
    """Rank, world size and collectives of the current process group (or of a single process)."""

    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0) -> None:
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes checkpoints, logs and metrics."""
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device) -> tuple["Distributed", torch.device]:
        """Join the process group ``torchrun`` describes; returns it and this rank's device."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls(), device
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(rank, world_size, local_rank), device

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The model to train through: DistributedDataParallel when there are several ranks."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when ``flag`` is true on any rank (e.g. a stop signal)."""
        if not self.enabled:
            return flag
        value = torch.tensor(float(flag), device=device)
        dist.all_reduce(value)
        return bool(value.item() > 0)

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over ranks in place."""
        if self.enabled:
            dist.all_reduce(tensor)
        return tensor

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def hydra_argv_for_rank(argv: list[str]) -> list[str]:
    """Keep Hydra from making a run directory per rank under ``torchrun``.

    Rank 0 keeps the usual (timestamped or given) directory; other ranks write their Hydra files
    into a throw-away directory and get rank 0's run directory by broadcast.
    """
    rank = int(os.environ.get("RANK", "0"))
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or rank == 0:
        return argv
    scratch = Path(tempfile.mkdtemp(prefix=f"cnnlstm-rank{rank}-"))
    return [*argv, f"hydra.run.dir={scratch}", "hydra.output_subdir=null"]
