"""Multivariate UEA/UCR classification sets that aeon ships (JapaneseVowels ...), held on the device."""

import logging
from pathlib import Path

import numpy as np
import torch

from cnnlstm.arguments import NonNegativeFloat, NonNegativeInt, PositiveInt, Probability, checked
from cnnlstm.data.padded import PaddedSequences
from cnnlstm.errors import ConfigError, DataError, first_line
from cnnlstm.nn.masking import length_mask

log = logging.getLogger(__name__)


def _header(name: str) -> dict[str, str]:
    """The ``@key value`` lines of a shipped set's ``_TRAIN.ts`` header, keys lower-cased."""
    import aeon.datasets

    path = Path(aeon.datasets.__file__).parent / "data" / name / f"{name}_TRAIN.ts"
    header = {}
    with open(path, errors="replace") as f:
        for line in f:
            key, _, value = line.strip().partition(" ")
            if key.lower() == "@data":
                break
            if key.startswith("@"):
                header[key[1:].lower()] = value.strip().lower()
    return header


def shipped_datasets() -> list[str]:
    """Names of the classification sets aeon has on disk (loadable offline).

    aeon also ships regression sets (``@targetLabel``, e.g. CardanoSentiment) in the same folder;
    they fail in ``load_classification``, so only sets whose header says ``@classLabel true`` count.
    """
    import aeon.datasets

    root = Path(aeon.datasets.__file__).parent / "data"
    return sorted(p.name for p in root.iterdir() if (p / f"{p.name}_TRAIN.ts").is_file()
                  and (p / f"{p.name}_TEST.ts").is_file() and _header(p.name).get("classlabel", "").startswith("true"))


def is_multivariate(name: str) -> bool:
    """Whether a shipped set has several channels (read from its ``.ts`` header)."""
    return _header(name).get("univariate") == "false"


def load_split(name: str, split: str, extract_path: str | None = None,
               skip_bad: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
    """``(series, labels)`` of a split: each series ``(C, T_i)`` float32. Trailing NaNs mark a
    shorter series and are dropped; a NaN or infinite value inside a series is a DataError naming
    it (``skip_bad``: the series is left out, with a warning)."""
    from aeon.datasets import load_classification

    if extract_path is None and name not in shipped_datasets():
        have = sorted(shipped_datasets(), key=lambda n: not is_multivariate(n))  # multivariate first
        raise DataError(f"data.name={name!r} is not a dataset aeon ships offline; it has {len(have)}, e.g. "
                        f"{', '.join(have[:6])} (or set data.extract_path to a folder holding "
                        f"{name}/{name}_TRAIN.ts)")
    try:
        X, y = load_classification(name, split=split, extract_path=extract_path, return_metadata=False)
    except Exception as e:  # aeon raises many types for missing or malformed files
        raise DataError(f"cannot load UEA dataset {name!r} ({split}): {first_line(e)}") from None
    series, keep = [], []
    for i, x in enumerate(X):
        x = np.asarray(x, dtype=np.float32)  # (C, T)
        valid = ~np.isnan(x).all(0)
        end = int(np.nonzero(valid)[0].max()) + 1 if valid.any() else 0
        if np.isfinite(x[:, :end]).all():
            series.append(x[:, :end])
            keep.append(i)
        elif not skip_bad:
            raise DataError(f"UEA dataset {name!r} ({split}) series {i} holds NaN or infinite values "
                            "(set data.skip_bad=true to leave such series out)")
    if len(keep) < len(X):
        log.warning("left out %d %s series of %r holding NaN or infinite values", len(X) - len(keep), split, name)
    return series, np.asarray(y).astype(str)[keep]


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, held_out)``: ``round(fraction * n_c)`` of each class ``c`` held out, chosen by ``seed``."""
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        idx = np.nonzero(labels == c)[0]
        held += list(rng.permutation(idx)[:int(round(fraction * len(idx)))])
    held = np.sort(np.asarray(held, dtype=np.int64))
    return np.setdiff1d(np.arange(len(labels)), held), held


def stratified_fold(labels: np.ndarray, folds: int, fold: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, held_out)`` of fold ``fold`` of a stratified ``folds``-fold split: each class's
    members, shuffled by ``seed``, are dealt round-robin to the folds (every index is held out once)."""
    rng = np.random.default_rng(seed)
    held = np.sort(np.concatenate([rng.permutation(np.nonzero(labels == c)[0])[fold::folds]
                                   for c in np.unique(labels)]).astype(np.int64))
    return np.setdiff1d(np.arange(len(labels)), held), held


def pad(series: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """List of ``(C, T_i)`` -> zero-padded ``(N, T_max, C)`` and lengths ``(N,)``."""
    lengths = torch.tensor([s.shape[1] for s in series], dtype=torch.long)
    x = torch.zeros(len(series), int(lengths.max()), series[0].shape[0])
    for i, s in enumerate(series):
        x[i, :s.shape[1]] = torch.from_numpy(s.T)
    return x, lengths


class UEA(PaddedSequences):
    """A UEA multivariate classification set, padded with lengths, held as tensors on the device.

    Frames are the ``C`` channels at each time step (JapaneseVowels: 12 LPC cepstra, 7-29 frames,
    9 speakers, 270 train / 370 test). The validation split is carved from the training split by
    a stratified split seeded with ``split_seed``; the test split is the archive's. A batch is
    trimmed to its longest sequence and carries ``"lengths"``.

    Args:
        name: dataset name (``shipped_datasets()`` lists those available offline).
        val_fraction: fraction of each class of the training split held out for validation.
        split_seed: seed of that split.
        normalize: standardise each channel with mean and std of the training frames.
        extract_path: folder with ``<name>/<name>_TRAIN.ts`` for sets aeon does not ship.
        noise_std: standard deviation of Gaussian noise added to the valid frames of training
            batches (augmentation; 0 = off). Drawn from torch's global generator, so it follows
            the run's seed and is restored on resume.
        skip_bad: leave out series holding NaN or infinite values (default: an error naming one).
        folds, fold: k-fold cross-validation for tuning on small sets: the validation split is fold
            ``fold`` of a stratified ``folds``-fold split of the training split (``val_fraction`` is
            then unused); sweep ``data.fold=0,...,k-1`` and average (JapaneseVowels' 10 % split
            is only 27 utterances, too few to choose by).
        batch_size, eval_batch_size, shuffle_seed, drop_last: see :class:`IndexedData`.
    """

    @checked
    def __init__(self, name: str = "JapaneseVowels", val_fraction: Probability = 0.1, split_seed: NonNegativeInt = 0,
                 normalize: bool = True, extract_path: str | Path | None = None, noise_std: NonNegativeFloat = 0.0,
                 batch_size: PositiveInt = 32, eval_batch_size: PositiveInt | None = None, shuffle_seed: int = 0,
                 drop_last: bool = False, skip_bad: bool = False, folds: PositiveInt | None = None,
                 fold: NonNegativeInt = 0) -> None:
        super().__init__(batch_size, shuffle_seed, drop_last, eval_batch_size)
        self.name, self.noise_std = name, noise_std
        train, y_train = load_split(self.name, "train", extract_path, skip_bad)
        test, y_test = load_split(self.name, "test", extract_path, skip_bad)
        self.classes = sorted(set(y_train) | set(y_test))
        index = {c: i for i, c in enumerate(self.classes)}
        if folds is not None and not fold < folds:
            raise ConfigError(f"fold must be < folds ({folds}), got {fold}")
        keep, held = (stratified_split(y_train, val_fraction, split_seed) if folds is None
                      else stratified_fold(y_train, folds, fold, split_seed))
        if len(keep) == 0:
            raise ConfigError(f"val_fraction={val_fraction} leaves no training series: the {len(y_train)} of "
                              f"{self.name}'s training split would give train 0, val {len(held)}")
        splits = {"train": ([train[i] for i in keep], y_train[keep]), "val": ([train[i] for i in held], y_train[held]),
                  "test": (test, y_test)}
        self.tensors: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        for split, (series, labels) in splits.items():
            if not series:
                c = train[0].shape[0]
                self.tensors[split] = (torch.zeros(0, 1, c), torch.zeros(0, dtype=torch.long),
                                       torch.zeros(0, dtype=torch.long))
                continue
            x, lengths = pad(series)
            self.tensors[split] = (x, lengths, torch.tensor([index[c] for c in labels]))
        if normalize:
            x, lengths, _ = self.tensors["train"]
            valid = x[length_mask(lengths, x.shape[1])]  # (N_frames, C)
            mean, std = valid.mean(0), valid.std(0).clamp(min=1e-6)
            for split, (x, lengths, y) in self.tensors.items():
                mask = length_mask(lengths, x.shape[1]).unsqueeze(-1)
                self.tensors[split] = (((x - mean) / std) * mask, lengths, y)
        self.model_args = {"in_features": int(train[0].shape[0]), "num_outputs": len(self.classes)}

    def make_batch(self, split: str, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        x, lengths, y = self.padded_batch(split, indices)  # x: (B, T, C)
        if split == "train" and self.noise_std > 0:
            valid = length_mask(lengths, x.shape[1]).unsqueeze(-1)  # (B, T, 1)
            x = x + self.noise_std * torch.randn_like(x) * valid
        return {"x": x, "lengths": lengths, "y": y}
