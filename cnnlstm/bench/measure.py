"""Measure one model variant as a user trains and serves it; run in its own process by the suite.

``python -m cnnlstm.bench.measure '<json spec>'`` prints one JSON record. The spec names the
config overrides (``model=cldnn`` ...), the device, the trainer's precision and compile mode,
and how many steps to time. Training steps include making the batch, as in the real loop.
"""

import json
import resource
import sys
import time

import torch
from hydra import compose, initialize_config_dir

from cnnlstm.bench.tutorial import ROOT
from cnnlstm.engine.allocator import keep_freed_memory
from cnnlstm.engine.builder import build, build_optimizer
from cnnlstm.engine.cuda_graphs import CudaGraphed
from cnnlstm.engine.precision import autocast, resolve_device
from cnnlstm.engine.run import build_parts
from cnnlstm.engine.speedups import compile_model


def compose_overrides(overrides: list[str]):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, n: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` over ``n`` calls, after the caller's warm-up."""
    sync(device)
    start = time.perf_counter()
    for _ in range(n):
        fn()
    sync(device)
    return (time.perf_counter() - start) / n


def measure(spec: dict) -> dict:
    device = resolve_device(spec.get("device", "auto"))
    if device.type == "cpu":
        keep_freed_memory()  # as the trainer does
    torch.manual_seed(0)
    cfg = compose_overrides(list(spec["overrides"]) + [f"trainer.device={device.type}"])
    trainer = build(cfg.trainer, "trainer")
    data, task, model = build_parts(cfg, device)
    model.to(device)
    forward_model = compile_model(model, spec.get("compile", False))
    graphs = bool(spec.get("cuda_graphs", False))
    if graphs:
        forward_model = CudaGraphed(forward_model, batch_size=data.batch_size)
    optimizer = build_optimizer(cfg.optimizer, model.parameters())
    precision = str(spec.get("precision", "32"))
    batches = data.batches("train")

    def next_batch():
        nonlocal batches
        try:
            return next(batches)
        except StopIteration:
            batches = data.batches("train")
            return next(batches)

    def train_step():
        forward_model.train()
        with autocast(precision, device, cache=not graphs):
            loss = task.step(forward_model, next_batch()).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    warmup, steps = spec.get("warmup", 3), spec.get("steps", 20)
    for _ in range(warmup):
        train_step()
    step_s = timed(train_step, steps, device)
    data_s = timed(next_batch, steps, device)
    record = {
        "train_samples_per_s": data.batch_size / step_s,
        "data_share": data_s / step_s,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
    }
    if spec.get("infer", True):  # the speech section times training only (inference at b256 on audio is minutes)
        record["infer_samples_per_s_b1"] = infer_rate(forward_model, task, data, 1, precision, device, spec)
        record["infer_samples_per_s_b256"] = infer_rate(forward_model, task, data, 256, precision, device, spec)
    if graphs:
        record["graphed_steps"] = forward_model.replays
    if device.type == "cuda":
        record["peak_mem_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:  # this process's peak resident memory (the suite runs each variant in its own process)
        record["peak_mem_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del trainer
    return record


@torch.no_grad()
def infer_rate(model, task, data, batch_size: int, precision: str, device, spec: dict) -> float:
    """Samples per second of inference at ``batch_size`` (the test split, repeated as needed)."""
    n = data.split_size("test") or data.split_size("train")
    split = "test" if data.split_size("test") else "train"
    indices = torch.arange(batch_size, device=device) % n
    batch = data.make_batch(split, indices)
    args, kwargs = task.model_inputs(batch)
    model.eval()

    def forward():
        with autocast(precision, device):
            model(*args, **kwargs)

    for _ in range(2):
        forward()
    calls = max(2, spec.get("infer_calls", 20) if batch_size == 1 else spec.get("infer_calls", 20) // 4)
    return batch_size / timed(forward, calls, device)


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
