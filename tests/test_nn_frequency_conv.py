import pytest
import torch
import torch.nn.functional as F

from cnnlstm.errors import ConfigError
from cnnlstm.nn.frequency_conv import FrequencyConv

SMALL = dict(channels=[4, 5], freq_kernels=[3, 2], time_kernels=[3, 2], freq_pools=[2, 1])


def test_paper_geometry():
    conv = FrequencyConv(40)  # 40x11 windows, 256 maps 9x9 pool 3, 256 maps 4x3
    assert conv(torch.zeros(2, 7, 40)).shape == (2, 7, 256 * 7 * 1)
    first, second = conv.layers
    assert first[0].kernel_size == (9, 9) and second[0].kernel_size == (4, 3)
    assert first[-1].kernel_size == (3, 1)  # pooling along frequency only


def test_pools_frequency_never_time():
    conv = FrequencyConv(12, **SMALL, left_context=2, right_context=1)
    for t in (1, 5, 17):
        assert conv(torch.randn(3, t, 12)).shape[:2] == (3, t)  # one output per input frame
    pools = [m for m in conv.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert pools and all(p.kernel_size[1] == 1 and p.stride[1] == 1 for p in pools)
    assert conv.out_bins == ((12 - 3 + 1) // 2) - 2 + 1


def test_equals_the_per_window_computation():
    conv = FrequencyConv(12, **SMALL, left_context=3, right_context=2)  # patch keeps 3 time steps
    x = torch.randn(2, 9, 12)
    padded = F.pad(x, (0, 0, 3, 2))
    for t in range(9):
        window = padded[:, t:t + 6].transpose(1, 2).unsqueeze(1)  # (B, 1, F, 6): frames t-3 .. t+2
        torch.testing.assert_close(conv(x)[:, t], conv.layers(window).flatten(1))


@pytest.mark.parametrize("left,right", [(0, 0), (3, 0), (2, 2), (4, 1)])
def test_receptive_field_is_the_window(left, right):
    conv = FrequencyConv(12, channels=[3], freq_kernels=3, time_kernels=1, freq_pools=1,
                         left_context=left, right_context=right)
    x = torch.randn(1, 15, 12)
    base = conv(x)
    for t in range(15):
        moved = x.clone()
        moved[:, t] += 1.0
        changed = (conv(moved) - base).abs().amax(-1)[0] > 0  # (T,)
        expected = torch.zeros(15, dtype=torch.bool)
        expected[max(t - right, 0):t + left + 1] = True  # frame t is in the windows of t-r .. t+l
        assert torch.equal(changed, expected), (t, changed)


def test_causal_conv_sees_no_future_frame():
    conv = FrequencyConv(12, **SMALL, left_context=4, right_context=0)
    x = torch.randn(2, 20, 12)
    future = x.clone()
    future[:, 10:] = torch.randn(2, 10, 12) * 10
    torch.testing.assert_close(conv(x)[:, :10], conv(future)[:, :10], rtol=0, atol=0)


@pytest.mark.parametrize("chunk", [1, 7, 23])
def test_stream_equals_offline(chunk):
    conv = FrequencyConv(12, **SMALL, left_context=4)
    x = torch.randn(2, 23, 12)
    outs, state = [], None
    for piece in x.split(chunk, dim=1):
        out, state = conv.stream(piece, state)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), conv(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(freq_kernels=[9, 4], freq_pools=[3, 1]), r"freq_kernels\[1\] = 4 is larger than the 1 frequency bins "
                                                    r"reaching conv layer 1 \(input width 12\)"),
    (dict(freq_kernels=[13, 1], freq_pools=[1, 1]), r"freq_kernels\[0\] = 13 .* 12 frequency bins .*layer 0"),
    (dict(freq_kernels=[3, 1], freq_pools=[20, 1]), r"freq_pools\[0\] = 20 pools the 10 bins out of conv layer 0 "
                                                     r"to zero \(input width 12\)"),
    (dict(time_kernels=[9, 9]), r"time_kernels \[9, 9\] span 17 frames, more than the 11-frame window"),
])
def test_geometry_errors_at_build_time(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        FrequencyConv(12, **kwargs)


def test_fit_frequency_shrinks_to_the_input_width():
    conv = FrequencyConv(12, fit_frequency=True)  # the paper's geometry on 12 bins
    assert conv(torch.randn(1, 5, 12)).shape == (1, 5, conv.out_features)
    conv = FrequencyConv(3, channels=[4, 4], freq_kernels=[3, 3], time_kernels=[3, 3], freq_pools=[2, 2],
                         left_context=4, fit_frequency=True)
    assert conv(torch.randn(1, 5, 3)).shape == (1, 5, 4)
