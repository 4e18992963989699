import pytest
import torch

from cnnlstm.nn.shift_conv import ShiftConv2d, reference_conv


@pytest.mark.parametrize("cin,cout,k", [(1, 2, 2), (2, 3, 3), (1, 4, 4), (3, 8, 3)])
def test_matches_conv2d_values_and_gradients(cin, cout, k):
    conv = ShiftConv2d(cin, cout, k)
    x = torch.randn(5, cin, 11, 9, requires_grad=True)
    out = conv(x)
    ref = reference_conv(conv, x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, [x, conv.weight, conv.bias], grad)
    want = torch.autograd.grad(ref, [x, conv.weight, conv.bias], grad)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_other_geometries_fall_back_to_conv2d():
    conv = ShiftConv2d(1, 2, 3, padding=1, stride=2)
    x = torch.randn(2, 1, 9, 9)
    torch.testing.assert_close(conv(x), reference_conv(conv, x))


def test_state_dict_is_conv2d_compatible():
    conv = ShiftConv2d(1, 2, 2)
    plain = torch.nn.Conv2d(1, 2, 2)
    plain.load_state_dict(conv.state_dict())
    x = torch.randn(1, 1, 6, 6)
    torch.testing.assert_close(plain(x), conv(x))
