"""What makes a resume safe: the checkpoint was trained on the same model, data and task.

A resumed run continues the saved loop position (epoch, batch in epoch) and weights; with other
data or batch sizes that position means something else, so differences are refused up front with
the keys named, before anything in the run directory is rewritten.
"""

import re
import shlex
from pathlib import Path

import yaml

from cnnlstm.engine.state import FitState
from cnnlstm.engine.trusted import UntrustedTarget, check_trusted
from cnnlstm.errors import CheckpointError

# Config sections the weights and the loop position depend on.
RESUME_SECTIONS = ("model", "data", "task")
# Keys that may change on resume without changing what is trained: where data lives, eval batching.
MAY_CHANGE = ("data.root", "data.eval_batch_size", "data.download", "data.extract_path", "model.eval_chunk_frames")


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """``{"data": {"n_train": 5}} -> {"data.n_train": 5}`` (an empty dict stays a value)."""
    flat: dict[str, object] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def config_differences(saved: dict, current: dict) -> list[str]:
    """``key=current (checkpoint: saved)`` for each key of :data:`RESUME_SECTIONS` that differs.

    Keys the checkpoint lacks are options added to cnnlstm since it was written (at their
    defaults, they change nothing), so they do not count."""
    old = flatten({k: saved[k] for k in RESUME_SECTIONS if k in saved})
    new = flatten({k: current[k] for k in RESUME_SECTIONS if k in current})
    keys = sorted(k for k in old if old[k] != new.get(k, "<unset>") and k not in MAY_CHANGE)
    return [f"{k}={new.get(k, '<unset>')} (checkpoint: {old.get(k, '<unset>')})" for k in keys]


def check_same_config(ckpt: dict, path: Path, current: dict | None) -> None:
    """Raise CheckpointError naming the differing keys when ``ckpt`` was trained otherwise; the
    message ends with the command that does resume it (from the overrides the checkpoint keeps)."""
    saved = ckpt.get("config") or {}
    if not saved or not current:
        return
    diffs = config_differences(saved, current)
    if diffs:
        shown = ", ".join(diffs[:4]) + (f" and {len(diffs) - 4} more" if len(diffs) > 4 else "")
        overrides = ckpt.get("overrides")
        how = (f"resume it with: {resume_command(path.parent.parent, overrides)}" if overrides is not None
               else "rerun with the run's own overrides")
        raise CheckpointError(f"cannot resume from {path}: this run differs in {shown}; {how}, "
                              "or train afresh in another hydra.run.dir")


def resume_path(resume: str | bool | None, run_dir: str | Path) -> Path | None:
    """The checkpoint a run continues from (``trainer.resume``: a path, None for the run's own
    ``last.pt`` when it exists, False for a fresh start), or None for a fresh start."""
    if resume is False or str(resume).lower() in ("false", "no"):
        return None
    path = Path(resume) if resume else Path(run_dir) / "checkpoints" / "last.pt"
    return path if resume or path.exists() else None


def loop_state(ckpt: dict, path: Path, n_batches: int) -> FitState:
    """The saved loop position, checked against this run's batches per epoch."""
    try:
        state, _ = FitState(**ckpt["state"]), ckpt["rng"]
    except (KeyError, TypeError):
        raise CheckpointError(f"checkpoint {path} holds weights but no training state; "
                              "it cannot be resumed (use it with eval.py)") from None
    check_position(state.batch_in_epoch, n_batches, path)
    return state


def check_position(state_batch: int, n_batches: int, path: Path) -> None:
    """The saved position must lie inside an epoch of this data (else the loop would find no batch)."""
    if state_batch >= n_batches:
        raise CheckpointError(
            f"cannot resume from {path}: it stopped at batch {state_batch} of an epoch, but this run has "
            f"{n_batches} batches per epoch (data or data.batch_size changed)"
        )


def command_overrides() -> list[str] | None:
    """The command-line overrides of the running Hydra job (None outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return [str(o) for o in HydraConfig.get().overrides.task]


def resume_command(run_dir: Path, overrides: list[str] | None = None) -> str:
    """The command that continues ``run_dir``: its own overrides (given, else Hydra's record in
    the directory) and the directory."""
    record = None
    if overrides is None:  # read back from a file: printed only when it names nothing but our classes
        record = run_dir / ".hydra" / "overrides.yaml"
        try:
            overrides = [str(o) for o in yaml.safe_load(record.read_text()) or []]
        except (OSError, yaml.YAMLError, TypeError):
            overrides = []
    keep = [o for o in overrides if not o.lstrip("+~").startswith(("hydra.run.dir=", "trainer.resume="))]
    try:
        check_trusted({}, record or "the checkpoint's overrides", keep)
    except UntrustedTarget:
        keep = []
    run_dir_override = f"hydra.run.dir={hydra_quoted(str(run_dir))}"
    return " ".join(["python train.py", *map(shlex.quote, [*keep, run_dir_override])])


def hydra_quoted(value: str) -> str:
    """``value`` as Hydra's override grammar reads it back unchanged: plain when it is only
    path-like characters, else single-quoted with quotes, the backslashes before them and ``${``
    escaped (a comma would otherwise make a sweep, a space or bracket a parse error)."""
    if re.fullmatch(r"[\w./+@%~:-]+", value):
        return value
    escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    escaped = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped).replace("${", "\\${")
    return f"'{escaped}'"
