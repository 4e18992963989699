"""lstm_step: one step of an nn.LSTM through the cell kernel, the same as the fused call."""

import pytest
import torch
from torch import nn

from cnnlstm.nn.lstm import lstm_step


@pytest.mark.parametrize("layers,bias", [(1, True), (2, True), (3, False)])
def test_steps_equal_the_whole_sequence(layers, bias):
    torch.manual_seed(0)
    lstm = nn.LSTM(5, 7, num_layers=layers, bias=bias, batch_first=True, dropout=0.3 if layers > 1 else 0.0).eval()
    x = torch.randn(4, 6, 5)
    whole, (h_n, c_n) = lstm(x)
    state, outs = None, []
    for t in range(x.shape[1]):
        out, state = lstm_step(lstm, x[:, t], state)
        outs.append(out)
    torch.testing.assert_close(torch.stack(outs, 1), whole, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(torch.stack([h for h, _ in state]), h_n, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(torch.stack([c for _, c in state]), c_n, atol=1e-5, rtol=1e-4)


def test_dropout_between_layers_in_training_only():
    lstm = nn.LSTM(3, 4, num_layers=2, batch_first=True, dropout=0.5).train()
    x = torch.randn(64, 3)
    torch.manual_seed(1)
    a, _ = lstm_step(lstm, x)
    torch.manual_seed(2)
    b, _ = lstm_step(lstm, x)
    assert not torch.allclose(a, b)
    lstm.eval()
    torch.testing.assert_close(lstm_step(lstm, x)[0], lstm_step(lstm, x)[0])


def test_bidirectional_or_projected_is_refused():
    with pytest.raises(ValueError, match="unidirectional"):
        lstm_step(nn.LSTM(3, 4, bidirectional=True), torch.randn(2, 3))
    with pytest.raises(ValueError, match="proj_size"):
        lstm_step(nn.LSTM(3, 4, proj_size=2), torch.randn(2, 3))


def test_recurrent_dtype_holds_under_autocast():
    from cnnlstm.nn.lstm import LSTM

    lstm = LSTM(3, 4, num_layers=2, batch_first=True)
    x = torch.randn(2, 3).bfloat16().float()  # exactly representable in bfloat16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, state = lstm_step(lstm, x.bfloat16())
    assert out.dtype == torch.float32 and state[0][0].dtype == torch.float32
    torch.testing.assert_close(out, lstm_step(lstm, x)[0])
