"""The entry points as a user runs them: bad input is one clear line and a non-zero exit."""

import hashlib
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, TINY_SQUARES, compose_config, run_script

from cnnlstm.engine.run import train
from cnnlstm.errors import CheckpointError


def digest(run_dir):
    """Hashes of everything a run wrote, Hydra's record included, except its log (which appends)."""
    return {p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file() and p.name != "train.log"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("finished")
    train(compose_config(*TINY_SQUARES, "trainer.max_steps=3"), run_dir)
    return run_dir


def assert_one_line_error(result, *needles):
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    text = result.stderr.strip()
    for needle in needles:
        assert needle in text, (needle, text)


@pytest.mark.parametrize("override,needles", [
    (["data.batch_size=0"], ["data.batch_size must be >= 1, got 0"]),
    (["optimizer.lr=-0.1"], ["optimizer.lr must be > 0, got -0.1"]),
    (["data.size=3", "data.seq_len=3", "model.conv_channels=[2,2]"], ["too small", "block 1"]),
])
def test_bad_values_leave_finished_run_untouched(finished_run, override, needles):
    before = digest(finished_run)
    result = run_script("train.py", *override, f"hydra.run.dir={finished_run}", "trainer.device=cpu")
    assert_one_line_error(result, *needles)
    assert digest(finished_run) == before


def test_unknown_option_lists_choices():
    result = run_script("train.py", "model=nope")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "model/nope" in result.stderr and "cnn_lstm" in result.stderr


def test_eval_missing_and_unsafe_checkpoints(tmp_path):
    result = run_script("eval.py", f"ckpt_path={tmp_path / 'missing.pt'}")
    assert_one_line_error(result, "checkpoint not found", "missing.pt")
    marker = tmp_path / "ran"
    torch.save({"model": {}, "x": Payload(str(marker))}, tmp_path / "evil.pt")
    assert_one_line_error(run_script("eval.py", f"ckpt_path={tmp_path / 'evil.pt'}"), "refusing to load")
    with pytest.raises(CheckpointError, match="refusing to load"):
        train(compose_config(*TINY_SQUARES, f"trainer.resume={tmp_path / 'evil.pt'}"), tmp_path / "run")
    assert not marker.exists()


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_eval_cli_prints_and_writes_metrics(finished_run, tmp_path):
    result = run_script("eval.py", f"ckpt_path={finished_run / 'checkpoints/best.pt'}", "data.eval_batch_size=1",
                        f"output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert "test/acc=" in result.stdout and (tmp_path / "metrics.json").exists()


def test_sigterm_saves_last_checkpoint_and_says_how_to_resume(tmp_path):
    args = [*TINY_SQUARES, "data.n_train=100000", "trainer.max_epochs=1", "trainer.log_every_n_steps=1",
            "logger=none", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.Popen([sys.executable, "train.py", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={"PYTHONUNBUFFERED": "1", **_env()})
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "step 3/" in line:
            proc.send_signal(signal.SIGTERM)
            break
    start = time.monotonic()
    out = "".join(seen) + proc.stdout.read()
    code = proc.wait(timeout=60)
    assert time.monotonic() - start < 30
    assert code == 128 + signal.SIGTERM, out
    assert "Resume with" in out
    ckpt = torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)
    assert 3 <= ckpt["state"]["step"] < 100000 // 32
    assert f"python train.py {' '.join(args[:-1])} hydra.run.dir={tmp_path}" in out  # the run's own command


def test_a_refused_resume_leaves_the_run_directory_as_it_was_and_says_how_to_resume(tmp_path):
    args = [*TINY_SQUARES, "trainer.max_steps=2", "logger=none", "hydra.run.dir=outputs/run"]  # relative, as usual
    train_py = str(ROOT / "train.py")
    assert run_script(train_py, *args, cwd=tmp_path).returncode == 0
    before = digest(tmp_path / "outputs/run")
    refused = run_script(train_py, *args, "data.batch_size=16", cwd=tmp_path)
    assert_one_line_error(refused, "differs in data.batch_size=16 (checkpoint: 32)",
                          f"resume it with: python train.py {' '.join(args[:-1])} hydra.run.dir=")
    assert digest(tmp_path / "outputs/run") == before


def _env():
    import os

    return {k: v for k, v in os.environ.items()}


@pytest.mark.parametrize("command", [["eval.py"], ["-m", "cnnlstm.stream"], ["-m", "cnnlstm.restore"],
                                     ["-m", "cnnlstm.experiments.summarize"], ["-m", "cnnlstm.data.make_tones"]])
def test_every_entry_point_answers_help(command):
    result = run_script(*command, "--help")
    assert result.returncode == 0 and "usage" in result.stdout.lower(), result.stdout + result.stderr
