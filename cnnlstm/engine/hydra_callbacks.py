"""Hydra callbacks (registered in ``conf/hydra/default.yaml``): output directories checked before
Hydra creates them, and a sweep whose jobs failed exits non-zero.

A callback that refuses prints one ``error:`` line and exits 2: Hydra would otherwise print the
traceback of its own ``mkdir`` or ``multirun.yaml`` write.
"""

import json
import os
import sys
import uuid
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from cnnlstm.engine.trusted import check_trusted, override_targets
from cnnlstm.errors import ConfigError, DataError, UserError, first_line
from cnnlstm.files import write_atomic

SWEEP_ID = "CNNLSTM_SWEEP_ID"  # the environment variable that tells a job which sweep runs it
_created: dict[Path, list[Path]] = {}  # run directory this process is about to create -> the folders it makes


def sweep_id() -> str | None:
    """The id of the sweep running this job (each sweep has its own, even in a shared folder)."""
    return os.environ.get(SWEEP_ID)


def created_here(run_dir: str | Path) -> list[Path]:
    """The folders this process's run creates for ``run_dir`` (itself, missing parents, and those
    a ``..`` in the path passes through), deepest first; empty when ``run_dir`` existed before:
    a refused run may remove what it made."""
    return _created.get(Path(os.path.abspath(run_dir)), [])


def _missing_folders(given: str) -> list[Path]:
    """The folders ``mkdir -p given`` would create, deepest first (``a/../b`` creates ``a`` too)."""
    raw = Path(os.getcwd(), given)
    prefixes = [Path(*raw.parts[:i]) for i in range(2, len(raw.parts) + 1) if raw.parts[i - 1] != ".."]
    missing = {Path(os.path.abspath(p)) for p in prefixes if not os.path.lexists(os.path.abspath(p))}
    return sorted(missing, key=lambda p: len(p.parts), reverse=True)


def check_output_dir(path: Path, key: str) -> bool:
    """Refuse a run or sweep folder that cannot be one: it or a parent is a file or a dangling
    link, or the first existing folder on its way cannot be written. Returns whether it exists."""
    for folder in [path, *path.parents]:
        if folder.is_symlink() and not folder.exists():
            raise ConfigError(f"{key}={path}: {folder} is a symbolic link to nothing: remove it or choose "
                              "another folder")
        if folder.exists():
            if not folder.is_dir():
                raise ConfigError(f"{key}={path}: {folder} is a file, not a directory: choose a folder for "
                                  "the run")
            if not os.access(folder, os.W_OK | os.X_OK):
                reason = "Read-only file system" if _read_only(folder) else "Permission denied"
                raise ConfigError(f"{key}={path}: cannot write {folder}: {reason}")
            return folder == path
    return False


def _read_only(folder: Path) -> bool:
    return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)


def _refuse(action) -> None:
    """Run ``action``; a problem is one ``error:`` line and exit 2 (the callback runs before the job)."""
    try:
        action()
    except (UserError, OSError) as e:
        print(f"error: {e if isinstance(e, UserError) else first_line(e)}", file=sys.stderr)
        sys.exit(2)
    except Exception as e:  # e.g. an interpolation in hydra.run.dir that cannot be resolved
        print(f"error: {type(e).__name__}: {first_line(e)}", file=sys.stderr)
        sys.exit(2)


class OutputDirectoryGuard(Callback):
    """Check ``hydra.run.dir`` / ``hydra.sweep.dir`` (interpolations resolved) before Hydra makes
    them; replace a link at ``multirun.yaml`` rather than let Hydra write through it."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        def check() -> None:
            given = str(config.hydra.run.dir)
            run_dir = Path(os.path.abspath(given))  # as Hydra will name it
            if not check_output_dir(run_dir, "hydra.run.dir"):
                _created[run_dir] = _missing_folders(given)
        _refuse(check)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        def check() -> None:
            sweep_dir = Path(str(config.hydra.sweep.dir))
            check_output_dir(sweep_dir.absolute(), "hydra.sweep.dir")
            # what Hydra's sweeper writes next, written first atomically: a full disk or a link is
            # met here, in one line (Hydra then rewrites the same regular file)
            write_atomic(sweep_dir / "multirun.yaml", OmegaConf.to_yaml(config).encode())
        _refuse(check)


class TrustedLocalConfig(Callback):
    """``conf/local/`` (kept out of git, composed into every run) may name only our classes, as
    any config the program reads from a file rather than from the command line: a ``_target_``
    given on the command line for the same key is the user's own choice and stays allowed."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        _refuse(lambda: check_local_config(config))

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        _refuse(lambda: check_local_config(config))


def check_local_config(config: DictConfig) -> None:
    """Refuse a foreign ``_target_`` in the chosen ``local/`` config of each primary config folder."""
    import yaml

    choice = config.hydra.runtime.choices.get("local")
    folders = [str(s.path) for s in config.hydra.runtime.config_sources if s.schema == "file"]
    if not choice:
        return
    given = {key for key, _ in override_targets(config.hydra.overrides.task)}
    for path in [Path(folder) / "local" / f"{choice}.yaml" for folder in folders]:
        if not path.is_file():
            continue
        try:
            content = yaml.safe_load(path.read_text())
        except (OSError, ValueError, yaml.YAMLError) as e:
            raise DataError(f"{path} is unreadable: {first_line(e)}") from None
        check_trusted(content, path, chosen_by_user=given, interpolations=True)


class FailedJobsExit(Callback):
    """After a sweep, exit non-zero when any of its jobs failed, so scripts and CI notice; the jobs
    that succeeded keep their results. A hyper-parameter search expects some trials to fail: it is
    an error only when all did.

    Each sweep gets an id that its jobs write into their ``failure.json`` (``refused.json`` when
    the job's directory holds results it must not shadow), so failures left by an earlier sweep,
    or by another sweep writing the same folder at the same time, do not count. The id reaches the
    jobs as the environment variable ``CNNLSTM_SWEEP_ID``, through ``hydra.job.env_set``: every
    launcher (in-process, joblib, SLURM) composes each job's config from the sweep's overrides.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self.token = uuid.uuid4().hex
        os.environ[SWEEP_ID] = self.token
        with read_write(config), open_dict(config):
            config.hydra.overrides.hydra.append(f"++hydra.job.env_set.{SWEEP_ID}={self.token}")

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))

        def ours(path: Path) -> bool:
            try:
                return json.loads(path.read_text()).get("sweep") == getattr(self, "token", None)
            except (OSError, ValueError, AttributeError):
                return False  # unreadable: not written by this sweep

        records = [p for name in ("failure.json", "refused.json")  # beside a linked job folder: <job>.<name>
                   for p in (*sweep_dir.glob(f"*/{name}"), *sweep_dir.glob(f"*.{name}"))]
        failed = sorted({p.parent.name if p.name in ("failure.json", "refused.json") else p.name.split(".")[0]
                         for p in records if ours(p)})
        search = "optuna" in str(config.hydra.sweeper.get("_target_", "")).lower()
        if failed and (not search or not any(sweep_dir.glob("*/metrics.json"))):
            print(f"error: {len(failed)} job(s) of the sweep failed: {', '.join(failed)} "
                  f"(see {sweep_dir}/<job>/failure.json)", file=sys.stderr)
            sys.exit(1)
