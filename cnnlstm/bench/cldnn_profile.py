"""Where a CLDNN training step on 1-second clips spends its time, against what the arithmetic allows.

``python -m cnnlstm.bench --only cldnn_profile``: the ``model=cldnn`` preset on a batch of 32
one-second 16 kHz clips (98 frames, 35 classes). Counts the FLOPs of one forward + backward per
clip (``torch.utils.flop_counter``; the LSTM, a fused op the counter does not see, analytically),
measures this CPU's float32 matmul rate on the shapes the model uses, and profiles training
steps with ``torch.profiler``, printing the ops that take the time.
"""

import time

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from cnnlstm.bench.measure import compose_overrides
from cnnlstm.engine.builder import build_model

BATCH, SAMPLES, CLASSES = 32, 16000, 35


def preset_model():
    cfg = compose_overrides(["model=cldnn"])
    return build_model(cfg.model, {"num_outputs": CLASSES, "sample_rate": 16000})


def lstm_flops(lstm: torch.nn.LSTM, frames: int) -> float:
    """Forward FLOPs of ``lstm`` over ``frames`` steps for one sequence: 2 per multiply-add of the
    four gates' input and recurrent matmuls, every layer and direction."""
    directions = 2 if lstm.bidirectional else 1
    total, width = 0.0, lstm.input_size
    for _ in range(lstm.num_layers):
        total += directions * frames * 2 * 4 * lstm.hidden_size * (width + lstm.hidden_size)
        width = lstm.hidden_size * directions
    return total


def step_flops(model, x, lengths, y) -> tuple[float, float]:
    """(counted FLOPs of forward + backward for the batch, analytic LSTM forward FLOPs for the batch)."""
    counter = FlopCounterMode(display=False)
    with counter:
        F.cross_entropy(model(x, lengths), y).backward()
    frames = int(model.frontend.num_frames(torch.tensor(SAMPLES)))
    return float(counter.get_total_flops()), lstm_flops(model.lstm, frames) * len(x)


def matmul_gflops(m: int, k: int, n: int, seconds: float = 1.0) -> float:
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        a @ b
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        calls += 1
    return 2 * m * k * n * calls / (time.perf_counter() - start) / 1e9


def train_rate(model, x, lengths, y, steps: int) -> tuple[float, str]:
    """Clips/s of plain training steps (Adam), and the profiler's table of the costliest ops."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        F.cross_entropy(model(x, lengths), y).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    rate = BATCH * steps / (time.perf_counter() - start)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            step()
    return rate, prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)


def run(device: torch.device, quick: bool = False) -> list[dict]:
    torch.manual_seed(0)
    model = preset_model().train()
    x, lengths = torch.randn(BATCH, SAMPLES) * 0.1, torch.full((BATCH,), SAMPLES)
    y = torch.randint(0, CLASSES, (BATCH,))
    counted, lstm_forward = step_flops(model, x, lengths, y)
    model.zero_grad(set_to_none=True)
    frames = int(model.frontend.num_frames(torch.tensor(SAMPLES)))
    # the LSTM's own matmuls: its input projection over all frames, its recurrence one frame at a time
    gemm_big = matmul_gflops(BATCH * frames, 512, 1024, 0.3 if quick else 1.0)
    gemm_step = matmul_gflops(BATCH, 256, 1024, 0.3 if quick else 1.0)
    rate, table = train_rate(model, x, lengths, y, 1 if quick else 5)
    print(table)
    per_clip = (counted + 3 * lstm_forward) / BATCH  # backward of the LSTM: about twice its forward
    return [{"family": "cldnn_profile", "variant": "cldnn preset, 1 s clips, batch 32", "device": "cpu",
             "gflop_per_clip_train": per_clip / 1e9, "counted_gflop_per_clip": counted / BATCH / 1e9,
             "lstm_share": 3 * lstm_forward / (counted + 3 * lstm_forward),
             "matmul_gflops_big": gemm_big, "matmul_gflops_step": gemm_step,
             "ceiling_clips_per_s": gemm_big * 1e9 / per_clip, "train_clips_per_s": rate}]
