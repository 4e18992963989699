import pytest
import torch
from conftest import argument_error

from cnnlstm.errors import ConfigError
from cnnlstm.models import CNNLSTMDenoiser, ConvAutoencoder

SMALL = {"conv_channels": [4, 8], "context_size": 16, "hidden_size": 24, "num_layers": 2}


@pytest.mark.parametrize("attention", ["direct", "none", "additive"])
@pytest.mark.parametrize("size,channels", [((28, 28), 1), ((16, 20), 3), ((9, 13), 1)])
@pytest.mark.parametrize("sampling", ["sequential", "parallel"])
def test_denoiser_shapes_train_and_eval(attention, size, channels, sampling):
    model = CNNLSTMDenoiser(image_size=list(size), in_channels=channels, attention=attention,
                            teacher_forcing_ratio=0.5, sampling=sampling, **SMALL)
    x = torch.rand(2, channels, *size)
    model.train()
    y = model(x, target=x)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    y.mean().backward()
    model.eval()
    with torch.no_grad():
        out, weights = model(x, return_attention=True)
    assert out.shape == x.shape
    if attention == "additive":
        h, w = model.encoder.output_size
        assert weights.shape == (2, size[0], h, w)
        torch.testing.assert_close(weights.sum((-2, -1)), torch.ones(2, size[0]))
    else:
        assert weights is None


@pytest.mark.parametrize("attention", ["direct", "none", "additive"])
def test_free_running_equals_teacher_forcing_on_its_own_output(attention):
    """Inference feeds back its own rows; teacher-forcing those same rows must give the same image."""
    torch.manual_seed(0)
    model = CNNLSTMDenoiser(image_size=12, attention=attention, **SMALL).eval()
    x = torch.rand(3, 1, 12, 12)
    with torch.no_grad():
        free = model(x)
        forced = model(x, target=free)
    torch.testing.assert_close(forced, free, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("attention", ["direct", "additive"])
def test_sequential_sampling_trains_the_free_running_decoder(attention):
    """Ratio 0 trains exactly what inference computes: the target is not read."""
    torch.manual_seed(0)
    model = CNNLSTMDenoiser(image_size=12, attention=attention, teacher_forcing_ratio=0.0, **SMALL)
    x, clean = torch.rand(3, 1, 12, 12), torch.rand(3, 1, 12, 12)
    trained = model.train()(x, target=clean)
    with torch.no_grad():
        inferred = model.eval()(x)
    torch.testing.assert_close(trained.detach(), inferred)
    assert trained.requires_grad  # and it is trained through, rows fed back included


@pytest.mark.parametrize("sampling", ["sequential", "parallel"])
def test_sampling_ratio_one_is_teacher_forcing(sampling):
    torch.manual_seed(0)
    model = CNNLSTMDenoiser(image_size=12, teacher_forcing_ratio=1.0, sampling=sampling, **SMALL)
    x, clean = torch.rand(3, 1, 12, 12), torch.rand(3, 1, 12, 12)
    forced = model.eval()(x, target=clean)
    torch.testing.assert_close(model.train()(x, target=clean), forced)
    half = CNNLSTMDenoiser(image_size=12, teacher_forcing_ratio=0.5, sampling=sampling, **SMALL)
    half.load_state_dict(model.state_dict())
    mixed = half.train()(x, target=clean)  # some rows clean, some its own: neither extreme
    assert not torch.allclose(mixed, forced) and not torch.allclose(mixed, model.eval()(x))


def test_direct_reads_corrupted_rows_none_does_not():
    direct = CNNLSTMDenoiser(image_size=12, attention="direct", **SMALL)
    none = CNNLSTMDenoiser(image_size=12, attention="none", **SMALL)
    assert direct.lstm.input_size == 16 + 2 * 12 and none.lstm.input_size == 16 + 12


def test_denoiser_geometry_and_argument_errors():
    with pytest.raises(ConfigError, match="too small"):
        CNNLSTMDenoiser(image_size=3, conv_channels=[4, 4], pool_sizes=2)
    with argument_error("attention must be one of", CNNLSTMDenoiser):
        CNNLSTMDenoiser(attention="bahdanau")
    with argument_error(r"teacher_forcing_ratio must be in \[0, 1\]", CNNLSTMDenoiser):
        CNNLSTMDenoiser(teacher_forcing_ratio=1.5)
    with argument_error("sampling must be one of", CNNLSTMDenoiser):
        CNNLSTMDenoiser(sampling="random")
    with argument_error("hidden_size must be >= 1", CNNLSTMDenoiser):
        CNNLSTMDenoiser(hidden_size=0)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        CNNLSTMDenoiser()(torch.rand(2, 1, 20, 28))


@pytest.mark.parametrize("size,channels,blocks", [((28, 28), 1, [8, 8]), ((32, 16), 3, [4, 4, 4]), ((10, 6), 1, [4])])
def test_conv_autoencoder_shapes(size, channels, blocks):
    model = ConvAutoencoder(image_size=list(size), in_channels=channels, channels=blocks)
    y = model(torch.rand(2, channels, *size))
    assert y.shape == (2, channels, *size) and 0 <= y.min() and y.max() <= 1


def test_conv_autoencoder_rejects_indivisible_size():
    with pytest.raises(ConfigError, match="must be divisible by 4"):
        ConvAutoencoder(image_size=[30, 28], channels=[8, 8])
