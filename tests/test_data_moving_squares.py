import pytest
import torch
from conftest import argument_error

from cnnlstm.data.moving_squares import MovingSquares, moving_squares
from cnnlstm.errors import ConfigError


def dot_positions(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column of the newest dot in each frame of one sequence ``(T, 1, S, S)``."""
    new = frames.clone()
    new[1:] -= frames[:-1]
    idx = new[:, 0].flatten(1).argmax(1)
    size = frames.shape[-1]
    return idx // size, idx % size


def test_shapes_and_values():
    x, y = moving_squares(7, torch.arange(10), size=20, seq_len=20)
    assert x.shape == (10, 20, 1, 20, 20) and x.dtype == torch.float32
    assert y.shape == (10,) and set(y.tolist()) <= {0, 1}
    assert set(x.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("size,seq_len", [(50, 50), (12, 8), (5, 5), (1, 1)])
def test_trail_steps_and_direction(size, seq_len):
    x, y = moving_squares(3, torch.arange(64), size=size, seq_len=seq_len)
    for frames, label in zip(x, y):
        # trail: frame t holds exactly t+1 dots and contains every dot of frame t-1
        assert frames.sum(dim=(1, 2, 3)).tolist() == list(range(1, seq_len + 1))
        assert bool((frames[1:] >= frames[:-1]).all())
        rows, cols = dot_positions(frames)
        t = torch.arange(seq_len)
        expected_cols = t if label == 1 else size - 1 - t  # label 1 = moving right
        assert torch.equal(cols, expected_cols)
        assert bool(((rows[1:] - rows[:-1]).abs() <= 1).all())  # +-1 row per frame
        assert bool(((rows >= 0) & (rows < size)).all())  # clipped to the frame


def test_steps_cover_all_moves_and_clip_at_edges():
    x, _ = moving_squares(11, torch.arange(400), size=6, seq_len=6)
    deltas = set()
    for frames in x:
        rows, _ = dot_positions(frames)
        deltas |= set((rows[1:] - rows[:-1]).tolist())
    assert deltas == {-1, 0, 1}


def test_both_directions_and_uniform_start_rows():
    x, y = moving_squares(5, torch.arange(4000), size=10, seq_len=10)
    assert 0.45 < y.float().mean() < 0.55
    start_rows = x[:, 0, 0].flatten(1).argmax(1) // 10
    counts = torch.bincount(start_rows, minlength=10).float()
    assert counts.min() > 0.7 * counts.mean()


def test_reproducible_and_independent_of_batching():
    a, ya = moving_squares(1, torch.arange(100), 16, 16)
    b, yb = moving_squares(1, torch.arange(100), 16, 16)
    assert torch.equal(a, b) and torch.equal(ya, yb)
    c, _ = moving_squares(1, torch.arange(50, 60), 16, 16)
    assert torch.equal(a[50:60], c)
    d, _ = moving_squares(2, torch.arange(100), 16, 16)
    assert not torch.equal(a, d)


def test_splits_are_disjoint_and_batch_size_invariant():
    data = MovingSquares(n_train=40, n_val=40, n_test=40, size=10, seq_len=10, batch_size=7)
    data.setup("cpu")
    val = torch.cat([b["x"] for b in data.batches("val")])
    test = torch.cat([b["x"] for b in data.batches("test")])
    assert not torch.equal(val, test)
    other = MovingSquares(n_train=40, n_val=40, n_test=40, size=10, seq_len=10, batch_size=1,
                          eval_batch_size=40)
    other.setup("cpu")
    assert torch.equal(test, torch.cat([b["x"] for b in other.batches("test")]))


def test_shuffle_resume_position_and_ranks():
    data = MovingSquares(n_train=30, n_val=0, n_test=0, size=8, seq_len=8, batch_size=4, shuffle_seed=3)
    data.setup("cpu")
    full = [b["y"] for b in data.batches("train", epoch=1)]
    assert data.num_batches("train") == 8 and sum(len(y) for y in full) == 30
    resumed = [b["y"] for b in data.batches("train", epoch=1, start=5)]
    assert all(torch.equal(a, b) for a, b in zip(full[5:], resumed))
    other_epoch = torch.cat([b["x"] for b in data.batches("train", epoch=2)])
    assert not torch.equal(torch.cat([b["x"] for b in data.batches("train", epoch=1)]), other_epoch)
    # two ranks with batch 2 see exactly what one process with batch 4 sees
    ranks = []
    for rank in range(2):
        part = MovingSquares(n_train=30, n_val=0, n_test=0, size=8, seq_len=8, batch_size=2, shuffle_seed=3)
        part.setup("cpu", rank=rank, world_size=2)
        ranks.append([b["x"] for b in part.batches("train", epoch=1)])
    joined = [torch.cat([a, b]) for a, b in zip(*ranks)]
    assert all(torch.equal(a, b["x"]) for a, b in zip(joined, data.batches("train", epoch=1)))


@pytest.mark.parametrize("kwargs,key", [
    ({"batch_size": 0}, "^batch_size must be >= 1, got 0$"), ({"n_train": -5}, "^n_train must be >= 1, got -5$"),
    ({"batch_size": "abc"}, "^batch_size must be an integer, got 'abc'$"),
])
def test_bad_arguments_name_the_key(kwargs, key):
    with argument_error(key, MovingSquares):
        MovingSquares(**kwargs)


def test_a_sequence_longer_than_the_frame_names_seq_len():
    with pytest.raises(ConfigError, match="^seq_len must be <= size"):
        MovingSquares(size=10, seq_len=11)


@pytest.mark.parametrize("value", [0, -4])
def test_non_positive_eval_batch_size_is_an_error_not_batch_size(value):
    with argument_error(f"^eval_batch_size must be >= 1, got {value}$", MovingSquares):
        MovingSquares(batch_size=8, eval_batch_size=value)
    assert MovingSquares(batch_size=8, eval_batch_size=None).eval_batch_size == 8  # null: the training batch


def test_eval_batch_size_error_names_the_config_key():
    from conftest import compose_config

    from cnnlstm.engine.builder import build

    with pytest.raises(ConfigError, match=r"^data\.eval_batch_size must be >= 1, got 0$"):
        build(compose_config("data.eval_batch_size=0").data, "data")
