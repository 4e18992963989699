import numpy as np
import pytest
import torch
from conftest import argument_error

from cnnlstm.data.uea import UEA, shipped_datasets, stratified_split
from cnnlstm.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def vowels():
    data = UEA("JapaneseVowels", val_fraction=0.1, batch_size=16)
    data.setup("cpu")
    return data


def test_japanese_vowels_offline(vowels):
    assert vowels.model_args == {"in_features": 12, "num_outputs": 9}
    assert [vowels.split_size(s) for s in ("train", "val", "test")] == [243, 27, 370]
    lengths = torch.cat([vowels.tensors[s][1] for s in ("train", "val", "test")])
    assert lengths.min() == 7 and lengths.max() == 29
    # stratified: 3 of the 30 training utterances of each speaker are held out
    assert torch.bincount(vowels.tensors["val"][2], minlength=9).tolist() == [3] * 9
    x, lengths, _ = vowels.tensors["train"]
    valid = x[torch.arange(x.shape[1])[None] < lengths[:, None]]
    assert valid.mean(0).abs().max() < 1e-4 and (valid.std(0) - 1).abs().max() < 1e-3  # train statistics


def test_batches_are_trimmed_and_padded_with_zeros(vowels):
    batch = next(vowels.batches("test"))
    assert batch["x"].shape == (16, int(batch["lengths"].max()), 12) and batch["y"].shape == (16,)
    mask = torch.arange(batch["x"].shape[1])[None] >= batch["lengths"][:, None]
    assert batch["x"][mask].abs().sum() == 0
    assert sum(b["y"].numel() for b in vowels.batches("train")) == 243


def test_stratified_split_is_seeded():
    labels = np.array(list("aaaaabbbbbbbbbbcc"))
    keep, held = stratified_split(labels, 0.2, seed=1)
    assert sorted(labels[held].tolist()) == ["a", "b", "b"] and len(keep) + len(held) == len(labels)
    assert np.array_equal(held, stratified_split(labels, 0.2, seed=1)[1])
    assert not np.array_equal(held, stratified_split(labels, 0.2, seed=2)[1])


def test_unknown_name_lists_available_sets():
    with pytest.raises(DataError, match=r"data.name='NoSuchSet' is not a dataset aeon ships.*JapaneseVowels"):
        UEA("NoSuchSet")
    assert {"JapaneseVowels", "BasicMotions"} <= set(shipped_datasets())


def test_other_sets_load_the_same_way():
    data = UEA("BasicMotions", val_fraction=0.25)
    assert data.model_args == {"in_features": 6, "num_outputs": 4}
    assert data.split_size("val") == 8 and data.split_size("test") == 40


def test_noise_augments_only_training_batches():
    data = UEA("JapaneseVowels", noise_std=0.5, batch_size=8)
    data.setup("cpu")
    idx = torch.arange(8)
    assert torch.equal(data.make_batch("test", idx)["x"], data.make_batch("test", idx)["x"])
    a, b = data.make_batch("train", idx), data.make_batch("train", idx)
    assert not torch.equal(a["x"], b["x"])
    pad = torch.arange(a["x"].shape[1])[None] >= a["lengths"][:, None]
    assert a["x"][pad].abs().sum() == 0


def test_only_classification_sets_are_listed_and_they_load():
    have = shipped_datasets()
    assert not {"CardanoSentiment", "Covid3Month"} & set(have)  # regression sets: load_classification fails
    with pytest.raises(DataError) as error:
        UEA("NoSuchSet")
    listed = str(error.value).split("e.g. ")[1].split(" (")[0].split(", ")
    assert listed and set(listed) <= set(have) and "CardanoSentiment" not in str(error.value)
    for name in listed:
        assert UEA(name).model_args["num_outputs"] >= 2, name


def test_val_fraction_leaving_no_training_series():
    from cnnlstm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"val_fraction=0\.99 leaves no training series.*train 0, val 270"):
        UEA("JapaneseVowels", val_fraction=0.99)
    with argument_error(r"^val_fraction must be in \[0, 1\), got 1$", UEA):
        UEA("JapaneseVowels", val_fraction=1.0)


def test_k_fold_validation_holds_out_every_training_series_once_stratified():
    from cnnlstm.data.uea import stratified_fold

    labels = np.repeat(np.array(["a", "b", "c"]), [10, 7, 5])
    held = [stratified_fold(labels, 5, k, seed=3)[1] for k in range(5)]
    assert sorted(np.concatenate(held).tolist()) == list(range(len(labels)))  # a partition
    for k, h in enumerate(held):
        keep, _ = stratified_fold(labels, 5, k, seed=3)
        assert np.intersect1d(keep, h).size == 0 and len(keep) + len(h) == len(labels)
        assert (labels[h] == "a").sum() == 2  # 10 of class a over 5 folds
    data = UEA(name="JapaneseVowels", folds=5, fold=4)
    assert data.split_size("val") in (53, 54, 55) and data.split_size("train") + data.split_size("val") == 270
    with pytest.raises(ConfigError, match=r"fold must be < folds \(5\), got 5"):
        UEA(name="JapaneseVowels", folds=5, fold=5)
