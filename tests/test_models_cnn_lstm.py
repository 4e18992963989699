import pytest
import torch

from cnnlstm.errors import ConfigError
from cnnlstm.models import CNNLSTM


def test_tutorial_defaults():
    model = CNNLSTM()
    assert model(torch.zeros(3, 50, 1, 50, 50)).shape == (3, 1)
    conv = model.cnn.module[0].blocks[0][0]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (1, 2, (2, 2))
    assert model.lstm.input_size == 2 * 24 * 24 and model.lstm.hidden_size == 50


@pytest.mark.parametrize("kwargs,shape,out", [
    ({"frame_size": [20, 30], "in_channels": 3, "num_outputs": 4, "conv_channels": [8, 16],
      "kernel_sizes": 3, "pool_sizes": [2, 1], "padding": "same"}, (2, 7, 3, 20, 30), (2, 4)),
    ({"frame_size": 16, "bidirectional": True, "num_layers": 2, "dropout": 0.1, "head_hidden": [8]},
     (5, 3, 1, 16, 16), (5, 1)),
])
def test_configurable_shapes(kwargs, shape, out):
    model = CNNLSTM(**kwargs)
    assert model(torch.randn(*shape)).shape == out


def test_accepts_frames_without_channel_axis_and_any_length():
    model = CNNLSTM(frame_size=12)
    assert model(torch.rand(2, 9, 12, 12)).shape == (2, 1)
    assert model(torch.rand(2, 1, 12, 12)).shape == (2, 1)


def test_wrong_input_shape_is_named():
    with pytest.raises(ValueError, match=r"\(B, T, 1, 12, 12\)"):
        CNNLSTM(frame_size=12)(torch.rand(2, 3, 1, 10, 10))


def test_frame_too_small_for_conv_stack():
    with pytest.raises(ConfigError, match="too small.*block 1"):
        CNNLSTM(frame_size=6, conv_channels=[2, 2], kernel_sizes=2, pool_sizes=2)


def test_fold_and_loop_agree():
    torch.manual_seed(0)
    a = CNNLSTM(frame_size=10)
    b = CNNLSTM(frame_size=10, fold_time=False)
    b.load_state_dict(a.state_dict())
    x = torch.rand(3, 6, 1, 10, 10)
    torch.testing.assert_close(a(x), b(x))


def test_per_frame_loop_refuses_batch_norm():
    with pytest.raises(ConfigError, match="fold_time=false.*batch_norm=true"):
        CNNLSTM(frame_size=10, fold_time=False, batch_norm=True)


def test_batch_one_equals_batch_sixty_four():
    torch.manual_seed(0)
    model = CNNLSTM(frame_size=16, num_outputs=3).eval()
    x = torch.rand(64, 10, 1, 16, 16)
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i:i + 1]) for i in range(64)])
    torch.testing.assert_close(alone, together, rtol=1e-5, atol=1e-5)
    assert torch.equal(alone.argmax(1), together.argmax(1))
