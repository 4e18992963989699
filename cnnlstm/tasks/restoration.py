"""Image restoration: corrupted image in, clean image out; metrics on the whole image and the blanked region."""

import inspect
import io
import itertools
import logging
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MeanSquaredError, MetricCollection
from torchmetrics.functional.image import structural_similarity_index_measure
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from cnnlstm.arguments import PositiveInt, checked
from cnnlstm.errors import ConfigError
from cnnlstm.files import write_atomic
from cnnlstm.nn.wrappers import unwrap
from cnnlstm.tasks.base import StepOutput, Task, TestReport

log = logging.getLogger(__name__)

LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss, "bce": F.binary_cross_entropy}

SSIM_WINDOW = 11  # Gaussian window of the SSIM metrics (sigma 1.5), as in the SSIM paper


def check_image_size(key: str, size) -> None:
    """Raise ConfigError naming ``key`` when images of ``size = (H, W)`` are too small for the SSIM window.

    torchmetrics reflect-pads by half the window, which needs ``H, W > SSIM_WINDOW // 2``; smaller
    images would train and then crash in the first validation. The window is not shrunk to fit:
    SSIM with another window is a different metric, not comparable with other runs.
    """
    least = SSIM_WINDOW // 2 + 1
    if min(size) < least:
        raise ConfigError(f"{key} must be at least {least} pixels for the SSIM metric's {SSIM_WINDOW}-pixel "
                          f"window, got {list(size)}")


def accepts_target(model: nn.Module) -> bool:
    """True when the model's own ``forward`` (inside any training wrappers) takes the clean
    ``target`` (teacher forcing)."""
    return "target" in inspect.signature(type(unwrap(model)).forward).parameters


def per_image_masked_psnr(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, max_db: float = 100.0) -> torch.Tensor:
    """PSNR (data range 1) of each image's masked pixels ``(B,)``; NaN for an image with no mask.

    torchmetrics has no masked per-image PSNR, so this is the one formula written here:
    ``10 log10(1 / MSE_i)`` with ``MSE_i`` over image ``i``'s masked pixels, capped at ``max_db``
    (an exact hole would be infinite).
    """
    count = mask.flatten(1).sum(1)  # (B,)
    mse = ((pred - y) ** 2 * mask).flatten(1).sum(1) / count  # (B,), NaN where count == 0
    return (-10 * torch.log10(mse.clamp_min(10 ** (-max_db / 10))))


class Restoration(Task):
    """Restore clean images ``y`` from corrupted ``x`` (both ``(B, C, H, W)`` in [0, 1]).

    In training, a model whose ``forward`` takes ``target`` gets the clean image for teacher
    forcing; in evaluation it runs free. Metrics (torchmetrics, ``data_range=1``):

    - ``mse``, ``psnr``, ``ssim`` over whole images. PSNR is ``10 log10(1 / MSE)`` of the MSE
      pooled over every pixel of the split (not a mean of per-image PSNRs); SSIM is the mean of
      per-image SSIM (Gaussian window 11, sigma 1.5; images need H, W >= 6, see :func:`check_image_size`).
    - ``mse_masked``, ``psnr_masked``: the same over the blanked pixels only (``batch["mask"]``).
      ``ssim_masked``: the full-resolution SSIM map averaged over the blanked pixels (the map is
      computed on the whole image, so the window sees the context around the hole). All three are
      NaN when no corruption blanks anything.
    - ``psnr_masked_per_image``: the mean over images of each image's PSNR on its blanked pixels
      (a second convention: it weighs every image equally, where the pooled ``psnr_masked`` is
      dominated by the images with the largest errors).
    - Baselines on the same pixels: ``psnr_input`` (the corrupted input as the answer),
      ``psnr_masked_black`` and ``psnr_masked_black_per_image`` (an all-black guess for the
      blanked region).

    Args:
        loss: ``mse``, ``l1`` or ``bce`` between restored and clean images.
        num_samples: images in the fixed validation grid (clean / corrupted / restored rows).
        attention_rows: rows whose additive attention maps are shown (spread over the height).
    """

    @checked
    def __init__(self, loss: Literal["mse", "l1", "bce"] = "mse", num_samples: PositiveInt = 8,
                 attention_rows: PositiveInt = 4) -> None:
        super().__init__()
        self.loss_name, self.num_samples, self.attention_rows = loss, num_samples, attention_rows

    def step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        kwargs = {"target": batch["y"]} if model.training and accepts_target(model) else {}
        outputs = model(batch["x"], **kwargs)
        return StepOutput(self.loss(outputs, batch), outputs)

    def loss(self, outputs: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return LOSSES[self.loss_name](outputs.float(), batch["y"].float())

    def check_data(self, data) -> None:
        """Images must be large enough for the SSIM window (see :func:`check_image_size`)."""
        size = data.model_args.get("image_size")
        if size is not None:
            check_image_size("data.size", size)

    def metrics(self) -> MetricCollection:
        metrics = super().metrics()
        metrics.add_metrics({
            "mse": MeanSquaredError(),
            "psnr": PeakSignalNoiseRatio(data_range=1.0),
            "ssim": StructuralSimilarityIndexMeasure(data_range=1.0, kernel_size=SSIM_WINDOW),
            "mse_masked": MeanSquaredError(),
            "psnr_masked": PeakSignalNoiseRatio(data_range=1.0),
            "ssim_masked": MeanMetric(nan_strategy="ignore"),
            "psnr_input": PeakSignalNoiseRatio(data_range=1.0),
            "psnr_masked_black": PeakSignalNoiseRatio(data_range=1.0),
            "psnr_masked_per_image": MeanMetric(nan_strategy="ignore"),
            "psnr_masked_black_per_image": MeanMetric(nan_strategy="ignore"),
        })
        return metrics

    def update_metrics(self, metrics: MetricCollection, step: StepOutput, batch: dict[str, torch.Tensor]) -> None:
        super().update_metrics(metrics, step, batch)
        pred, y, x = step.outputs.detach().float().clamp(0, 1), batch["y"].float(), batch["x"].float().clamp(0, 1)
        for name in ("mse", "psnr", "ssim"):
            metrics[name].update(pred, y)
        metrics["psnr_input"].update(x, y)
        mask = batch["mask"].expand_as(y)  # (B, C, H, W) bool
        # an empty mask updates with no pixels, so the masked metrics compute to NaN without warnings
        metrics["mse_masked"].update(pred[mask], y[mask])
        metrics["psnr_masked"].update(pred[mask], y[mask])
        metrics["psnr_masked_black"].update(torch.zeros_like(y[mask]), y[mask])
        _, ssim_map = structural_similarity_index_measure(pred, y, data_range=1.0, kernel_size=SSIM_WINDOW,
                                                          reduction="none", return_full_image=True)  # (B, C, H, W)
        metrics["ssim_masked"].update(ssim_map[mask])
        metrics["psnr_masked_per_image"].update(per_image_masked_psnr(pred, y, mask))
        metrics["psnr_masked_black_per_image"].update(per_image_masked_psnr(torch.zeros_like(y), y, mask))

    @torch.no_grad()
    def test_report(self, model: nn.Module, data, max_batches: int | None = None, reduce=None) -> TestReport:
        """``per_image.csv``: each test image's masked PSNR (restored and the all-black guess), PSNR
        and SSIM, so a table can show the distribution, not only the mean. Under torchrun each rank
        sees only its share of the split: no file then, rather than a partial one."""
        if data.world_size > 1:
            return TestReport()
        model.eval()
        rows, index = [], 0
        for batch in itertools.islice(data.batches("test"), max_batches):
            pred = self.step(model, batch).outputs.float().clamp(0, 1)
            y, mask = batch["y"].float(), batch["mask"].expand_as(batch["y"])
            psnr_masked = per_image_masked_psnr(pred, y, mask)
            black = per_image_masked_psnr(torch.zeros_like(y), y, mask)
            mse = (pred - y).pow(2).flatten(1).mean(1)
            psnr = 10 * torch.log10(1 / mse.clamp_min(1e-10))
            ssim = structural_similarity_index_measure(pred, y, data_range=1.0, kernel_size=SSIM_WINDOW,
                                                       reduction="none")
            for values in zip(psnr_masked.tolist(), black.tolist(), psnr.tolist(), ssim.tolist()):
                rows.append(f"{index}," + ",".join(f"{v:.4f}" for v in values))
                index += 1
        header = "image,psnr_masked,psnr_masked_black,psnr,ssim\n"
        return TestReport({"per_image.csv": header + "".join(f"{r}\n" for r in rows)}) if rows else TestReport()

    # ----------------------------------------------------------------------------- images
    @torch.no_grad()
    def sample_grid(self, model: nn.Module, data) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The fixed validation grid ``(C, H', W')``: rows of clean, corrupted and restored images.

        Also returns the additive attention maps ``(rows * n, 1, H, W)`` when the model has them.
        """
        from torchvision.utils import make_grid

        split = "val" if data.split_size("val") else "test"
        n = min(self.num_samples, data.split_size(split))
        batch = data.make_batch(split, torch.arange(n, device=data.device))
        was_training = model.training
        model.eval()
        maps = None
        if getattr(model, "attention", None) == "additive":
            restored, weights = model(batch["x"], return_attention=True)  # weights: (n, H, h, w)
            maps = self._attention_images(weights, batch["y"].shape[-2:])
        else:
            restored = model(batch["x"])
        model.train(was_training)
        images = torch.cat([batch["y"], batch["x"].clamp(0, 1), restored.float().clamp(0, 1)])  # (3n, C, H, W)
        return make_grid(images.cpu(), nrow=n, padding=2, pad_value=0.5), maps

    def _attention_images(self, weights: torch.Tensor, size) -> torch.Tensor:
        """Attention weights ``(n, H, h, w)`` of a few rows, upsampled to ``(rows * n, 1, H, W)``."""
        rows = torch.linspace(0, weights.shape[1] - 1, self.attention_rows).round().long().unique()
        maps = weights[:, rows]  # (n, r, h, w)
        maps = maps / maps.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
        maps = F.interpolate(maps.float(), size=tuple(size), mode="nearest")  # (n, r, H, W)
        return maps.transpose(0, 1).reshape(-1, 1, *size).cpu()  # row-major: one row of images per decoder row

    def on_validation_end(self, model: nn.Module, data, logger, step: int, run_dir: Path | None) -> None:
        """Log the fixed clean/corrupted/restored grid (and attention maps) and write ``samples.png``
        into ``run_dir`` (None: no files)."""
        from torchvision.utils import make_grid

        grid, maps = self.sample_grid(model, data)
        scale = max(1, 112 // data.model_args.get("image_size", [112])[0])  # 28-pixel digits: 4x, visible
        grid = F.interpolate(grid[None], scale_factor=scale, mode="nearest")[0]
        logger.log_images("val_samples/clean_corrupted_restored", grid[None], step)
        _save_png(grid, run_dir, "samples.png")
        if maps is not None:
            n = min(self.num_samples, maps.shape[0])
            attention = make_grid(maps, nrow=maps.shape[0] // max(1, maps.shape[0] // n), padding=2, pad_value=0.5)
            logger.log_images("val_samples/attention", attention[None], step)
            _save_png(attention, run_dir, "attention.png")


def _save_png(image: torch.Tensor, run_dir: Path | None, name: str) -> None:
    """``image`` as ``run_dir/name``, written atomically (a link there is replaced, never followed)."""
    from torchvision.utils import save_image

    if run_dir is None:
        return
    buffer = io.BytesIO()
    save_image(image, buffer, format="png")
    write_atomic(Path(run_dir) / name, buffer.getvalue())
