"""Shared fixtures: compose configs the way train.py does, and tiny settings for quick real runs."""

import os
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from cnnlstm.arguments import ValidationError, first_problem

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# A moving-squares problem small enough to train for real in seconds on CPU.
TINY_SQUARES = [
    "data.n_train=256", "data.n_val=64", "data.n_test=64", "data.size=16", "data.seq_len=12",
    "data.batch_size=32", "data.eval_batch_size=64", "model.hidden_size=16", "optimizer.lr=0.01",
    "trainer.device=cpu", "trainer.progress=log", "trainer.log_every_n_steps=4",
]


def compose_config(*overrides: str) -> DictConfig:
    """The config train.py would see for these command-line overrides."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def run_script(*args: str, cwd: Path = ROOT, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python <args>`` in the repository, capturing text output."""
    full_env = os.environ | {"PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "0"} | (env or {})
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


@contextmanager
def argument_error(match: str, fn):
    """Expect the call in the block to break a constraint ``fn`` (a checked class or function)
    declares: pydantic's ValidationError, whose one-line form (what the entry points print,
    :func:`cnnlstm.arguments.first_problem`) must match ``match``."""
    with pytest.raises(ValidationError) as error:
        yield error
    line = first_problem(error.value, fn)
    assert re.search(match, line), f"{line!r} does not match {match!r}"


@pytest.fixture(autouse=True)
def _deterministic_threads():
    """Tests run on CPU with the machine's threads; seed torch so each test is reproducible."""
    torch.manual_seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
