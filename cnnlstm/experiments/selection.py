"""Choose a study part's settings on validation data: one grid, the same for every part.

A study may say ``select: {grid: {optimizer.lr: [1e-3, 3e-3]}, overrides: [seed=0]}``. Before its
final sweeps, :mod:`cnnlstm.experiments.reproduce` runs each part once per grid point (with the
selection ``overrides``: one seed, or ``data.folds=3 "data.fold=0,1,2"`` for cross-validation),
and this module picks, per part, the grid point whose jobs have the best mean
``best/<trainer.monitor>``: the validation score that also chose each job's ``best.pt``, in the
direction of ``trainer.monitor_mode``. The score is read from the job's own config, never given
by the study, so no selection can read a ``test/*`` metric. Every part gets the same grid, i.e.
the same tuning budget, because the grid belongs to the study, not to a part.
"""

import json
import math
from collections import defaultdict
from pathlib import Path

import yaml


def selection_arguments(grid: dict[str, list], overrides: list[str]) -> list[str]:
    """The ``train.py -m`` arguments that run every grid point with the selection's own overrides."""
    return [f"{key}={','.join(map(str, values))}" for key, values in grid.items()] + [str(o) for o in overrides]


def _job_record(job: Path, keys: list[str]) -> tuple[tuple, float, str] | None:
    """(grid point, validation score, "best/<monitor> (<mode>)") of one finished selection job;
    None if it failed."""
    metrics_file = job / "metrics.json"
    if not metrics_file.is_file():
        return None
    config = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
    given = dict(o.split("=", 1) for o in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()))
    trainer = config["trainer"]
    score = json.loads(metrics_file.read_text()).get(f"best/{trainer['monitor']}")
    if score is None or not math.isfinite(score):
        return None
    return tuple(given[k] for k in keys), float(score), f"best/{trainer['monitor']} ({trainer['monitor_mode']})"


def grid_scores(sweep_dir: Path, keys: list[str]) -> tuple[dict[tuple, list[float]], str]:
    """Validation scores of each grid point (one per seed or fold) and the objective, e.g.
    ``best/val/acc (max)``: the jobs must agree on it."""
    scores: dict[tuple, list[float]] = defaultdict(list)
    modes = set()
    for job in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra").is_dir()):
        record = _job_record(job, keys)
        if record is not None:
            scores[record[0]].append(record[1])
            modes.add(record[2])
    if not scores:
        raise RuntimeError(f"no selection job under {sweep_dir} finished with a validation score")
    if len(modes) != 1:
        raise RuntimeError(f"the selection jobs under {sweep_dir} disagree on the objective: {sorted(modes)}")
    return dict(scores), modes.pop()


def choose(sweep_dir: Path, grid: dict[str, list]) -> tuple[dict[str, str], dict[tuple, list[float]], str]:
    """The grid point with the best mean validation score (ties: the first in grid order), all
    scores, and the objective.

    A grid point with a failed job is scored by its finished ones; one with none is not chosen.
    """
    keys = list(grid)
    scores, objective = grid_scores(sweep_dir, keys)
    sign = 1 if objective.endswith("(max)") else -1
    best = max(scores, key=lambda point: (sign * sum(scores[point]) / len(scores[point]), -_order(point, grid)))
    return dict(zip(keys, best)), scores, objective


def _order(point: tuple, grid: dict[str, list]) -> int:
    """Position of ``point`` in the grid's own order (its cartesian product)."""
    index = 0
    for value, values in zip(point, grid.values()):
        index = index * len(values) + [str(v) for v in values].index(value)
    return index


def selection_table(results: dict[str, tuple], grid: dict[str, list]) -> str:
    """Markdown: every part's grid points with their mean validation score, the chosen one marked."""
    keys = list(grid)
    lines = [f"| part | {' | '.join(keys)} | objective | mean | per seed/fold | chosen |",
             "| --- |" + " --- |" * (len(keys) + 4)]
    for part, (chosen, scores, objective) in results.items():
        for point in sorted(scores, key=lambda p: _order(p, grid)):
            values = scores[point]
            mark = "**yes**" if dict(zip(keys, point)) == chosen else ""
            each = ", ".join(f"{v:.4f}" for v in values)
            lines.append(f"| {part} | {' | '.join(point)} | {objective} | {sum(values) / len(values):.4f} | {each} "
                         f"| {mark} |")
    return "\n".join(lines) + "\n"
