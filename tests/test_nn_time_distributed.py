import torch
from torch import nn

from cnnlstm.nn import TimeDistributed


def test_fold_equals_per_frame_loop():
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten())
    x = torch.randn(2, 5, 3, 8, 8)
    folded = TimeDistributed(module)(x)
    looped = torch.stack([module(x[:, t]) for t in range(5)], dim=1)
    assert folded.shape == (2, 5, 4 * 6 * 6)
    torch.testing.assert_close(folded, looped)
    torch.testing.assert_close(TimeDistributed(module, fold=False)(x), looped)


def test_any_per_frame_module_and_gradients():
    linear = nn.Linear(7, 3)
    x = torch.randn(4, 6, 7, requires_grad=True)
    y = TimeDistributed(linear)(x)
    assert y.shape == (4, 6, 3)
    y.sum().backward()
    assert x.grad is not None and linear.weight.grad is not None


def test_rejects_input_without_time_axis():
    import pytest

    with pytest.raises(ValueError, match=r"\(B, T"):
        TimeDistributed(nn.Identity())(torch.zeros(3))


def test_eval_chunks_match_one_fold_and_training_folds_whole():
    calls = []
    module = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten())
    module.register_forward_pre_hook(lambda _, args: calls.append(args[0].shape[0]))
    td = TimeDistributed(module, eval_chunk_frames=4)
    x = torch.randn(3, 5, 2, 7, 7)
    td.train()
    td(x)
    assert calls == [15]  # batch statistics over every frame, as without chunks
    td.eval()
    calls.clear()
    chunked = td(x)
    assert calls == [4, 4, 4, 3]
    td.eval_chunk_frames = None
    torch.testing.assert_close(chunked, td(x), rtol=0, atol=1e-6)


def test_eval_chunk_frames_must_be_positive():
    from conftest import argument_error

    with argument_error(r"^eval_chunk_frames must be >= 1, got 0$", TimeDistributed):
        TimeDistributed(nn.Identity(), eval_chunk_frames=0)
