"""Every model family at its default config, with variants side by side in one run.

Each variant runs in a fresh process, so its peak memory (RSS on CPU) is its own and a slow
variant cannot warm caches for the next.
"""

import json
import subprocess
import sys

import torch

from cnnlstm.bench.tutorial import ROOT

# family -> config overrides of its default configuration
FAMILIES = {
    "cnn_lstm": ["model=cnn_lstm"],
}

# variant name -> (extra overrides, spec fields)
VARIANTS = {
    "eager": ([], {}),
    "compile": ([], {"compile": "parts"}),
    "bf16": ([], {"precision": "bf16"}),
}

EXTRA = [  # (family, variant, overrides, spec)
    ("cnn_lstm", "per-frame loop", ["model=cnn_lstm", "model.fold_time=false"], {}),
    ("cnn_lstm", "large", ["model=cnn_lstm_large"], {}),
]


def run_isolated(spec: dict) -> dict:
    """Run :mod:`cnnlstm.bench.measure` in a child process and return its record."""
    done = subprocess.run([sys.executable, "-m", "cnnlstm.bench.measure", json.dumps(spec)], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:120]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(device: torch.device, quick: bool = False) -> list[dict]:
    records = []
    jobs = [(f, v, FAMILIES[f] + extra, spec) for f in FAMILIES for v, (extra, spec) in VARIANTS.items()]
    jobs += EXTRA
    for family, variant, overrides, spec in jobs:
        if variant == "bf16" and device.type == "cpu" and not torch.backends.mkldnn.is_available():
            continue
        full = {"overrides": overrides, "device": device.type, **spec}
        if quick:
            full |= {"warmup": 1, "steps": 3, "infer_calls": 4}
        records.append({"family": family, "variant": variant, "device": device.type} | run_isolated(full))
    return records
