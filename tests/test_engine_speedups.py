import pytest
import torch
from torch import nn

from cnnlstm.engine.speedups import _non_recurrent_parts, enable_activation_checkpointing
from cnnlstm.models import CNNLSTM
from cnnlstm.nn.lstm import LSTM


def test_compile_parts_leave_the_lstm_eager():
    model = CNNLSTM(frame_size=12)
    parts = _non_recurrent_parts(model)
    assert model.cnn in parts and model.head in parts
    assert not any(isinstance(m, nn.RNNBase) for p in parts for m in p.modules())


def test_activation_checkpointing_keeps_values_and_gradients():
    torch.manual_seed(0)
    plain = CNNLSTM(frame_size=12, conv_channels=[4])
    ckpt = CNNLSTM(frame_size=12, conv_channels=[4])
    ckpt.load_state_dict(plain.state_dict())
    assert enable_activation_checkpointing(ckpt, ["TimeDistributed"]) == 1
    assert ckpt.state_dict().keys() == plain.state_dict().keys()
    x = torch.rand(3, 5, 1, 12, 12)
    plain(x).sum().backward()
    ckpt(x).sum().backward()
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_activation_checkpointing_updates_batch_norm_statistics_once():
    torch.manual_seed(0)
    plain = CNNLSTM(frame_size=12, conv_channels=[4, 4], kernel_sizes=3, pool_sizes=[2, 1], batch_norm=True)
    ckpt = CNNLSTM(frame_size=12, conv_channels=[4, 4], kernel_sizes=3, pool_sizes=[2, 1], batch_norm=True)
    ckpt.load_state_dict(plain.state_dict())
    assert enable_activation_checkpointing(ckpt, ["TimeDistributed", "ConvStack2d"]) == 2
    x = torch.rand(3, 5, 1, 12, 12)
    for model in (plain, ckpt):
        for _ in range(2):
            model(x).sum().backward()
    for (name, a), b in zip(plain.state_dict().items(), ckpt.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)  # running means, variances, batch counts
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)
    assert all(m.momentum == 0.1 for m in ckpt.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_lstm_runs_in_float32_under_bf16_autocast(device):
    torch.manual_seed(0)
    lstm = LSTM(8, 16, batch_first=True).to(device)
    x = torch.randn(2, 30, 8, device=device)
    reference, _ = lstm(x)
    with torch.autocast(device_type=device, dtype=torch.bfloat16):
        out, (h, c) = lstm(x.to(torch.bfloat16))
    assert out.dtype == torch.float32 and h.dtype == torch.float32
    torch.testing.assert_close(out, reference, atol=2e-2, rtol=0)
