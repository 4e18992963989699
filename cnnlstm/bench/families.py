"""Every model family at its default config, with variants side by side in one run.

Each variant runs in a fresh process, so its peak memory (RSS on CPU) is its own and a slow
variant cannot warm caches for the next.
"""

import json
import subprocess
import sys
import tempfile

import torch

from cnnlstm.bench.tutorial import ROOT
from cnnlstm.data.make_tones import make_tone_folder

# family -> config overrides of its default configuration
FAMILIES = {
    "cnn_lstm": ["model=cnn_lstm"],
    "cldnn": ["model=cldnn"],
    "denoiser": ["model=denoiser"],
    "conv_autoencoder": ["model=conv_autoencoder"],
}

# variant name -> (extra overrides, spec fields); bf16 on CPU only where the CPU has bf16 units
VARIANTS = {
    "eager": ([], {}),
    "compile": ([], {"compile": "parts"}),
    "bf16": ([], {"precision": "bf16"}),
    "cuda graphs": (["data.drop_last=true"], {"cuda_graphs": True}),  # CUDA only
}

# families whose training batches have one shape and positional inputs (the CLDNN passes lengths,
# the denoiser its target, as keywords: CudaGraphed would run them eagerly)
GRAPHABLE = ("cnn_lstm", "conv_autoencoder")

EXTRA = [  # (family, variant, overrides, spec): the naive port and the scale knob
    ("cnn_lstm", "per-frame loop", ["model=cnn_lstm", "model.fold_time=false"], {}),
    ("cnn_lstm", "large", ["model=cnn_lstm_large"], {"steps": 5, "infer_calls": 8}),
    ("cldnn", "paper sizes, 1 s audio", ["model=cldnn_paper", "data=wav_folder", "data.root={tones}"],
     {"steps": 5, "infer_calls": 8}),
    ("denoiser", "large", ["model=denoiser", "model.hidden_size=512", "model.context_size=512",
                           "model.conv_channels=[64,128]"], {"steps": 10}),
]


def cpu_has_bf16() -> bool:
    try:
        return "avx512_bf16" in open("/proc/cpuinfo").read() or "amx_bf16" in open("/proc/cpuinfo").read()
    except OSError:
        return False


def run_isolated(spec: dict) -> dict:
    """Run :mod:`cnnlstm.bench.measure` in a child process and return its record."""
    done = subprocess.run([sys.executable, "-m", "cnnlstm.bench.measure", json.dumps(spec)], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:120]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(device: torch.device, quick: bool = False) -> list[dict]:
    with tempfile.TemporaryDirectory() as tones:
        make_tone_folder(tones, per_class=8)  # audio for the paper-sized CLDNN's log-mel front end
        return _run(device, quick, tones)


def _run(device: torch.device, quick: bool, tones: str) -> list[dict]:
    records = []
    jobs = [(f, v, FAMILIES[f] + extra, spec) for f in FAMILIES for v, (extra, spec) in VARIANTS.items()]
    jobs += EXTRA
    for family, variant, overrides, spec in jobs:
        if variant == "bf16" and device.type == "cpu" and not (cpu_has_bf16() or family == "cnn_lstm"):
            continue
        if variant == "cuda graphs" and (device.type != "cuda" or family not in GRAPHABLE):
            continue
        full = {"overrides": [o.format(tones=tones) for o in overrides], "device": device.type, **spec}
        if quick:
            full |= {"warmup": 1, "steps": 3, "infer_calls": 4}
        records.append({"family": family, "variant": variant, "device": device.type} | run_isolated(full))
    return records
