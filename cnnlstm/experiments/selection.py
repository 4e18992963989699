"""Choose a study part's settings on validation data: grids of the same size for every part.

A study may say ``select: {grid: {optimizer.lr: [1e-3, 3e-3]}, overrides: [seed=0]}``. Before its
final sweeps, :mod:`cnnlstm.experiments.reproduce` runs each part once per grid point (with the
selection ``overrides``: one seed, or ``data.folds=3 "data.fold=0,1,2"`` for cross-validation),
and this module picks, per part, the grid point whose jobs have the best mean
``best/<trainer.monitor>``: the validation score that also chose each job's ``best.pt``, in the
direction of ``trainer.monitor_mode``. The score is read from the job's own config, never given
by the study, so no selection can read a ``test/*`` metric. Every part gets the same grid, i.e.
the same tuning budget, because the grid belongs to the study, not to a part.

A knob that only some parts have (an LSTM's init, which a frame DNN lacks) goes into
``select.part_grids: {<part>: {key: values}}``, added to that part's share of ``grid``. The budget
stays equal because :func:`check_equal_budget` requires every selected part's grid to hold the same number
of points: a baseline without the knob is given one of its own of the same size (e.g. its dropout).

The selection jobs' records are read back from disk and decide what the final jobs are launched
with, so they are untrusted: a record that cannot be read, whose overrides name a ``_target_``
outside this package, or whose grid point is not one of the study's grid values is refused in one
line naming the file; a chosen value is therefore always one the (checked) study itself lists.
"""

import math
from collections import defaultdict
from pathlib import Path

from cnnlstm.errors import DataError
from cnnlstm.experiments.records import (
    read_json_object,
    read_mapping,
    read_trusted_overrides,
    split_override,
)


def selection_arguments(grid: dict[str, list], overrides: list[str]) -> list[str]:
    """The ``train.py -m`` arguments that run every grid point with the selection's own overrides."""
    return [f"{key}={','.join(map(str, values))}" for key, values in grid.items()] + [str(o) for o in overrides]


def grid_points(grid: dict[str, list]) -> int:
    """How many jobs per seed or fold a grid runs (the product of its value counts)."""
    return math.prod(len(values) for values in grid.values())


def part_grid(select: dict, part: str) -> dict[str, list]:
    """The grid ``part`` is tuned on: the study's ``grid`` plus the part's own ``part_grids`` entry."""
    own = (select.get("part_grids") or {}).get(part) or {}
    both = sorted(set(own) & set(select.get("grid") or {}))
    if both:
        raise KeyError(f"select.part_grids.{part} repeats {', '.join(both)} of select.grid")
    return dict(select.get("grid") or {}) | dict(own)


def check_equal_budget(select: dict, parts: list[str]) -> None:
    """Every part is tuned on as many grid points (the same budget); ``part_grids`` names only ``parts``."""
    unknown = sorted(set(select.get("part_grids") or {}) - set(parts))
    if unknown:
        raise KeyError(f"select.part_grids names {', '.join(map(repr, unknown))}, not a selected part of the study")
    sizes = {part: grid_points(part_grid(select, part)) for part in parts}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{part} {n}" for part, n in sizes.items())
        raise KeyError(f"select gives the parts grids of different sizes ({listed}): every part gets the same "
                       "tuning budget, so give each part's part_grids entry as many points")


def _job_record(job: Path, grid: dict[str, list]) -> tuple[tuple, float, str] | None:
    """(grid point, validation score, "best/<monitor> (<mode>)") of one finished selection job;
    None if it failed."""
    metrics_file = job / "metrics.json"
    if not metrics_file.is_file():
        return None
    point = grid_point(job / ".hydra" / "overrides.yaml", grid)
    monitor, mode = _objective(job / ".hydra" / "config.yaml")
    score = read_json_object(metrics_file).get(f"best/{monitor}")
    if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
        return None
    return point, float(score), f"best/{monitor} ({mode})"


def grid_point(path: Path, grid: dict[str, list]) -> tuple:
    """The job's value of each grid key, read from its ``overrides.yaml``; DataError naming the
    file when a key is missing or its value is not one of the grid's (it would be launched)."""
    given = dict(split_override(o) for o in read_trusted_overrides(path))
    for key, values in grid.items():
        if given.get(key) not in [str(v) for v in values]:
            raise DataError(f"{path}: {key}={given.get(key)} is not a value of the study's grid "
                            f"{key}: {list(values)} (a job of another sweep?)")
    return tuple(given[key] for key in grid)


def _objective(path: Path) -> tuple[str, str]:
    """``(trainer.monitor, trainer.monitor_mode)`` of a job's ``config.yaml`` (DataError: none)."""
    trainer = read_mapping(path).get("trainer")
    if not isinstance(trainer, dict) or not all(isinstance(trainer.get(k), str)
                                                for k in ("monitor", "monitor_mode")):
        raise DataError(f"{path}: expected trainer.monitor and trainer.monitor_mode")
    return trainer["monitor"], trainer["monitor_mode"]


def grid_scores(sweep_dir: Path, grid: dict[str, list]) -> tuple[dict[tuple, list[float]], str]:
    """Validation scores of each grid point (one per seed or fold) and the objective, e.g.
    ``best/val/acc (max)``: the jobs must agree on it."""
    scores: dict[tuple, list[float]] = defaultdict(list)
    modes = set()
    for job in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra").is_dir()):
        record = _job_record(job, grid)
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
    scores, objective = grid_scores(sweep_dir, grid)
    sign = 1 if objective.endswith("(max)") else -1
    best = max(scores, key=lambda point: (sign * sum(scores[point]) / len(scores[point]), -_order(point, grid)))
    return dict(zip(keys, best)), scores, objective


def _order(point: tuple, grid: dict[str, list]) -> int:
    """Position of ``point`` in the grid's own order (its cartesian product)."""
    index = 0
    for value, values in zip(point, grid.values()):
        index = index * len(values) + [str(v) for v in values].index(value)
    return index


def selection_table(results: dict[str, tuple]) -> str:
    """Markdown: every part's grid points with their mean validation score, the chosen one marked.

    ``results``: part -> (chosen, scores, objective, the part's grid). A column per key of any
    part's grid; ``-`` where a part has no such key (its ``part_grids`` differ)."""
    keys = list(dict.fromkeys(k for *_, grid in results.values() for k in grid))
    lines = [f"| part | {' | '.join(keys)} | objective | mean | per seed/fold | chosen |",
             "| --- |" + " --- |" * (len(keys) + 4)]
    for part, (chosen, scores, objective, grid) in results.items():
        for point in sorted(scores, key=lambda p: _order(p, grid)):
            values, setting = scores[point], dict(zip(grid, point))
            mark = "**yes**" if setting == chosen else ""
            each = ", ".join(f"{v:.4f}" for v in values)
            cells = " | ".join(setting.get(k, "-") for k in keys)
            lines.append(f"| {part} | {cells} | {objective} | {sum(values) / len(values):.4f} | {each} | {mark} |")
    return "\n".join(lines) + "\n"
