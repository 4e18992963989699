"""The whole Keras tutorial run (5000 sequences, 1 epoch, batch 32), timed as a user runs it.

The Keras tutorial code took about 85 s here (25 s to build its data, 58 s to fit) and 15 GB
peak memory; the target is a third of that time and under 1.5 GB.
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from cnnlstm.data.moving_squares import MovingSquares

ROOT = Path(__file__).resolve().parents[2]
KERAS_SECONDS, KERAS_PEAK_MB = 85.0, 15_000.0


def data_generation_seconds(device: torch.device, n: int = 5000, batch_size: int = 32) -> float:
    """Seconds to generate ``n`` tutorial sequences batch by batch on ``device``."""
    data = MovingSquares(n_train=n, n_val=0, n_test=0, batch_size=batch_size)
    data.setup(device)
    start = time.perf_counter()
    for batch in data.batches("train"):
        batch["x"].sum()  # touch the data as training would
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def whole_run(device: str, seed: int = 0, extra: list[str] | None = None) -> dict:
    """``python train.py`` with the tutorial settings in a fresh process: wall time, peak RSS, metrics."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "train.py", f"trainer.device={device}", f"seed={seed}", "logger=none",
               "trainer.progress=log", f"hydra.run.dir={tmp}", *(extra or [])]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"tutorial run failed: {done.stderr.strip().splitlines()[-1:]}")
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        metrics = json.loads((Path(tmp) / "metrics.json").read_text())
    return {
        "run_seconds": seconds,
        "peak_rss_mb": max(peak_kb, before) / 1024,
        "fit_seconds": metrics["fit_seconds"],
        "train_samples_per_s": metrics["train_samples_per_s"],
        "test_acc": metrics["test/acc"],
    }


def run(device: torch.device, quick: bool = False) -> list[dict]:
    """One record: data generation, the whole run's time and memory, and its test accuracy."""
    n = 256 if quick else 5000
    record = {"family": "tutorial_run", "variant": f"{n}x1 epoch, batch 32", "device": device.type,
              "data_gen_seconds": data_generation_seconds(device, n)}
    record |= whole_run(device.type, extra=[f"data.n_train={n}"])
    record["vs_keras_time"] = record["run_seconds"] / KERAS_SECONDS
    return [record]
