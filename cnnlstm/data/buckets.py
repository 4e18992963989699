"""Length-bucketed batch plans: which samples form each batch of an epoch, decided from lengths alone.

Similar lengths go together so a batch's padding stays small, yet the plan is a pure function of
(lengths, batch size, seed, epoch): a resumed run rebuilds exactly the same batches, and every rank
computes the same global batches and takes its own slice of each (as :class:`IndexedData` does).
"""

import numpy as np


def batch_plan(lengths: np.ndarray, batch_size: int, *, shuffle: bool, seed: int = 0, epoch: int = 0,
               drop_last: bool = False, pool_batches: int = 50) -> list[np.ndarray]:
    """The global batches of one epoch, as arrays of sample indices.

    Training (``shuffle``): the samples are shuffled with ``(seed, epoch)``, cut into pools of
    ``pool_batches`` batches, each pool sorted by length and cut into batches, and the batch order
    shuffled again; so batches are random yet each holds neighbours in length. Evaluation: the
    whole split sorted by length (least padding; the order does not matter to metrics).
    ``pool_batches=1`` turns bucketing off (plain shuffled batches). There are
    ``ceil(n / batch_size)`` batches (``floor`` with ``drop_last``): only the last pool can
    leave a partial batch, so the count is the same as for unbucketed batches.
    """
    n = len(lengths)
    rng = np.random.Generator(np.random.PCG64([seed & 0xFFFFFFFF, epoch, 0x5EED]))
    order = rng.permutation(n) if shuffle else np.arange(n)
    pool = batch_size * pool_batches if shuffle else max(n, 1)
    batches = []
    for begin in range(0, n, pool):
        members = order[begin:begin + pool]
        members = members[np.argsort(-lengths[members], kind="stable")]  # longest first, ties keep order
        batches += [members[k:k + batch_size] for k in range(0, len(members), batch_size)]
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    if shuffle:
        batches = [batches[k] for k in rng.permutation(len(batches))]
    return batches


def rank_share(batch: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s part of a global batch (``torch.tensor_split``'s partition, as IndexedData)."""
    return np.array_split(batch, world_size)[rank]


def pad_sizes(lengths: np.ndarray, count: int, multiple: int = 1) -> np.ndarray:
    """``count`` padded lengths covering ``lengths``: upper quantiles rounded up to ``multiple``, the
    last one the longest. Padding every batch to the smallest size holding it gives the model only
    ``count`` input shapes (``trainer.compile=true`` then compiles a few graphs, not one per length)."""
    if len(lengths) == 0:
        return np.array([multiple])
    quantiles = np.quantile(lengths, np.arange(1, count + 1) / count, method="higher")
    sizes = -(-quantiles.astype(np.int64) // multiple) * multiple
    return np.unique(np.maximum(sizes, multiple))


def padded_length(longest: int, sizes: np.ndarray | None, multiple: int = 1) -> int:
    """The padded length of a batch whose longest sample has ``longest`` steps: the smallest of
    ``sizes`` that holds it (``None``: ``longest`` itself, rounded up to ``multiple``)."""
    if sizes is not None:
        k = int(np.searchsorted(sizes, longest))
        if k < len(sizes):
            return int(sizes[k])
    return -(-int(longest) // multiple) * multiple
