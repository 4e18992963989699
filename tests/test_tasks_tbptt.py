"""Truncated BPTT as in the CLDNN paper: an optimizer step per chunk, the LSTM state carried across chunks."""

import copy

import pytest
import torch
from conftest import compose_config

from cnnlstm.engine.checkpoint import load_checkpoint
from cnnlstm.engine.parts import TrainingParts
from cnnlstm.engine.run import train
from cnnlstm.engine.state import FitState, IntervalStats
from cnnlstm.engine.trainer import Trainer
from cnnlstm.errors import ConfigError
from cnnlstm.models import CLDNN
from cnnlstm.nn.frequency_conv import FrequencyConv
from cnnlstm.nn.masking import IGNORE_LABEL
from cnnlstm.tasks import FrameLabelling

CPU = torch.device("cpu")


def tiny_cldnn(seed: int = 0, **kwargs) -> CLDNN:
    torch.manual_seed(seed)
    sizes = dict(in_features=4, num_outputs=4, conv_channels=[4, 4], freq_kernels=[2, 2], time_kernels=[3, 3],
                 freq_pools=[1, 1], left_context=4, causal=True, hidden_size=16, proj_size=0, reduce_dim=8,
                 dnn_hidden=[16])
    return CLDNN(**sizes | kwargs)


def frame_batch(steps: int, batch: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random frames and labels, ragged lengths (the longest is ``steps``), ``IGNORE_LABEL`` past each end."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(steps // 2, steps + 1, (batch,), generator=gen)
    lengths[0] = steps
    y = torch.randint(0, 4, (batch, steps), generator=gen)
    y[torch.arange(steps) >= lengths[:, None]] = IGNORE_LABEL
    return {"x": torch.randn(batch, steps, 4, generator=gen), "y": y, "lengths": lengths}


def one_train_step(model, task, batch, trainer=None) -> tuple[TrainingParts, IntervalStats]:
    """The trainer's own training step on ``batch`` (Adam, grad clipping, a constant schedule)."""
    trainer = trainer or Trainer(max_steps=10, device="cpu", grad_clip=1.0, progress="log")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    parts = TrainingParts.create(model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0),
                                 "32", CPU, None)
    stats = IntervalStats(CPU)
    trainer.train_step(model, parts, task, batch, stats, FitState(), n_batches=10)
    return parts, stats


class SavedBytes:
    """The peak of the activation memory autograd keeps for backward (``saved_tensors_hooks``): each
    storage a saved tensor lives in counts once, from when the forward saves it until backward frees
    the last graph that holds it; the storages of ``exclude`` (the weights) are left out."""

    def __init__(self, exclude=()) -> None:
        self.live, self.peak = 0, 0
        self.refs: dict[int, int] = {}  # storage address -> saved tensors in it
        self.excluded = {p.untyped_storage().data_ptr() for p in exclude}

    def pack(self, tensor: torch.Tensor) -> "_Saved":
        return _Saved(self, tensor)

    @staticmethod
    def unpack(saved: "_Saved") -> torch.Tensor:
        return saved.tensor

    def add(self, storage: torch.UntypedStorage, sign: int) -> None:
        """One saved tensor in ``storage`` more (``sign=1``) or fewer (-1)."""
        key = storage.data_ptr()
        if key in self.excluded:
            return
        before = self.refs.pop(key, 0)
        if before + sign:
            self.refs[key] = before + sign
        if (before, sign) in ((0, 1), (1, -1)):  # the first saved tensor in it, or the last one gone
            self.live += sign * storage.nbytes()
            self.peak = max(self.peak, self.live)

    def __enter__(self) -> "SavedBytes":
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self.pack, self.unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)


class _Saved:
    def __init__(self, counter: SavedBytes, tensor: torch.Tensor) -> None:
        self.counter, self.tensor, self.storage = counter, tensor, tensor.untyped_storage()
        counter.add(self.storage, +1)

    def __del__(self) -> None:
        self.counter.add(self.storage, -1)


def peak_saved_bytes(steps: int, update_per_chunk: bool) -> int:
    task, model = FrameLabelling(delay=2, tbptt_steps=20, update_per_chunk=update_per_chunk), tiny_cldnn()
    with SavedBytes(exclude=model.parameters()) as saved:
        one_train_step(model, task, frame_batch(steps))
    assert saved.live == 0  # everything saved was freed by the end of the step
    return saved.peak


def test_memory_of_a_training_step_is_bounded_by_the_chunk_not_the_utterance():
    short, long = peak_saved_bytes(80, True), peak_saved_bytes(320, True)
    print(f"update per chunk: T=80 {short} B, T=320 {long} B")
    assert abs(long / short - 1) < 0.2, (short, long)
    whole_short, whole_long = peak_saved_bytes(80, False), peak_saved_bytes(320, False)
    print(f"one update per batch: T=80 {whole_short} B, T=320 {whole_long} B")
    assert whole_long / whole_short > 3  # the old whole-utterance graph grows with T: the measurement sees it


@pytest.mark.parametrize("steps", [32, 50, None])  # 30 frames + a delay of 2: one chunk
def test_one_chunk_over_the_whole_utterance_is_the_untruncated_update(steps):
    batch = frame_batch(30)
    whole, chunked = tiny_cldnn(), tiny_cldnn()
    _, whole_stats = one_train_step(whole, FrameLabelling(delay=2, tbptt_steps=None), batch)
    _, chunk_stats = one_train_step(chunked, FrameLabelling(delay=2, tbptt_steps=steps, update_per_chunk=True), batch)
    assert chunk_stats.optimizer_steps == 1
    torch.testing.assert_close(chunk_stats.loss_sum, whole_stats.loss_sum, atol=1e-6, rtol=0)
    for (name, a), b in zip(whole.named_parameters(), chunked.parameters(), strict=True):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=0, msg=name)


def test_each_chunk_takes_an_optimizer_step_and_the_schedule_one_per_batch():
    batch, model = frame_batch(30), tiny_cldnn()
    task = FrameLabelling(delay=2, tbptt_steps=8, update_per_chunk=True)  # 32 frames: 4 chunks
    before = copy.deepcopy(model.state_dict())
    parts, stats = one_train_step(model, task, batch)
    assert stats.optimizer_steps == 4 and parts.optimizer.state_dict()["state"][0]["step"] == 4
    assert parts.scheduler.last_epoch == 1
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_chunks_with_the_carried_state_equal_the_whole_sequence():
    batch, model = frame_batch(30), tiny_cldnn().eval()
    task = FrameLabelling(delay=3, tbptt_steps=7, update_per_chunk=True)
    with torch.no_grad():
        chunks = list(task.train_chunks(model, batch))
        whole = task.step(model, batch)
        torch.testing.assert_close(torch.cat(list(model.frame_chunks(batch["x"], batch["lengths"], 7)), 1),
                                   model.frame_outputs(batch["x"], batch["lengths"])[0])
    assert len(chunks) == 5  # 33 frames in chunks of 7; labels shifted by the delay across the borders
    torch.testing.assert_close(torch.cat([c.outputs for c in chunks], 1), whole.outputs)
    torch.testing.assert_close(sum(c.loss * c.weight for c in chunks), whole.loss)


def test_chunks_equal_the_whole_sequence_for_raw_audio_through_the_front_end():
    model = tiny_cldnn(in_features=None, sample_rate=8000, frontend={"n_mels": 12}, freq_kernels=[3, 3]).eval()
    x, lengths = torch.randn(2, 8000), torch.tensor([8000, 5000])
    with torch.no_grad():
        frames, frame_lengths = model.frame_outputs(x, lengths)  # 98 frames of 80 samples
        y = torch.randint(0, 4, frames.shape[:2])
        y[1, int(frame_lengths[1]):] = IGNORE_LABEL
        batch, task = {"x": x, "y": y, "lengths": lengths}, FrameLabelling(delay=3, tbptt_steps=7, update_per_chunk=True)
        chunks, whole = list(task.train_chunks(model, batch)), task.step(model, batch)
    torch.testing.assert_close(torch.cat([c.outputs for c in chunks], 1), whole.outputs)
    torch.testing.assert_close(sum(c.loss * c.weight for c in chunks), whole.loss)


def test_chunks_without_a_label_take_no_step():
    batch = frame_batch(12)
    task = FrameLabelling(delay=5, tbptt_steps=2, update_per_chunk=True)  # frames 0-3 predict no label
    counts = task.labels_per_chunk(batch["y"], 2)
    assert counts[:2] == [0, 0] and sum(counts) == int((batch["y"] != IGNORE_LABEL).sum())
    _, stats = one_train_step(tiny_cldnn(), task, batch)
    assert stats.optimizer_steps == sum(n > 0 for n in counts)


def test_conv_window_is_the_slice_of_the_whole_sequence_also_with_right_context():
    conv = FrequencyConv(6, channels=[3, 2], freq_kernels=[2, 2], time_kernels=[3, 2], freq_pools=[2, 1],
                         left_context=3, right_context=2)
    x = torch.randn(2, 11, 6)
    full = conv(x)
    for start, end in [(0, 4), (4, 8), (8, 11), (0, 11), (5, 6)]:
        torch.testing.assert_close(conv.window(x, start, end), full[:, start:end])


def test_update_per_chunk_refuses_gradient_accumulation():
    task = FrameLabelling(update_per_chunk=True)
    with pytest.raises(ConfigError, match="accumulate_grad_batches"):
        Trainer(device="cpu", accumulate_grad_batches=2).check_task(task)


TINY_PAPER = [
    "model=cldnn_paper", "data=lookahead", "task=frame_labelling", "task.update_per_chunk=true",
    "task.tbptt_steps=10", "task.delay=2", "data.n_train=512", "data.n_val=64", "data.n_test=128",
    "data.min_len=20", "data.max_len=40", "data.batch_size=32", "model.fit_frequency=true",
    "model.conv_channels=[4,4]", "model.hidden_size=24", "model.proj_size=0", "model.num_layers=1",
    "model.reduce_dim=8", "model.dnn_hidden=[24]", "optimizer.lr=0.01", "trainer.device=cpu",
    "trainer.progress=log", "logger=none",
]


def test_resume_between_batches_equals_the_uninterrupted_run(tmp_path):
    tiny = [*TINY_PAPER, "data.n_train=128", "data.n_val=32", "data.n_test=32", "trainer.max_epochs=-1",
            "scheduler=constant"]  # a cosine schedule would be sized by each run's max_steps
    train(compose_config(*tiny, "trainer.max_steps=6"), tmp_path / "straight")
    train(compose_config(*tiny, "trainer.max_steps=3"), tmp_path / "split")  # stops mid-epoch
    train(compose_config(*tiny, "trainer.max_steps=6"), tmp_path / "split")  # resumes from last.pt
    straight, resumed = (load_checkpoint(tmp_path / run / "checkpoints/last.pt") for run in ("straight", "split"))
    assert resumed["state"]["step"] == 6 and straight["scheduler"] == resumed["scheduler"]
    assert int(resumed["optimizer"]["state"][0]["step"]) > 6  # several updates a batch
    for key, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][key]), key


def test_the_paper_cldnn_trains_on_the_lookahead_task_with_an_update_per_chunk(tmp_path, monkeypatch):
    chunk_steps = []
    optimizer_step = TrainingParts.optimizer_step

    def counting(self, grad_clip, schedule=True):
        chunk_steps.append(not schedule)
        return optimizer_step(self, grad_clip, schedule)

    monkeypatch.setattr(TrainingParts, "optimizer_step", counting)
    metrics = train(compose_config(*TINY_PAPER, "trainer.max_epochs=2"), tmp_path)
    print(metrics, f"{len(chunk_steps)} optimizer steps")
    assert all(chunk_steps) and len(chunk_steps) >= 3 * metrics["steps"]  # 22-42 frames: 3-5 chunks a batch
    assert metrics["test/acc"] > 0.9, metrics  # chance is 0.25
