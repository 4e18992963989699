"""A run or sweep directory as a hostile user leaves it: links, files where folders belong, read-only
or full file systems, two sweeps in one folder. Each attempt is made for real and must end in one
line, with every earlier file byte-identical and nothing written outside the folder."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY_SQUARES, compose_config, run_script
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from cnnlstm.engine.loggers import TensorBoardLogger
from cnnlstm.engine.resume import resume_command
from cnnlstm.engine.run import refuse_unknown_keys, train
from cnnlstm.engine.trainer import Trainer, TrainingInterrupted
from cnnlstm.errors import ConfigError, StorageError
from cnnlstm.files import holder_pid

QUICK = [*TINY_SQUARES, "logger=none", "trainer.max_steps=2"]


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def one_line_error(result, *needles) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    for needle in needles:
        assert needle in last, (needle, last)
    return last


@pytest.fixture
def tmpfs(tmp_path):
    """A small tmpfs under ``tmp_path`` (root only; skipped where mounting is not allowed)."""
    mounts = []

    def mount(name: str, size: str = "256k") -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                              capture_output=True)
        if done.returncode:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        mounts.append(point)
        return point

    yield mount
    for point in reversed(mounts):
        subprocess.run(["umount", "-l", str(point)], check=False)


def read_only(point: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)


def fill(point: Path) -> None:
    try:
        with open(point / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError:
        pass


def test_links_in_a_run_directory_are_replaced_or_refused_never_written_through(tmp_path):
    outside, run_dir = tmp_path / "outside", tmp_path / "run"
    outside.mkdir()
    run_dir.mkdir()
    for name in ("config.yaml", "model_summary.txt", "train.log"):
        (outside / name).write_text("mine")
        (run_dir / name).symlink_to(outside / name)
    result = run_script("train.py", *QUICK, f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert {p.read_text() for p in outside.iterdir()} == {"mine"}  # nothing written through a link
    assert not (run_dir / "config.yaml").is_symlink() and "model" in (run_dir / "config.yaml").read_text()
    assert "cannot write" in result.stderr and "train.log" in result.stderr  # said once, the run goes on
    assert result.stderr.count("train.log") == 1


@pytest.mark.parametrize("name", [".lock", ".hydra", "checkpoints"])
def test_a_link_where_the_run_keeps_its_lock_or_folders_is_refused(tmp_path, name):
    target, run_dir = tmp_path / "target", tmp_path / "run"
    run_dir.mkdir()
    if name != ".lock":
        target.mkdir()
    (run_dir / name).symlink_to(target)
    before = tree(tmp_path)
    one_line_error(run_script("train.py", *QUICK, f"hydra.run.dir={run_dir}"), str(run_dir / name),
                   "symbolic link")
    assert not target.exists() or not any(target.iterdir())
    assert tree(tmp_path) == before


def test_output_folders_that_cannot_be_folders_are_one_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    cases = [
        ([f"hydra.run.dir={afile}/sub"], "is a file, not a directory"),
        (["hydra.run.dir=${oc.env:A_FILE}"], "is a file, not a directory"),
        ([f"hydra.run.dir={tmp_path / 'dangling'}"], "symbolic link to nothing"),
        (["-m", f"hydra.sweep.dir={afile}", "seed=0,1"], "hydra.sweep.dir"),
    ]
    for args, needle in cases:
        result = run_script("train.py", *QUICK, *args, env={"A_FILE": str(afile)})
        one_line_error(result, needle)
    assert afile.read_text() == "mine" and not (tmp_path / "nowhere").exists()


def test_read_only_run_and_sweep_folders_are_one_line(tmpfs):
    point = tmpfs("ro")
    (point / "run").mkdir()
    read_only(point)
    one_line_error(run_script("train.py", *QUICK, f"hydra.run.dir={point / 'run'}"), "Read-only file system")
    one_line_error(run_script("train.py", "-m", *QUICK, f"hydra.sweep.dir={point / 'sweep'}", "seed=0,1"),
                   "hydra.sweep.dir", "Read-only file system")


def test_a_sweep_started_on_a_full_disk_names_the_file(tmpfs):
    point = tmpfs("full", "64k")
    fill(point)
    one_line_error(run_script("train.py", "-m", *QUICK, f"hydra.sweep.dir={point / 'sweep'}", "seed=0,1"),
                   "multirun.yaml", "No space left on device")


def test_tensorboard_on_a_full_disk_is_one_storage_error_naming_the_event_file(tmpfs, capfd):
    point = tmpfs("tb", "128k")
    logger = TensorBoardLogger(point, flush_secs=3600)
    fill(point)
    with pytest.raises(StorageError, match=r"cannot write .*events\.out\.tfevents.*No space left on device"):
        for step in range(5000):
            logger.log_scalars({"train/loss": float(step)}, step)
        logger.close()
    time.sleep(0.2)  # the writer thread has ended
    assert "Traceback" not in capfd.readouterr().err


def test_overwrite_with_replaced_as_a_file_is_one_line_and_keeps_everything(tmp_path):
    train(compose_config(*QUICK), tmp_path)
    (tmp_path / "replaced").write_text("mine")
    before = tree(tmp_path)
    with pytest.raises(ConfigError, match=r"trainer.overwrite=true: cannot move .*replaced.*nothing was replaced"):
        train(compose_config(*QUICK, "trainer.overwrite=true", "trainer.resume=false"), tmp_path)
    assert tree(tmp_path) == before


def test_a_dotted_top_level_key_nothing_reads_is_refused():
    cfg = compose_config(*QUICK, "+foo.bar=1")
    with pytest.raises(ConfigError, match=r"\+foo.bar=1: no part of the run reads a top-level key 'foo'"):
        refuse_unknown_keys(cfg, ["+foo.bar=1"])
    refuse_unknown_keys(compose_config(*QUICK, "+model.extra=1"), ["+model.extra=1"])  # the model decides


@pytest.mark.parametrize("run_dir", ["/tmp/a,b", "/tmp/it's", "/tmp/a b", "/x/${now:%H}", "/x/=[]{}()",
                                     "/t/\"q\"", "/a\\'b", "plain/dir-1"])
def test_the_printed_resume_command_reads_back_as_the_same_folder(run_dir):
    import shlex

    words = shlex.split(resume_command(Path(run_dir), ["data.root='a b'", "seed=1"]))
    assert words[:4] == ["python", "train.py", "data.root='a b'", "seed=1"]
    override = OverridesParser.create().parse_override(words[-1])
    assert override.key_or_group == "hydra.run.dir"
    assert OmegaConf.create({"d": override.value()}).d == run_dir


def test_two_sweeps_in_one_folder_count_only_their_own_failures(tmp_path):
    """Sweep A's job holds ``0/``; sweep B's job 0 is refused: B fails, A succeeds."""
    sweep = tmp_path / "sweep"
    args = [sys.executable, "train.py", "-m", *TINY_SQUARES, "logger=none", f"hydra.sweep.dir={sweep}"]
    env = os.environ | {"HYDRA_FULL_ERROR": "0"}
    a = subprocess.Popen([*args, "trainer.max_steps=400", "trainer.max_epochs=-1", "seed=0"], cwd=ROOT,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while holder_pid(sweep / "0" / ".lock") is None and a.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert a.poll() is None, "sweep A ended before sweep B could start"
    b = subprocess.run([*args, "trainer.max_steps=2", "seed=0"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    a_out, a_err = a.communicate(timeout=600)
    assert b.returncode == 1 and "1 job(s) of the sweep failed: 0" in b.stderr, b.stderr[-2000:]
    assert a.returncode == 0, a_err[-2000:]
    assert (sweep / "0" / "metrics.json").exists() and (sweep / "0" / "refused.json").exists()


def test_a_second_signal_during_validation_saves_the_steps_trained_so_far(tmp_path, monkeypatch):
    real_evaluate, seen = Trainer.evaluate, []

    def slow_validation(self, model, task, data, split):
        if split == "val" and not seen:
            seen.append(True)
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # raises inside this pass, before it ends
            time.sleep(30)
            pytest.fail("the second signal did not cut the validation short")
        return real_evaluate(self, model, task, data, split)

    monkeypatch.setattr(Trainer, "evaluate", slow_validation)
    cfg = compose_config(*TINY_SQUARES, "logger=none", "trainer.max_steps=3", "trainer.val_every_n_steps=3")
    with pytest.raises(TrainingInterrupted, match=r"interrupted by signal 2 at step 3; saved .*last\.pt"):
        train(cfg, tmp_path)
    ckpt = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["state"]["step"] == 3 and ckpt["state"]["last_val_step"] == -1
    metrics = train(cfg, tmp_path)  # resumes: the validation the signal cut short runs first
    assert "best/val/loss" in metrics and (tmp_path / "checkpoints" / "best.pt").exists()


def test_a_refused_run_removes_the_folders_it_created_and_only_those(tmp_path):
    (tmp_path / "exist").mkdir()
    for run_dir in [tmp_path / "exist" / ".." / "refusedA", tmp_path / "nodir" / ".." / "refusedB",
                    tmp_path / "new" / "deeper" / "refusedC"]:
        one_line_error(run_script("train.py", *QUICK, "optimizer.lr=-1", f"hydra.run.dir={run_dir}"),
                       "optimizer.lr must be > 0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exist"]


def test_links_in_a_sweep_job_folder_are_never_written_through(tmp_path):
    sweep, elsewhere = tmp_path / "sweep", tmp_path / "elsewhere"
    (sweep / "0").mkdir(parents=True)
    (sweep / "1").mkdir()
    elsewhere.mkdir()
    (sweep / "0" / ".hydra").symlink_to(elsewhere)
    (sweep / "1" / "x").mkdir()
    (sweep / "1").rename(tmp_path / "job1")
    (sweep / "1").symlink_to(tmp_path / "job1")
    result = run_script("train.py", "-m", *QUICK, f"hydra.sweep.dir={sweep}", "seed=0,1")
    assert result.returncode == 1 and "2 job(s) of the sweep failed" in result.stderr, result.stderr[-2000:]
    assert list(elsewhere.iterdir()) == [] and [p.name for p in (tmp_path / "job1").iterdir()] == ["x"]
