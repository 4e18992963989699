"""Hydra callbacks (registered in ``conf/hydra/default.yaml``)."""

import sys
import uuid
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from cnnlstm.engine.atomic import write_atomic


class FailedJobsExit(Callback):
    """After a sweep, exit non-zero when any of its jobs failed, so scripts and CI notice; the jobs
    that succeeded keep their results. A hyper-parameter search expects some trials to fail: it is
    an error only when all did. The sweep writes an id into ``<sweep dir>/.sweep_id`` that each
    failing job copies into its ``failure.json`` (``refused.json`` when the job's directory holds
    results it must not shadow), so failures left by an earlier sweep in a reused directory do not count."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self.token = uuid.uuid4().hex
        write_atomic(Path(str(config.hydra.sweep.dir)) / ".sweep_id", self.token.encode())

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        import json

        sweep_dir = Path(str(config.hydra.sweep.dir))
        def ours(path: Path) -> bool:
            try:
                return json.loads(path.read_text()).get("sweep") == getattr(self, "token", None)
            except (OSError, ValueError, AttributeError):
                return False  # unreadable: not written by this sweep

        failed = sorted({p.parent.name for name in ("failure.json", "refused.json")
                         for p in sweep_dir.glob(f"*/{name}") if ours(p)})
        search = "optuna" in str(config.hydra.sweeper.get("_target_", "")).lower()
        if failed and (not search or not any(sweep_dir.glob("*/metrics.json"))):
            print(f"error: {len(failed)} job(s) of the sweep failed: {', '.join(failed)} "
                  f"(see {sweep_dir}/<job>/failure.json)", file=sys.stderr)
            sys.exit(1)
