"""CLDNN streaming on CPU with one thread: latency per chunk and the real-time factor.

A frame stands for ``frame_ms`` of audio (10 ms hop, as in the paper); the real-time factor is
compute time / audio time, so below 1 keeps up with speech and below 0.05 leaves 95 % idle.
"""

import time

import torch

from cnnlstm.bench.measure import compose_overrides
from cnnlstm.engine.run import build_parts

PRESETS = {"cldnn_streaming": ["model=cldnn_streaming"],
           "cldnn_paper causal": ["model=cldnn_paper", "model.causal=true", "model.sample_rate=null",
                                  "model.in_features=40", "data=japanese_vowels"]}


@torch.no_grad()
def chunk_latency(model, in_features: int, chunk: int, seconds: float = 2.0) -> float:
    """Mean seconds per ``model.stream`` call on chunks of ``chunk`` frames (state carried)."""
    x = torch.randn(1, chunk, in_features)
    state, calls = None, 0
    for _ in range(5):
        _, state = model.stream(x, state)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, state = model.stream(x, state)
        calls += 1
    return (time.perf_counter() - start) / calls


def run(device: torch.device, frame_ms: float = 10.0, quick: bool = False) -> list[dict]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    records = []
    try:
        for name, overrides in PRESETS.items():
            cfg = compose_overrides(overrides + ["trainer.device=cpu"])
            _, _, model = build_parts(cfg, torch.device("cpu"))
            model.eval()
            width = model.in_features
            for chunk in (1, 10):
                latency = chunk_latency(model, width, chunk, 0.5 if quick else 2.0)
                records.append({"family": "cldnn_stream", "variant": f"{name}, chunk {chunk}", "device": "cpu",
                                "threads": 1, "latency_ms": latency * 1e3,
                                "rtf": latency / (chunk * frame_ms / 1e3)})
    finally:
        torch.set_num_threads(threads)
    return records
