"""The core is plain PyTorch: a model trains from Python with no Hydra, no config, no run directory."""

import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PACKAGE = Path(__file__).resolve().parents[1] / "cnnlstm"

SCRIPT = """
import sys
import torch
import cnnlstm.data, cnnlstm.models, cnnlstm.nn, cnnlstm.tasks
from cnnlstm.data import MovingSquares
from cnnlstm.engine.trainer import Trainer
from cnnlstm.models import CNNLSTM
from cnnlstm.tasks import Classification

loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("hydra", "omegaconf"))
assert not loaded, loaded
torch.manual_seed(0)
data = MovingSquares(n_train=256, n_val=64, n_test=128, size=16, seq_len=12, batch_size=32)
data.setup(torch.device("cpu"))
model = CNNLSTM(**data.model_args, hidden_size=16)
trainer = Trainer(max_epochs=6, device="cpu", progress="log")
state = trainer.fit(model, Classification(), data, torch.optim.Adam(model.parameters(), lr=0.01))
metrics = trainer.evaluate(model, Classification(), data, "test")
print(state.step, metrics["test/acc"])
assert state.step == 6 * 8 and metrics["test/acc"] > 0.9, metrics
assert not [m for m in sys.modules if m.split(".")[0] in ("hydra", "omegaconf")]
"""


def test_a_model_trains_from_plain_python_without_hydra_or_omegaconf(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert not list(tmp_path.iterdir())  # no run directory, no checkpoint, no log


def test_the_training_loop_reads_in_one_short_module():
    assert len((PACKAGE / "engine" / "trainer.py").read_text().splitlines()) < 300
