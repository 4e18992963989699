"""Real multiruns through Hydra: failing jobs are recorded and the others keep their results.

Also: the launcher and search configs compose with Hydra's own config, as a run would see them.
"""

import json

import pandas as pd
import pytest
from conftest import CONF, TINY_SQUARES, run_script
from hydra import compose, initialize_config_dir

from cnnlstm.experiments.summarize import main as summarize_main

QUIET = ["logger=none", "trainer.max_epochs=1", "hydra.job_logging.root.level=WARNING"]
ENV = {"OMP_NUM_THREADS": "1"}


def test_sweep_2x2_with_a_broken_job_keeps_the_others_and_summarizes(tmp_path):
    # seed=12,20 x data.size=16,24 with seq_len tied to the seed: only seed 20 on 16x16 frames is a
    # bad combination (seq_len > size), so one job of four fails and data.size=24 has two seeds.
    out = tmp_path / "sweep"
    proc = run_script("train.py", "-m", *TINY_SQUARES, *QUIET, "seed=12,20", "data.size=16,24",
                      "data.seq_len=${seed}", f"hydra.sweep.dir={out}", env=ENV)
    assert proc.returncode == 1, proc.stderr[-3000:]  # the sweep ran to the end, and says a job failed
    assert "error: 1 job(s) of the sweep failed: 1 " in proc.stderr
    jobs = {p.name: p for p in out.iterdir() if p.is_dir()}
    assert sorted(jobs) == ["0", "1", "2", "3"]
    # Hydra's basic sweeper nests the keys in the order they first appear on the command line
    # (TINY_SQUARES names data.size before seed): jobs 0, 1 have data.size=16, jobs 2, 3 data.size=24
    for name in ("0", "2", "3"):  # the others ran to the end and kept their results
        metrics = json.loads((jobs[name] / "metrics.json").read_text())
        assert 0 <= metrics["test/acc"] <= 1
        assert (jobs[name] / "checkpoints" / "best.pt").exists()
        assert not (jobs[name] / "failure.json").exists()
    failure = json.loads((jobs["1"] / "failure.json").read_text())
    assert "seq_len" in failure["error"] and "\n" not in failure["error"]
    assert not (jobs["1"] / "metrics.json").exists()

    assert summarize_main([str(out)]) == 0
    md = (out / "summary.md").read_text()
    assert "4 jobs: 3 ok, 1 failed" in md and "Grouped by `data.size`" in md
    row24 = next(line for line in md.splitlines() if line.startswith("| 24 |"))
    assert " ± " in row24 and row24.rstrip(" |").endswith("2 | 0")  # mean ± std over the two seeds
    row16 = next(line for line in md.splitlines() if line.startswith("| 16 |"))
    assert " ± " not in row16.split("|")[2] and row16.rstrip(" |").endswith("1 | 1")
    failed = md[md.index("## Failed or incomplete jobs"):]
    assert "| 1 | 16 | 20 | failed | error: data.seq_len must be <= size" in failed
    table = pd.read_csv(out / "summary.csv")
    assert list(table.status) == ["ok", "failed", "ok", "ok"]
    assert (out / "summary.png").stat().st_size > 1000


def test_a_failure_left_in_a_reused_sweep_directory_does_not_count(tmp_path):
    import os

    out = tmp_path / "sweep"
    (out / "5").mkdir(parents=True)
    (out / "5" / "failure.json").write_text('{"error": "from an earlier sweep"}')
    os.utime(out / "5" / "failure.json", (1e9, 1e9))
    proc = run_script("train.py", "-m", *TINY_SQUARES, *QUIET, "trainer.max_steps=1", "seed=0",
                      f"hydra.sweep.dir={out}", env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_joblib_launcher_records_a_diverged_job_and_keeps_the_other(tmp_path):
    out = tmp_path / "sweep"
    proc = run_script("train.py", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY_SQUARES, *QUIET,
                      "trainer.grad_clip=null", "optimizer.lr=0.01,inf", f"hydra.sweep.dir={out}", env=ENV)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert json.loads((out / "0" / "metrics.json").read_text())["test/acc"] > 0.5
    error = json.loads((out / "1" / "failure.json").read_text())["error"]
    assert "NaN or infinite" in error
    assert not (out / "1" / "metrics.json").exists()


def hydra_config(*overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize("launcher,target", [("joblib", "JoblibLauncher"), ("slurm", "SlurmLauncher")])
def test_launcher_choices_compose(launcher, target):
    cfg = hydra_config(f"hydra/launcher={launcher}")
    assert cfg.hydra.launcher._target_.endswith(target)
    if launcher == "slurm":
        assert cfg.hydra.launcher.submitit_folder.endswith(".submitit/%j")
        assert cfg.hydra.launcher.timeout_min > 0 and cfg.hydra.launcher.max_num_timeout > 0
        assert "additional_parameters" in cfg.hydra.launcher and cfg.hydra.launcher.setup


def test_optuna_search_objective_follows_the_trainer_monitor():
    cfg = hydra_config("hparams_search=cnn_lstm_optuna", "trainer.monitor=val/acc", "trainer.monitor_mode=max")
    from hydra.utils import get_class

    assert "OptunaSweeper" in [c.__name__ for c in get_class(cfg.hydra.sweeper._target_).__mro__]
    assert cfg.optimized_metric == "best/val/acc" and cfg.hydra.sweeper.direction == "maximize"
    assert cfg.hydra.mode.name == "MULTIRUN" and cfg.hydra.sweeper.max_failure_rate == 1.0
    assert hydra_config("hparams_search=cnn_lstm_optuna").hydra.sweeper.direction == "minimize"


def test_optuna_search_runs_trials_and_survives_a_failed_one(tmp_path):
    out = tmp_path / "search"
    proc = run_script("train.py", "hparams_search=cnn_lstm_optuna", "hydra.sweeper.n_trials=3", "hydra.sweeper.sampler.seed=1",
                      *[o for o in TINY_SQUARES if not o.startswith("data.seq_len")], *QUIET, "data.n_train=64",
                      "data.seq_len=choice(12,20)", f"hydra.sweep.dir={out}", env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    statuses = {("ok" if (out / str(i) / "metrics.json").exists() else "failed") for i in range(3)}
    assert statuses == {"failed", "ok"}  # sampler seed 1 draws seq_len=20 (a bad combination) for some trials
    assert "best_value" in (out / "optimization_results.yaml").read_text()


def test_a_search_whose_every_trial_fails_is_one_error_line(tmp_path):
    out = tmp_path / "search"
    proc = run_script("train.py", "hparams_search=cnn_lstm_optuna", "hydra.sweeper.n_trials=2", *TINY_SQUARES, *QUIET,
                      "data.batch_size=0", f"hydra.sweep.dir={out}", env=ENV)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == f"error: every trial of the search failed (see {out}/<trial>/failure.json)"


def test_a_crashing_job_in_a_multirun_writes_its_error_and_returns(tmp_path):
    """A crash (not a UserError) in a multirun job: failure.json with one line, None to the sweeper."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    from cnnlstm.engine.run import run_job

    cfg = hydra_config("optimized_metric=best/val/loss")
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.runtime.output_dir = str(tmp_path)

    def crash(cfg, run_dir):
        raise RuntimeError("CUDA error: an illegal memory access was encountered\nmore details")

    HydraConfig.instance().set_config(cfg)
    try:
        assert run_job(crash, cfg) is None
        assert json.loads((tmp_path / "failure.json").read_text())["error"] == (
            "RuntimeError: CUDA error: an illegal memory access was encountered")
        assert run_job(lambda cfg, run_dir: {"best/val/loss": 0.75, "test/acc": 0.5}, cfg) == 0.75  # the val metric
        assert not (tmp_path / "failure.json").exists()  # and a rerun that succeeds clears the old failure
        assert run_job(lambda cfg, run_dir: {"test/acc": 0.5}, cfg) is None  # no validation split: no best score
        assert "optimized_metric=best/val/loss is not among the run's metrics" in json.loads(
            (tmp_path / "failure.json").read_text())["error"]
    finally:
        HydraConfig.instance().cfg = None


@pytest.mark.parametrize("study,jobs", [("cnn_lstm_sizes", 27), ("cldnn_ablation", 20), ("denoising", 3), ("tutorial", 5)])
def test_study_sweeps_parse(study, jobs):
    """Each study's sweep (hydra.sweeper.params) is valid override syntax with the expected job count.

    Read from the file, so the studies of models merged later are checked here too.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    params = OmegaConf.load(CONF / "experiment" / f"{study}.yaml").hydra.sweeper.params
    parsed = OverridesParser.create().parse_overrides([f"{key}={value}" for key, value in params.items()])
    count = 1
    for override in parsed:
        count *= len(list(override.sweep_string_iterator())) if override.is_sweep_override() else 1
    assert count == jobs
    assert "seed" in params


@pytest.mark.parametrize("search", sorted(p.stem for p in (CONF / "hparams_search").glob("*.yaml")))
def test_searches_choose_on_validation_only(search, tmp_path):
    """Every Optuna search optimizes a validation metric, and run_job refuses a test metric outright."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from cnnlstm.engine.run import run_job, selection_metric
    from cnnlstm.errors import ConfigError

    cfg = hydra_config(f"hparams_search={search}")
    assert str(cfg.optimized_metric).startswith("best/val/")
    assert str(cfg.trainer.monitor).startswith("val/")  # best.pt and early stopping too
    with open_dict(cfg):
        cfg.optimized_metric = "test/acc"
        cfg.hydra.runtime.output_dir = str(tmp_path)
    HydraConfig.instance().set_config(cfg)
    try:
        assert run_job(lambda cfg, run_dir: pytest.fail("the job ran"), cfg) is None  # a failed trial
    finally:
        HydraConfig.instance().cfg = None
    error = json.loads((tmp_path / "failure.json").read_text())["error"]
    assert "optimized_metric=test/acc: a sweep may only choose by the run's best validation score" in error
    with pytest.raises(ConfigError, match="may only choose by the run's best validation score"):
        selection_metric(cfg)


def test_a_refused_rerun_of_a_finished_sweep_leaves_its_jobs_and_summary_as_they_were(tmp_path):
    import hashlib

    from cnnlstm.experiments.summarize import summarize

    out = tmp_path / "sweep"
    common = ["-m", *TINY_SQUARES, *QUIET, "trainer.max_steps=1", "seed=0,1", f"hydra.sweep.dir={out}"]
    assert run_script("train.py", *common, env=ENV).returncode == 0
    def digest():
        return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(out.rglob("*")) if p.is_file() and p.suffix != ".log" and p.name != ".sweep_id"
                and not p.name.startswith(("summary", "multirun"))}
    before = digest()
    refused = run_script("train.py", *common, "data.n_train=128", env=ENV)  # the checkpoints do not fit
    assert refused.returncode == 1 and "2 job(s) of the sweep failed" in refused.stderr
    assert {k: v for k, v in digest().items() if not k.endswith("refused.json")} == before
    assert "2 jobs: 2 ok, 0 failed" in summarize(out)
