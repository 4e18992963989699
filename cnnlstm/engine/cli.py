"""Running a job under Hydra: one clear line and a non-zero exit for bad input.

In a multirun, a failing job writes ``failure.json`` into its directory and returns None, so the
other jobs of the sweep still run and keep their results. None rather than NaN: the Optuna sweeper
(hydra-optuna-sweeper 1.2 with optuna 2.10) marks a trial that returns None as failed and goes on,
but stops the whole search with a ValueError on NaN.
"""

import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from cnnlstm.engine.signals import hand_over
from cnnlstm.engine.trainer import TrainingInterrupted
from cnnlstm.errors import UserError

log = logging.getLogger("cnnlstm")

class _RunRecord:
    """An existing run directory's config.yaml and Hydra record (``.hydra/*``) as they were before
    this command: :class:`KeepRunRecord` fills it, a refused run puts it back."""

    record_dir: Path | None = None
    files: dict[Path, bytes] = {}


_before_run = _RunRecord()


def hydra_run_dir() -> Path:
    """The job's output directory (Hydra does not chdir into it since 1.2)."""
    return Path(HydraConfig.get().runtime.output_dir)


def run_job(job: Callable[[DictConfig, Path], dict], cfg: DictConfig) -> float | None:
    """Call ``job(cfg, run_dir)``; return the metric named by ``optimized_metric`` for sweepers."""
    run_dir = hydra_run_dir()
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        metrics = job(cfg, run_dir)
    except TrainingInterrupted as e:
        log.warning("%s", e)
        hand_over(e.signum)  # e.g. submitit's requeue on SLURM preemption
        sys.exit(128 + e.signum)
    except UserError as e:
        return _fail(run_dir, f"error: {e}", multirun, code=2)
    except Exception as e:  # a crash: keep the traceback for the log, one line for the table
        if not multirun:
            raise
        log.error("job crashed:\n%s", traceback.format_exc())
        return _fail(run_dir, f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}",
                     multirun, code=1)
    if multirun:
        (run_dir / "failure.json").unlink(missing_ok=True)  # a rerun that succeeds clears an old failure
    name = cfg.get("optimized_metric")
    return float(metrics[name]) if name and name in metrics else None


def _fail(run_dir: Path, line: str, multirun: bool, code: int) -> float | None:
    from cnnlstm.engine.run import write_json

    if multirun:
        log.error("%s", line)
        write_json(run_dir / "failure.json", {"error": line})
        return None
    _put_back_hydra_record(run_dir)
    print(line, file=sys.stderr)
    sys.exit(code)


def _put_back_hydra_record(run_dir: Path) -> None:
    """A run refused before it started (its config.yaml untouched) leaves the directory as it was:
    Hydra's record of the refused command is replaced by the one of the run that owns it."""
    config = run_dir.absolute() / "config.yaml"
    files, record = _before_run.files, _before_run.record_dir
    if not files or record is None or files.get(config) != (config.read_bytes() if config.exists() else None):
        return
    for path in list(record.iterdir()) if record.is_dir() else []:
        if path.is_file() and path not in files:
            path.unlink()  # written for the refused command only
    for path, content in files.items():
        path.write_bytes(content)
    if record.is_dir() and not any(record.iterdir()):
        record.rmdir()


class KeepRunRecord(Callback):
    """Snapshot a single run's ``.hydra`` record before Hydra rewrites it for this command, so a
    refused run (a resume with other settings, bad input) can put it back."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        run_dir = Path(str(config.hydra.run.dir)).absolute()  # as run_job sees it (Hydra's output_dir)
        record = run_dir / str(config.hydra.output_subdir or ".hydra")
        _before_run.record_dir, _before_run.files = record, {}
        if (run_dir / "config.yaml").is_file():
            hydra_files = [p for p in record.iterdir() if p.is_file()] if record.is_dir() else []
            _before_run.files = {p: p.read_bytes() for p in [run_dir / "config.yaml", *hydra_files]}


class FailedJobsExit(Callback):
    """After a sweep, exit non-zero when any of its jobs failed, so scripts and CI notice; the
    jobs that succeeded have kept their results (``conf/hydra/default.yaml`` registers it).
    A hyper-parameter search expects some trials to fail: it is an error only when all did.
    Only this sweep's failures count: a reused sweep directory may hold older ``failure.json``."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self.started = time.time() - 1  # file times may be rounded to the second

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        started = getattr(self, "started", 0)
        failed = sorted(p.parent.name for p in sweep_dir.glob("*/failure.json") if p.stat().st_mtime >= started)
        search = "optuna" in str(config.hydra.sweeper.get("_target_", "")).lower()
        if failed and (not search or not any(sweep_dir.glob("*/metrics.json"))):
            print(f"error: {len(failed)} job(s) of the sweep failed: {', '.join(failed)} "
                  f"(see {sweep_dir}/<job>/failure.json)", file=sys.stderr)
            sys.exit(1)
