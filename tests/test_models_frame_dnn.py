"""FrameDNN, the frame-independent baseline: shapes, independence of frames, padding, and training."""

import pytest
import torch
from conftest import compose_config

from cnnlstm.arguments import ValidationError
from cnnlstm.engine.builder import build_model
from cnnlstm.engine.run import train
from cnnlstm.errors import ConfigError
from cnnlstm.models import CLDNN, FrameDNN
from cnnlstm.models.frame_dnn import stack_frames

TINY = dict(in_features=6, num_outputs=5, left_context=3, right_context=2, hidden=[16, 16])


def tiny(**kwargs) -> FrameDNN:
    torch.manual_seed(0)
    return FrameDNN(**(TINY | kwargs)).eval()


def test_stack_frames_is_the_zero_padded_window():
    x = torch.arange(1.0, 6.0).view(1, 5, 1)  # frames 1 .. 5, one bin
    assert stack_frames(x, 2, 1)[0].tolist() == [[0, 0, 1, 2], [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5],
                                                 [3, 4, 5, 0]]


@pytest.mark.parametrize("pool,shape", [("mean", (3, 5)), ("last", (3, 5)), ("none", (3, 9, 5))])
def test_frame_shapes(pool, shape):
    model = tiny(pool=pool)
    x, lengths = torch.randn(3, 9, 6), torch.tensor([9, 4, 1])
    assert model(x, lengths).shape == shape
    out, out_lengths = model.frame_outputs(x, lengths, tbptt_steps=2)  # tbptt_steps: ignored
    assert out.shape == (3, 9, 5) and torch.equal(out_lengths, lengths)
    assert model.dnn[0].in_features == (3 + 1 + 2) * 6 and model.samples_per_frame == 1


def test_raw_audio_through_the_front_end():
    model = FrameDNN(num_outputs=4, sample_rate=8000, frontend={"n_mels": 10, "hop_ms": 10.0, "win_ms": 25.0},
                     left_context=2, right_context=1, hidden=[8]).eval()
    assert model.in_features == 10 and model.samples_per_frame == 80
    audio, lengths = torch.randn(2, 8000), torch.tensor([8000, 4000])
    out, frames = model.frame_outputs(audio, lengths)
    assert out.shape == (2, model.frontend(audio, lengths)[0].shape[1], 4)
    assert frames.tolist() == model.frontend(audio, lengths)[1].tolist()
    assert model(audio, lengths).shape == (2, 4)
    with pytest.raises(ValueError, match=r"raw audio \(B, S\)"):
        model(torch.randn(2, 10, 10))


def test_output_depends_only_on_its_window():
    """Changing input frame j changes exactly the outputs t with t - left <= j <= t + right."""
    model, left, right = tiny(), 3, 2
    x = torch.randn(1, 12, 6)
    base = model.frame_outputs(x)[0]
    for j in (0, 5, 11):
        changed = x.clone()
        changed[0, j] += 1.0
        moved = (model.frame_outputs(changed)[0] - base).abs().amax(-1)[0] > 1e-6  # (T,)
        window = [(t - left <= j <= t + right) for t in range(12)]
        assert moved.tolist() == window, j


def test_padded_batch_equals_each_utterance_alone():
    model = tiny()
    lengths = [9, 5, 2]
    x = torch.randn(3, 9, 6)
    x[1, 5:] = 7.0  # garbage in the padding must not leak into the last valid frames' windows
    out, _ = model.frame_outputs(x, torch.tensor(lengths))
    for b, n in enumerate(lengths):
        alone, _ = model.frame_outputs(x[b:b + 1, :n], torch.tensor([n]))
        torch.testing.assert_close(out[b:b + 1, :n], alone, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(model(x[b:b + 1, :n]), model(x, torch.tensor(lengths))[b:b + 1],
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("chunk", [1, 4, None])
def test_frame_chunks_equal_frame_outputs(chunk):
    """Chunk by chunk (task.update_per_chunk=true) the outputs are those of the whole utterance,
    the windows reaching across chunk borders, and each chunk's graph reaches only its frames."""
    model, x, lengths = tiny(), torch.randn(2, 10, 6, requires_grad=True), torch.tensor([10, 6])
    pieces = list(model.frame_chunks(x, lengths, chunk_frames=chunk))
    assert [p.shape[1] for p in pieces] == ([chunk] * (10 // chunk) + [10 % chunk] * bool(10 % chunk) if chunk else [10])
    torch.testing.assert_close(torch.cat(pieces, dim=1), model.frame_outputs(x, lengths)[0])
    pieces[0].sum().backward()
    first = chunk or 10
    assert x.grad[:, first + 2:].abs().sum() == 0 and x.grad[:, :first].abs().sum() > 0  # right context 2


def test_bad_arguments_are_declared_errors():
    with pytest.raises(ValidationError):
        tiny(left_context=-1)
    with pytest.raises(ValidationError):
        tiny(hidden=[0])
    with pytest.raises(ValueError, match=r"\(B, T, 6\)"):
        tiny()(torch.randn(2, 4, 7))
    with pytest.raises(ConfigError, match="frontend.hop_ms"):
        FrameDNN(num_outputs=2, sample_rate=8000, frontend={"hop_ms": 0.0})
    with pytest.raises(ConfigError, match="in_features must be set"):
        FrameDNN(num_outputs=2)


def test_preset_matches_the_paper_cldnn_size():
    """model=frame_dnn's YAML size is within 2% of model=cldnn_paper's on 40 bins, 4 classes (tones)."""
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    dnn = build_model(compose_config("model=frame_dnn").model, {"in_features": 40, "num_outputs": 4})
    cldnn = build_model(compose_config("model=cldnn_paper").model, {"in_features": 40, "num_outputs": 4})
    assert isinstance(dnn, FrameDNN) and isinstance(cldnn, CLDNN)
    assert (dnn.left_context, dnn.right_context) == (10, 5)
    assert abs(count(dnn) / count(cldnn) - 1) < 0.02, (count(dnn), count(cldnn))


TINY_LOOKAHEAD = [
    "model=frame_dnn", "data=lookahead", "task=frame_labelling", "data.n_train=512", "data.n_val=64",
    "data.n_test=128", "data.min_len=8", "data.max_len=24", "data.batch_size=32", "model.hidden=[32]",
    "model.left_context=1", "task.delay=0", "optimizer.lr=0.01", "trainer.max_epochs=3", "trainer.device=cpu",
    "trainer.progress=log", "logger=none",
]


def test_trains_with_an_update_per_chunk(tmp_path):
    """task.update_per_chunk=true, as the paper CLDNN trains: the pair stays like-for-like."""
    metrics = train(compose_config(*TINY_LOOKAHEAD, "model.right_context=2", "task.update_per_chunk=true",
                                   "task.tbptt_steps=6"), tmp_path)
    assert metrics["test/acc"] > 0.9, metrics


@pytest.mark.parametrize("right_context,learns", [(2, True), (0, False)])
def test_lookahead_needs_right_context(tmp_path, right_context, learns):
    """data=lookahead (label of frame t = symbol at t + 2), no output delay: a right context of 2
    frames solves it; without right context the label is unseen and accuracy stays near chance (0.25)."""
    metrics = train(compose_config(*TINY_LOOKAHEAD, f"model.right_context={right_context}"), tmp_path)
    acc = metrics["test/acc"]
    assert (acc > 0.9) if learns else (acc < 0.45), acc
