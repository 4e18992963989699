"""Markdown table of the denoiser vs conv-autoencoder comparison from run directories.

``python experiments/denoising/table.py RUNS_DIR`` where RUNS_DIR holds ``<model>-<seed>/`` run
directories (``hydra.run.dir=RUNS_DIR/<model>-<seed>``), as ``experiments/denoising/compare.sh``
writes them.
"""

import json
import re
import statistics
import sys
from pathlib import Path


def params(run: Path) -> str:
    match = re.search(r"Total params: ([\d,]+)", (run / "model_summary.txt").read_text())
    return match.group(1) if match else "?"


def main(runs_dir: str) -> None:
    runs = {}
    for run in sorted(Path(runs_dir).iterdir()):
        if (run / "metrics.json").is_file():
            model, seed = run.name.rsplit("-", 1)
            metrics = json.loads((run / "metrics.json").read_text())
            for later in sorted(run.glob("eval*/metrics.json")):  # eval.py re-scores: metrics added since
                metrics = json.loads(later.read_text()) | metrics
            runs.setdefault(model, {})[int(seed)] = (run, metrics)
    cols = ["psnr_masked", "psnr_masked_per_image", "ssim_masked", "mse_masked", "psnr", "ssim"]
    print("| model | params | seed | " + " | ".join(f"test/{c}" for c in cols) + " | fit s |")
    print("|---|---|---|" + "---|" * (len(cols) + 1))
    means = {}
    black = None
    for model, by_seed in runs.items():
        for seed, (run, m) in sorted(by_seed.items()):
            black = (m["test/psnr_masked_black"], m.get("test/psnr_masked_black_per_image", float("nan")))
            print(f"| {model} | {params(run)} | {seed} | " + " | ".join(f"{m.get('test/' + c, float('nan')):.3f}" for c in cols)
                  + f" | {m['fit_seconds']:.0f} |")
        means[model] = {c: statistics.mean(m.get("test/" + c, float("nan")) for _, m in by_seed.values()) for c in cols}
        print(f"| **{model} mean** | | {len(by_seed)} seeds | "
              + " | ".join(f"**{means[model][c]:.3f}**" for c in cols) + " | |")
    print(f"| all-black guess of the hole | 0 | - | {black[0]:.3f} | {black[1]:.3f} | | | | | |")
    if "denoiser" in means and "conv_autoencoder" in means:
        for c in ("psnr_masked", "psnr_masked_per_image"):
            gap = means["denoiser"][c] - means["conv_autoencoder"][c]
            print(f"\nMean test/{c} gap, denoiser - conv_autoencoder: **{gap:+.2f} dB**")


if __name__ == "__main__":
    main(sys.argv[1])
