import pytest
import torch

from cnnlstm.data.corruptions import (
    BlankBoxes,
    BlankHalf,
    BlankRows,
    GaussianNoise,
    SaltAndPepper,
    check_corruptions,
    corrupt,
)
from cnnlstm.errors import ConfigError

PAPER = [BlankHalf("lower"), GaussianNoise(0.2)]


def test_lower_half_blank_and_mask():
    x = torch.ones(3, 1, 28, 28)
    out, mask = corrupt([BlankHalf("lower")], x, seed=0, keys=torch.arange(3))
    assert mask.shape == (3, 1, 28, 28) and mask.dtype == torch.bool
    assert mask[:, :, 14:].all() and not mask[:, :, :14].any()
    assert (out[:, :, 14:] == 0).all() and (out[:, :, :14] == 1).all()


@pytest.mark.parametrize("side,rows,cols", [("upper", slice(0, 3), slice(None)), ("left", slice(None), slice(0, 2)),
                                            ("right", slice(None), slice(3, 5))])
def test_other_halves(side, rows, cols):
    _, mask = corrupt([BlankHalf(side)], torch.ones(1, 1, 7, 5), 0, torch.arange(1))
    expected = torch.zeros(7, 5, dtype=torch.bool)
    expected[rows, cols] = True
    assert torch.equal(mask[0, 0], expected)


def test_reproducible_by_seed_and_independent_of_batching():
    x = torch.rand(8, 2, 10, 12)
    keys = torch.arange(100, 108)
    specs = [BlankBoxes(2, 0.2, 0.5), BlankRows(0.3), GaussianNoise(0.3), SaltAndPepper(0.1)]
    a, ma = corrupt(specs, x, 5, keys)
    b, mb = corrupt(specs, x, 5, keys)
    assert torch.equal(a, b) and torch.equal(ma, mb)
    c, mc = corrupt(specs, x[3:6], 5, keys[3:6])  # a smaller batch: the same samples get the same values
    assert torch.equal(c, a[3:6]) and torch.equal(mc, ma[3:6])
    d, _ = corrupt(specs, x, 6, keys)
    assert not torch.equal(a, d)
    e, _ = corrupt(specs, x, 5, keys + 1)
    assert not torch.equal(a, e)


def test_gaussian_noise_level():
    x = torch.full((64, 1, 28, 28), 0.5)
    out, mask = corrupt([GaussianNoise(0.1)], x, 1, torch.arange(64))
    noise = out - x
    assert abs(noise.mean()) < 0.005 and abs(noise.std() - 0.1) < 0.005
    assert not mask.any()
    clipped, _ = corrupt([GaussianNoise(1.0)], x, 1, torch.arange(64))
    assert clipped.min() == 0 and clipped.max() == 1


def test_salt_and_pepper_fraction():
    x = torch.full((32, 1, 28, 28), 0.5)
    out, _ = corrupt([SaltAndPepper(0.2, salt=0.25)], x, 2, torch.arange(32))
    hit = out != 0.5
    assert abs(hit.float().mean() - 0.2) < 0.01
    assert abs((out[hit] == 1).float().mean() - 0.25) < 0.03


def test_boxes_and_rows_masks():
    x = torch.ones(50, 1, 20, 20)
    out, mask = corrupt([BlankBoxes(1, 0.25, 0.5)], x, 3, torch.arange(50))
    area = mask.float().sum((1, 2, 3))
    assert (area >= 5 * 5).all() and (area <= 10 * 10).all() and area.std() > 0
    assert torch.equal(out == 0, mask)
    _, rows = corrupt([BlankRows(0.25)], x, 3, torch.arange(50))
    whole_rows = rows.all(-1) | ~rows.any(-1)
    assert whole_rows.all() and abs(rows.float().mean() - 0.25) < 0.05


def test_noise_on_top_of_blank_keeps_the_mask():
    _, mask = corrupt(PAPER, torch.ones(2, 1, 28, 28), 0, torch.arange(2))
    assert mask[:, :, 14:].all() and not mask[:, :, :14].any()


def test_bad_arguments():
    with pytest.raises(ConfigError, match=r"corruption\[0\]\.side must be one of \['lower', 'upper', 'left', 'right'\]"):
        check_corruptions([BlankHalf("middle")])
    with pytest.raises(ConfigError, match=r"corruption\[1\]\.sigma must be"):
        check_corruptions([BlankHalf(), GaussianNoise(-1)])
    with pytest.raises(ConfigError, match=r"^corruption\[0\] must be a corruption object"):
        check_corruptions([{"side": "lower"}])
    with pytest.raises(ConfigError, match=r"^corruption\[0\]\.clip must be true or false, got 1$"):
        check_corruptions([GaussianNoise(clip=1)])
    with pytest.raises(ConfigError, match=r"^corruption\[0\]\.min_size and max_size must satisfy"):
        check_corruptions([BlankBoxes(min_size=0.6, max_size=0.5)])


def test_a_batch_does_not_validate_the_list_again(monkeypatch):
    corruptions = check_corruptions([BlankHalf(), GaussianNoise(0.1)])
    monkeypatch.setattr(GaussianNoise, "validate", lambda self: pytest.fail("validated per batch"))
    corrupt(corruptions, torch.ones(2, 1, 4, 4), 0, torch.arange(2))


@pytest.mark.parametrize("override,message", [
    ("data.corruption.1.sigma=-1", r"^data\.corruption\[1\]\.sigma must be >= 0, got -1"),
    ("data.corruption.0.side=middle", r"^data\.corruption\[0\]\.side must be one of"),
    ("+data.corruption.0.value=3", r"^data\.corruption\[0\]\.value must be in \[0, 1\]"),
])
def test_config_errors_name_the_real_key(override, message):
    from conftest import compose_config

    from cnnlstm.engine.builder import build

    with pytest.raises(ConfigError, match=message):
        build(compose_config("model=denoiser", override).data, "data")
