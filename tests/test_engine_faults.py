"""Fault injection: each attempt is made for real and must end in one line, with earlier files intact."""

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, TINY_SQUARES, compose_config, run_script

from cnnlstm.engine.run import evaluate, train
from cnnlstm.engine.run_lock import RunDirectoryBusy, run_directory_lock
from cnnlstm.errors import CheckpointError, ConfigError, DataError, StorageError

QUICK = [*TINY_SQUARES, "logger=none", "trainer.max_steps=2"]


def digest(run_dir):
    """Hashes of every file a run wrote except its log (Hydra appends to it)."""
    return {p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file() and p.name != "train.log"}


def one_line_error(result, *needles):
    assert result.returncode != 0, result.stdout[-2000:]
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    for needle in needles:
        assert needle in last, (needle, last)
    return last


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("finished")
    train(compose_config(*QUICK), run_dir)
    return run_dir


def test_a_locked_run_directory_is_refused_naming_the_holder(tmp_path):
    with run_directory_lock(tmp_path / "run"):
        with pytest.raises(RunDirectoryBusy, match=rf"in use by another run \(PID {os.getpid()}\)"):
            train(compose_config(*QUICK), tmp_path / "run")
    assert [p.name for p in (tmp_path / "run").iterdir()] == [".lock"]  # the refused run wrote nothing


def test_two_processes_on_one_directory_and_a_kill_9_leaves_no_stale_lock(tmp_path):
    run_dir = tmp_path / "run"
    args = ["train.py", *TINY_SQUARES, "data.n_train=100000", "trainer.max_epochs=1", "trainer.log_every_n_steps=1",
            "logger=none", f"hydra.run.dir={run_dir}"]
    first = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        for line in first.stdout:
            if "step 2/" in line:
                break
        before = digest(run_dir)
        second = run_script(*args[:-1], "trainer.max_steps=1", f"hydra.run.dir={run_dir}")
        one_line_error(second, "is in use by another run", f"PID {first.pid}")
        first.send_signal(signal.SIGSTOP)  # freeze it: nothing of the first run changes while we compare
        assert {k: v for k, v in digest(run_dir).items() if not k.startswith("checkpoints")} == {
            k: v for k, v in before.items() if not k.startswith("checkpoints")}
    finally:
        first.kill()  # kill -9
        first.wait(timeout=30)
    third = run_script("train.py", *QUICK, f"hydra.run.dir={run_dir}", "trainer.resume=false", "trainer.overwrite=true")
    assert third.returncode == 0, third.stderr[-3000:]


def test_a_fresh_start_never_replaces_a_finished_run(finished):
    before = digest(finished)
    result = run_script("train.py", *QUICK, "trainer.resume=false", f"hydra.run.dir={finished}")
    one_line_error(result, "holds an earlier run's results", "trainer.overwrite=true")
    assert digest(finished) == before


def test_a_full_disk_during_a_checkpoint_write_is_one_line_and_keeps_the_previous_one(tmp_path, monkeypatch):
    train(compose_config(*QUICK), tmp_path)
    before = (tmp_path / "checkpoints/last.pt").read_bytes()
    real_fdopen = os.fdopen

    class FullDisk:  # full when the checkpoint is written (config.yaml and the rest are written first)
        def __init__(self, fd, mode):
            self.full = ".last.pt." in os.readlink(f"/proc/self/fd/{fd}")
            self.file = real_fdopen(fd, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            self.file.write(bytes(data)[:100] if self.full else data)
            if self.full:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.file, name)

    monkeypatch.setattr("cnnlstm.files.os.fdopen", FullDisk)
    with pytest.raises(StorageError, match=r"cannot write .*last\.pt: No space left on device$"):
        train(compose_config(*QUICK, "trainer.max_steps=4"), tmp_path)
    assert (tmp_path / "checkpoints/last.pt").read_bytes() == before
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_sweep_job_on_a_full_disk_says_so_in_failure_json(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    from cnnlstm.engine.run import run_job

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=QUICK, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.runtime.output_dir = str(tmp_path)

    def tensorboard_on_a_full_disk(cfg, run_dir):
        raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "tb" / "events"))

    HydraConfig.instance().set_config(cfg)
    try:
        assert run_job(tensorboard_on_a_full_disk, cfg) is None
    finally:
        HydraConfig.instance().cfg = None
    error = json.loads((tmp_path / "failure.json").read_text())["error"]
    assert error == f"error: cannot write {tmp_path / 'tb' / 'events'}: No space left on device"


def test_temporary_files_of_a_killed_write_are_removed_when_the_run_starts_again(tmp_path):
    common = [*TINY_SQUARES, "logger=none", "trainer.max_epochs=-1"]
    train(compose_config(*common, "trainer.max_steps=2"), tmp_path)
    leftover = tmp_path / "checkpoints" / ".last.pt.k1ll3d.tmp"
    leftover.write_bytes(b"half a checkpoint")
    train(compose_config(*common, "trainer.max_steps=4"), tmp_path)  # resumes
    assert not leftover.exists() and not list(tmp_path.rglob("*.tmp"))


def test_a_corrupt_metrics_json_of_a_finished_run_is_named(finished, tmp_path):
    run_dir = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(finished), str(run_dir)], check=True)
    (run_dir / "metrics.json").write_text('{"test/acc": 0.9')
    result = run_script("train.py", *QUICK, f"hydra.run.dir={run_dir}")
    one_line_error(result, "metrics.json is unreadable or corrupt", "delete it")


def test_output_directories_that_are_files_are_one_line(finished, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    one_line_error(run_script("train.py", *QUICK, f"hydra.run.dir={afile}"), "is a file, not a directory")
    one_line_error(run_script("eval.py", f"ckpt_path={finished / 'checkpoints/best.pt'}", f"output_dir={afile}"),
                   "is a file")
    assert afile.read_text() == "mine"


def test_eval_on_an_empty_test_split_is_refused(finished, tmp_path):
    with pytest.raises(ConfigError, match="the test split is empty"):
        evaluate(finished / "checkpoints/best.pt", ["data.n_test=0"], tmp_path)
    assert not (tmp_path / "metrics.json").exists()


def test_random_bytes_as_a_checkpoint_never_suggest_the_unsafe_load(tmp_path):
    (tmp_path / "noise.pt").write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError) as e:
        evaluate(tmp_path / "noise.pt", [], tmp_path / "out")
    assert "not a checkpoint" in str(e.value) and "weights_only" not in str(e.value)


def test_a_weight_shape_mismatch_in_eval_names_the_key(finished, tmp_path):
    ckpt = torch.load(finished / "checkpoints/best.pt", weights_only=True)
    ckpt["config"]["model"]["hidden_size"] = 7
    torch.save(ckpt, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"size mismatch for lstm\.[a-z_0-9]+: .*torch\.Size"):
        evaluate(tmp_path / "other.pt", [], tmp_path / "out")


def test_a_top_level_key_nothing_reads_is_refused(tmp_path):
    result = run_script("train.py", *QUICK, "+foo=1", f"hydra.run.dir={tmp_path / 'run'}")
    one_line_error(result, "+foo=1", "top-level key 'foo'")
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_divergence_before_any_checkpoint_says_none_exists(tmp_path, monkeypatch):
    from cnnlstm.engine.trainer import TrainingDiverged
    from cnnlstm.tasks import Classification

    loss = Classification.loss
    monkeypatch.setattr(Classification, "loss", lambda self, out, batch: loss(self, out, batch) * float("nan"))
    with pytest.raises(TrainingDiverged, match=r"by step 1 \(no checkpoint written\)"):
        train(compose_config(*QUICK, "trainer.log_every_n_steps=1"), tmp_path)
    assert not (tmp_path / "checkpoints").exists()


def test_a_run_refused_in_a_new_directory_leaves_nothing(tmp_path):
    with pytest.raises(DataError):
        train(compose_config("model=conv_autoencoder", "data=image_folder", f"data.root={tmp_path / 'missing'}",
                             "trainer.device=cpu", "logger=none"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_kill_9_in_the_middle_of_a_checkpoint_write_keeps_the_old_file(tmp_path):
    """A real SIGKILL while save_atomic is writing: the old checkpoint is intact, a .tmp is left,
    and the next run in the directory removes it."""
    train(compose_config(*QUICK, "trainer.max_epochs=-1"), tmp_path)
    target = tmp_path / "checkpoints" / "last.pt"
    before = target.read_bytes()
    child = subprocess.Popen([sys.executable, "-c", (
        "import os, time, torch\n"
        "import cnnlstm.files as atomic\n"
        "real = os.fsync\n"
        "def slow(fd):\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
        "atomic.os.fsync = slow\n"
        "from cnnlstm.engine.checkpoint import save_atomic\n"
        f"save_atomic({{'model': {{'w': torch.zeros(1000, 1000)}}}}, {str(target)!r})\n")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"  # the data is in the temporary file, not yet renamed
        child.kill()  # SIGKILL: no finally, no clean-up
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    leftovers = list(target.parent.glob(".last.pt.*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 4_000_000
    assert target.read_bytes() == before  # the old checkpoint, whole
    train(compose_config(*QUICK, "trainer.max_epochs=-1", "trainer.max_steps=4"), tmp_path)  # resumes
    assert not list(tmp_path.rglob("*.tmp"))
