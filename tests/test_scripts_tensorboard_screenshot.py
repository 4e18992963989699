"""The TensorBoard screenshot tool: a run named after its directory, rendered by headless Chromium."""

import importlib.util
import shutil
from pathlib import Path

import pytest

from cnnlstm.engine.loggers import TensorBoardLogger

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "tensorboard_screenshot.py"


def load_script():
    spec = importlib.util.spec_from_file_location("tensorboard_screenshot", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (apt-get install -y chromium)")
def test_a_screenshot_of_the_time_series_view(tmp_path):
    logger = TensorBoardLogger(tmp_path / "runs" / "my_run")
    for step in range(10):
        logger.log_scalars({"train/loss": 1 / (step + 1), "val/loss": 1.2 / (step + 1)}, step)
    logger.log_hparams({"lr": 0.1}, {"test/acc": 0.9})
    logger.close()
    runs = load_script().screenshot(tmp_path / "runs", tmp_path / "shot.png", width=800, height=600)
    assert runs == ["my_run"]  # named after the run directory, not "." or "my_run/tb"
    from PIL import Image

    image = Image.open(tmp_path / "shot.png").convert("RGB")
    assert image.size == (800, 600) and image.getpixel((400, 5))[0] > 200  # TensorBoard's orange bar rendered


def test_no_run_is_one_error_line(tmp_path, capsys):
    if shutil.which("chromium") is None:
        assert load_script().main([str(tmp_path), str(tmp_path / "x.png")]) == 2
        assert "chromium is not installed" in capsys.readouterr().err
        return
    assert load_script().main([str(tmp_path), str(tmp_path / "x.png"), "--wait", "3"]) == 2
    assert "TensorBoard found no run under" in capsys.readouterr().err
