import math

import pytest
import torch
from conftest import argument_error
from torch import nn

from cnnlstm.engine.loggers import NullLogger
from cnnlstm.errors import ConfigError
from cnnlstm.tasks import Restoration, StepOutput


def lower_half_mask(b=4, h=16, w=16):
    mask = torch.zeros(b, 1, h, w, dtype=torch.bool)
    mask[:, :, h // 2:] = True
    return mask


def scores(pred, y, x=None, mask=None):
    task = Restoration()
    metrics = task.metrics()
    batch = {"x": y if x is None else x, "y": y, "mask": lower_half_mask(*y.shape[:1], *y.shape[-2:]) if mask is None else mask}
    task.update_metrics(metrics, StepOutput(task.loss(pred, batch), pred), batch)
    return {k: float(v) for k, v in metrics.compute().items()}


def test_identical_images():
    y = torch.rand(4, 1, 16, 16)
    m = scores(y.clone(), y)
    assert m["mse"] == 0 and m["mse_masked"] == 0 and m["loss"] == 0
    assert math.isinf(m["psnr"]) and math.isinf(m["psnr_masked"])
    assert m["ssim"] == pytest.approx(1.0, abs=1e-5) and m["ssim_masked"] == pytest.approx(1.0, abs=1e-5)


def test_known_error_levels_whole_and_masked():
    y = torch.full((4, 1, 16, 16), 0.5)
    pred = y.clone()
    mask = lower_half_mask()
    pred[mask] += 0.1  # masked error 0.1 -> MSE 0.01 -> PSNR 20 dB
    pred[~mask] -= 0.01  # unmasked error 0.01
    m = scores(pred, y, mask=mask)
    assert m["mse_masked"] == pytest.approx(0.01, rel=1e-4)
    assert m["psnr_masked"] == pytest.approx(20.0, abs=1e-3)
    assert m["mse"] == pytest.approx((0.01 + 0.0001) / 2, rel=1e-4)
    assert m["psnr"] == pytest.approx(-10 * math.log10(0.00505), abs=1e-3)
    # all-black guess of the blanked pixels: error 0.5 -> MSE 0.25 -> PSNR 6.02 dB
    assert m["psnr_masked_black"] == pytest.approx(-10 * math.log10(0.25), abs=1e-3)
    assert m["psnr_masked_per_image"] == pytest.approx(20.0, abs=1e-3)
    assert m["psnr_masked_black_per_image"] == pytest.approx(-10 * math.log10(0.25), abs=1e-3)


def test_per_image_masked_psnr_weighs_images_equally():
    y = torch.full((2, 1, 16, 16), 0.5)
    pred = y.clone()
    mask = torch.zeros(2, 1, 16, 16, dtype=torch.bool)
    mask[:, :, 8:] = True
    pred[0][mask[0]] += 0.1  # image 0: 20 dB; image 1: 40 dB
    pred[1][mask[1]] += 0.01
    m = scores(pred, y, mask=mask)
    assert m["psnr_masked_per_image"] == pytest.approx(30.0, abs=1e-3)
    assert m["psnr_masked"] == pytest.approx(-10 * math.log10((0.01 + 0.0001) / 2), abs=1e-3)


def test_ssim_masked_only_sees_the_hole():
    torch.manual_seed(0)
    y = torch.rand(4, 1, 32, 32)
    pred = y.clone()
    pred[:, :, :8] = torch.rand(4, 1, 8, 32)  # damage far from the lower half
    m = scores(pred, y)
    assert m["ssim"] < 0.9 and m["ssim_masked"] == pytest.approx(1.0, abs=1e-4)


def test_noise_level_psnr_matches_sigma():
    torch.manual_seed(0)
    y = torch.full((8, 1, 32, 32), 0.5)
    pred = y + 0.05 * torch.randn_like(y)
    m = scores(pred, y)
    assert m["psnr"] == pytest.approx(-10 * math.log10(0.05 ** 2), abs=0.1)  # ~26 dB


def test_no_mask_gives_nan_masked_metrics():
    y = torch.rand(2, 1, 16, 16)
    m = scores(y, y, mask=torch.zeros(2, 1, 16, 16, dtype=torch.bool))
    assert all(math.isnan(m[k]) for k in ("mse_masked", "psnr_masked", "ssim_masked", "psnr_masked_black"))
    assert m["mse"] == 0


@pytest.mark.parametrize("loss", ["mse", "l1", "bce"])
def test_losses(loss):
    y = torch.rand(2, 1, 4, 4)
    value = Restoration(loss=loss).loss(y.clamp(0.1, 0.9), {"y": y})
    assert value.ndim == 0 and torch.isfinite(value)
    with argument_error(r"^loss must be one of \['mse', 'l1', 'bce'\], got 'ssim'$", Restoration):
        Restoration(loss="ssim")


class Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.seen = []

    def forward(self, x, target=None):
        self.seen.append(target is not None)
        return (x + self.w).clamp(0, 1)


def test_target_is_given_only_in_training():
    task, model = Restoration(), Recorder()
    batch = {"x": torch.rand(2, 1, 4, 4), "y": torch.rand(2, 1, 4, 4), "mask": torch.zeros(2, 1, 4, 4, dtype=bool)}
    task.step(model.train(), batch)
    task.step(model.eval(), batch)
    assert model.seen == [True, False]


class Logger(NullLogger):
    def __init__(self):
        self.images = {}

    def log_images(self, tag, images, step):
        self.images[tag] = images


def test_validation_grid_and_samples_png(tmp_path):
    from cnnlstm.data import MNIST
    from cnnlstm.data.corruptions import BlankHalf
    from cnnlstm.models import CNNLSTMDenoiser

    data = MNIST(n_train=16, n_val=8, n_test=8, corruption=[BlankHalf()])
    data.setup()
    model = CNNLSTMDenoiser(attention="additive", conv_channels=[4, 4], hidden_size=16, context_size=8)
    logger = Logger()
    task = Restoration(num_samples=4, attention_rows=3)
    task.on_validation_end(model, data, logger, 1, tmp_path)
    grid = logger.images["val_samples/clean_corrupted_restored"]
    # 3 rows (clean, corrupted, restored) of 4 images, 28-pixel digits shown 4x so a person can see them
    assert grid.shape == (1, 3, 4 * (3 * 30 + 2), 4 * (4 * 30 + 2))
    from PIL import Image

    with Image.open(tmp_path / "samples.png") as png:
        assert png.size == (4 * (4 * 30 + 2), 4 * (3 * 30 + 2))
    assert logger.images["val_samples/attention"].shape[0] == 1
    assert (tmp_path / "samples.png").is_file() and (tmp_path / "attention.png").is_file()
    first, _ = task.sample_grid(model, data)
    assert torch.equal(first, task.sample_grid(model, data)[0])  # the same samples every time


def test_smallest_image_size_check_matches_the_ssim_metrics():
    from cnnlstm.tasks.restoration import check_image_size

    check_image_size("data.size", (6, 6))
    m = scores(torch.rand(2, 1, 6, 6), torch.rand(2, 1, 6, 6))  # the smallest size passing the check works
    assert math.isfinite(m["ssim"])
    with pytest.raises(ConfigError, match=r"data\.size must be at least 6 pixels .*got \[5, 8\]"):
        check_image_size("data.size", (5, 8))
    with pytest.raises(Exception, match="Padding size"):  # what the check saves the user from, after training
        scores(torch.rand(2, 1, 5, 5), torch.rand(2, 1, 5, 5))


def test_teacher_forcing_is_seen_through_training_wrappers():
    from cnnlstm.models import CNNLSTMDenoiser
    from cnnlstm.nn.wrappers import unwrap
    from cnnlstm.tasks.restoration import accepts_target

    class PassesOn(nn.Module):  # how DistributedDataParallel and CudaGraphed call what they hold
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, *args, **kwargs):
            return self.module(*args, **kwargs)

    denoiser = CNNLSTMDenoiser(image_size=8, conv_channels=[2], context_size=4, hidden_size=4)
    assert unwrap(PassesOn(PassesOn(denoiser))) is denoiser
    assert accepts_target(PassesOn(denoiser)) and not accepts_target(PassesOn(nn.Linear(2, 2)))
    held = nn.Sequential(denoiser)  # a module that holds others but is no wrapper is left alone
    assert unwrap(held) is held
