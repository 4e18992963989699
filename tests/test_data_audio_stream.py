"""The streaming machinery: bucketed batch plans, resume, the rank split, workers, padding sizes, bad files, the cache."""

import numpy as np
import pytest
import soundfile
import torch

from cnnlstm.data.audio_files import AudioReader, header_length
from cnnlstm.data.audio_stream import AudioStream
from cnnlstm.data.buckets import batch_plan, pad_sizes, padded_length
from cnnlstm.errors import DataError

LENGTHS = np.random.default_rng(0).integers(400, 4000, size=203)


class Fake(AudioStream):
    """Samples made from their index (no files): the audio is ``index`` repeated, the label ``index % 3``."""

    def __init__(self, lengths=LENGTHS, broken=(), **kw):
        settings = dict(batch_size=8, eval_batch_size=16, shuffle_seed=0, drop_last=False, num_workers=0,
                        bucket_batches=4, pad_buckets=None, skip_bad=False) | kw
        super().__init__(**settings)
        self.lengths = {"train": np.asarray(lengths), "val": np.asarray(lengths[:40]), "test": np.zeros(0, np.int64)}
        self.classes, self.broken = ["a", "b", "c"], set(broken)
        self.finish_scan()

    def load(self, split, index, epoch):
        if index in self.broken:
            raise DataError(f"/data/{index}.wav: unreadable or corrupt audio (test)")
        return np.full(int(self.lengths[split][index]), float(index), np.float32), index % 3


def padding_share(lengths, plan):
    padded = sum(len(b) * lengths[b].max() for b in plan)
    return 1 - lengths.sum() / padded


def test_plan_covers_every_sample_once_with_bounded_padding():
    plan = batch_plan(LENGTHS, 8, shuffle=True, seed=1, epoch=0, pool_batches=8)
    assert len(plan) == -(-len(LENGTHS) // 8)
    assert sorted(np.concatenate(plan).tolist()) == list(range(len(LENGTHS)))
    unbucketed = batch_plan(LENGTHS, 8, shuffle=True, seed=1, epoch=0, pool_batches=1)
    assert padding_share(LENGTHS, plan) < 0.15 < padding_share(LENGTHS, unbucketed)
    assert len(batch_plan(LENGTHS, 8, shuffle=True, drop_last=True)) == len(LENGTHS) // 8


def test_plan_is_deterministic_and_changes_with_the_epoch():
    a = batch_plan(LENGTHS, 8, shuffle=True, seed=3, epoch=2)
    b = batch_plan(LENGTHS, 8, shuffle=True, seed=3, epoch=2)
    c = batch_plan(LENGTHS, 8, shuffle=True, seed=3, epoch=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    evaluation = np.concatenate(batch_plan(LENGTHS, 16, shuffle=False))
    assert (np.diff(LENGTHS[evaluation]) <= 0).all()  # longest first, least padding


def test_resume_at_start_gives_the_remaining_batches():
    data = Fake()
    every = list(data.batches("train", epoch=1))
    resumed = list(data.batches("train", epoch=1, start=5))
    assert len(every) == data.num_batches("train") and len(resumed) == len(every) - 5
    for a, b in zip(every[5:], resumed):
        assert torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"])


def test_ranks_see_disjoint_shares_of_the_same_global_batches():
    one = list(Fake(batch_size=8).batches("train", epoch=0))
    ranks = []
    for rank in range(2):
        data = Fake(batch_size=4)
        data.setup("cpu", rank, 2)
        ranks.append(list(data.batches("train", epoch=0)))
    assert len(ranks[0]) == len(ranks[1]) == len(one)
    for whole, r0, r1 in zip(one, *ranks):
        ids = lambda b: b["x"][torch.arange(len(b["lengths"])), 0].long().tolist()  # noqa: E731
        assert set(ids(r0)).isdisjoint(ids(r1)) and sorted(ids(r0) + ids(r1)) == sorted(ids(whole))


def test_workers_give_the_same_batches_and_pad_with_zeros():
    inline, workers = Fake(), Fake(num_workers=2)
    for a, b in zip(inline.batches("val"), workers.batches("val")):
        assert torch.equal(a["x"], b["x"]) and torch.equal(a["lengths"], b["lengths"])
        assert a["x"].shape[1] == int(a["lengths"].max())
        row = int(a["lengths"].argmin())
        assert a["x"][row, int(a["lengths"][row]):].abs().sum() == 0


def test_pad_buckets_limit_the_shapes():
    data = Fake(pad_buckets=3)
    shapes = {b["x"].shape[1] for split in ("train", "val") for b in data.batches(split)}
    assert len(shapes) <= 3 and shapes <= set(data.sizes.tolist())
    assert padded_length(700, np.array([500, 1000])) == 1000 and padded_length(1100, None, 100) == 1100
    assert pad_sizes(np.array([10, 20, 30, 40]), 2, 8).tolist() == [32, 40]


def test_a_file_failing_in_a_worker_is_one_line_or_skipped(caplog):
    with pytest.raises(DataError, match=r"^/data/7.wav: unreadable or corrupt audio \(test\)$"):
        list(Fake(broken={7}, num_workers=2).batches("train"))
    data = Fake(broken={7}, num_workers=2, skip_bad=True)
    seen = sum(len(b["lengths"]) for b in data.batches("train"))
    assert seen == len(LENGTHS) - 1 and len(data.skipped) == 1 and "/data/7.wav" in caplog.text


def test_header_scan_and_decoded_cache(tmp_path):
    path = tmp_path / "a.wav"
    soundfile.write(path, np.linspace(-0.5, 0.5, 1600, dtype=np.float32), 16000, subtype="PCM_16")
    assert header_length(path, 16000, False, 400) == 1600
    with pytest.raises(DataError, match="sample rate 16000 Hz, expected data.sample_rate=8000"):
        header_length(path, 8000, False, 400)
    assert header_length(path, 8000, True, 400) == 800
    reader = AudioReader(16000, False, 400, tmp_path / "cache")
    first = reader(path)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    np.testing.assert_array_equal(reader(path), first)
    np.testing.assert_array_equal(AudioReader(16000, False, 400)(path), first)
