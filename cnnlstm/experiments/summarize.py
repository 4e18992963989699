"""Summarize a multirun directory into ``summary.csv``, ``summary.md`` and ``summary.png``.

    python -m cnnlstm.experiments.summarize multirun/2026-11-25/15-39-44 [--metric test/acc]
    make summarize DIR=multirun/2026-11-25/15-39-44

A job is a directory with ``.hydra/overrides.yaml``, ``metrics.json`` or ``failure.json``; jobs may
sit at any depth (several sweeps under one study directory). A job with ``metrics.json`` is ``ok``,
one with ``failure.json`` is ``failed`` (its one-line error is kept), one with neither is
``incomplete`` (still running, or killed before it could write either). A job whose records
cannot be read (a corrupt or list-shaped ``metrics.json``, a garbled ``overrides.yaml``) is
``unreadable``: it is skipped with a ``warning:`` line on stderr naming the file and listed with
that line among the failed jobs, so one bad job never hides the rest of a sweep, and is never
silently dropped from the counts either.

- ``summary.csv``: a row per job: ``job`` (path), ``status``, ``error``, one column per override,
  then the metrics.
- ``summary.md``: the jobs grouped by the swept keys other than ``seed`` (the override keys whose
  values differ between jobs), ``mean ± std`` over the group's ok jobs (sample std) of the main
  metric, the other ``test/*`` metrics, the scores on held-out corpora (``held_out/NAME/test/*``,
  from ``<job>/held_out/NAME/metrics.json``), the parameter count (from ``model_summary.txt``) and
  ``fit_seconds``, the count of ok jobs and of failed ones; failed and incomplete jobs again in a
  table of their own with their error line. A value the same for every job of a group is shown
  once, without ``± 0``.
  Beside the main metric: its 95 % confidence interval over the group's jobs (Student t:
  ``mean ± t(0.975, n-1) s / sqrt(n)``), and with ``--baseline key=value`` the paired difference
  to the baseline group (the jobs with ``key=value`` and the same other swept values, or its only
  setting of them when it ran at one), over the
  seeds (and cross-validation folds, ``data.fold``) both share, with its own 95 % interval.
  ``--baseline`` may be given more than once: a column of paired differences per baseline (an
  ablation against its full model and against a simpler reference, say).
- ``summary.png``: the main metric per group, mean with 95 % CI error bars and each job as a dot.

The three files are written through the atomic writer: a symlink there is replaced, never written
through, and a folder that refuses the write (read-only, full) is one ``error:`` line naming the
file, with the earlier summary left whole.
"""

import argparse
import io
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from cnnlstm.errors import DataError, UserError
from cnnlstm.experiments.records import read_json_object, read_overrides, read_text, split_override
from cnnlstm.files import write_atomic

SEED = "seed"
REPLICATES = (SEED, "data.fold")  # repetitions of one setting (seeds, cross-validation folds): never group keys
MAIN_METRICS = ("test/acc", "test/psnr_masked", "test/psnr", "test/loss")
STATUS_COLUMNS = ["job", "status", "error"]
MISSING = "-"
UNREADABLE = "unreadable"  # a job whose records could not be read: skipped, named, counted


# ------------------------------------------------------------------------------------ reading
def is_job(path: Path) -> bool:
    return any((path / name).exists() for name in (".hydra/overrides.yaml", "metrics.json", "failure.json"))


def find_jobs(root: Path) -> list[Path]:
    """Job directories under ``root`` in sweep order; a numbered directory with nothing is a job too."""

    def order(p: Path):
        return (0, int(p.name), "") if p.name.isdigit() else (1, 0, p.name)

    def walk(d: Path) -> list[Path]:
        if d != root and is_job(d):
            return [d]
        # a symlinked folder is not walked: it may loop back, or lead out of the sweep
        children = sorted((c for c in d.iterdir() if c.is_dir() and not c.is_symlink()
                           and not c.name.startswith(".")), key=order)
        found = [job for c in children for job in walk(c)]
        return found or ([d] if d != root and d.name.isdigit() else [])

    return walk(root)


def parse_overrides(path: Path) -> dict[str, str]:
    """``["model.hidden_size=10", "+x=1"]`` -> ``{"model.hidden_size": "10", "x": "1"}``;
    DataError naming the file when it is not a YAML list of strings."""
    if not path.exists():
        return {}
    return dict(split_override(line) for line in read_overrides(path))


def parameter_count(path: Path) -> int | None:
    """``Total params: 7,451`` from the torchinfo summary the run wrote (None if absent or garbled:
    the count is a detail of the table, not worth skipping a job for)."""
    try:
        lines = read_text(path).splitlines() if path.exists() else []
        found = [line for line in lines if line.startswith("Total params:")]
        return int(found[0].split(":", 1)[1].replace(",", "").strip()) if found else None
    except (DataError, ValueError):
        return None


def read_job(root: Path, job: Path) -> dict:
    """One row: job path, status, error, overrides (under ``"_overrides"``), metrics; a job whose
    records cannot be read is ``unreadable``, its error the line naming the file."""
    name = job.relative_to(root).as_posix()
    try:
        return read_records(name, job)
    except DataError as e:
        return {"job": name, "status": UNREADABLE, "error": str(e), "_overrides": {}}


def read_records(name: str, job: Path) -> dict:
    """The row of :func:`read_job`; DataError naming the first record that cannot be read."""
    overrides = parse_overrides(job / ".hydra" / "overrides.yaml")
    row: dict = {"job": name, "status": "incomplete", "_overrides": overrides,
                 "error": "no metrics.json or failure.json (still running, or killed)"}
    row |= overrides
    results = [p for p in (job / "metrics.json", job / "failure.json") if p.exists()]
    if results:  # both: a rerun; the newer one counts
        latest = max(results, key=lambda p: p.stat().st_mtime)
        data = read_json_object(latest)
        if latest.name == "metrics.json":
            row |= {"status": "ok", "error": ""} | {k: v for k, v in data.items() if k not in STATUS_COLUMNS}
            row |= {"params": params} if (params := parameter_count(job / "model_summary.txt")) else {}
            row |= held_out_metrics(job)
        else:
            row |= {"status": "failed", "error": str(data.get("error", "")).strip()}
    return row


def held_out_metrics(job: Path) -> dict:
    """The job's scores on held-out corpora (``held_out/NAME/metrics.json``, written by reproduce)
    as ``held_out/NAME/<metric>``."""
    found = {}
    for path in sorted(job.glob("held_out/*/metrics.json")):
        found |= {f"held_out/{path.parent.name}/{k}": v for k, v in read_json_object(path).items()}
    return found


def collect(root: Path) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The per-job table, its override columns and its metric columns; a ``warning:`` line on
    stderr for each unreadable job."""
    jobs = find_jobs(root)
    if not jobs:
        raise FileNotFoundError(f"no jobs under {root} (expected numbered job directories with .hydra/ "
                                "and metrics.json or failure.json)")
    rows = [read_job(root, job) for job in jobs]
    for row in rows:
        if row["status"] == UNREADABLE:
            print(f"warning: skipped job {row['job']}: {row['error']}", file=sys.stderr)
    overrides = list(dict.fromkeys(k for r in rows for k in r.pop("_overrides")))
    metrics = list(dict.fromkeys(k for r in rows for k in r if k not in STATUS_COLUMNS and k not in overrides))
    table = pd.DataFrame(rows, columns=STATUS_COLUMNS + overrides + metrics)
    table[overrides] = table[overrides].fillna(MISSING)
    return table, overrides, metrics


# ----------------------------------------------------------------------------------- summary
def group_keys(table: pd.DataFrame, overrides: list[str], ignore: tuple[str, ...] = ()) -> list[str]:
    """The swept keys other than the seed: overrides whose value differs between jobs.

    When only seeds vary, the constant overrides name the single group (or none: one "all" row).
    ``ignore``: keys that are not factors of the study, e.g. a learning rate chosen per setting on
    validation (so a setting and its baseline pair up although their chosen rates differ).
    """
    keys = [k for k in overrides if k not in REPLICATES and k not in ignore]
    swept = [k for k in keys if table[k].nunique() > 1]
    return swept or keys


def main_metric(table: pd.DataFrame, metrics: list[str]) -> str | None:
    ok = table[table.status == "ok"]
    present = [m for m in metrics if m in ok and pd.to_numeric(ok[m], errors="coerce").notna().any()]
    for name in MAIN_METRICS:
        if name in present:
            return name
    tests = [m for m in present if m.startswith("test/")]
    return (tests or present or [None])[0]


def summary_columns(metric: str, metrics: list[str]) -> list[str]:
    tests = sorted(m for m in metrics if m.startswith(("test/", "held_out/")) and m != metric)
    return [metric] + tests + [m for m in ("params", "fit_seconds") if m in metrics and m != metric]


def confidence_interval(values) -> tuple[float, float] | None:
    """The 95 % Student-t interval of the mean of ``values`` (None for fewer than two)."""
    from scipy import stats

    values = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    if len(values) < 2:
        return None
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return values.mean() - half, values.mean() + half


def interval_text(values) -> str:
    ci = confidence_interval(values)
    return MISSING if ci is None else f"[{number(ci[0])}, {number(ci[1])}]"


def paired_difference(group: pd.DataFrame, baseline: pd.DataFrame, metric: str) -> str:
    """``+0.03 [0.01, 0.05] (n=5)``: mean and 95 % CI of the per-seed differences to the baseline."""
    pair_on = [k for k in REPLICATES if k in group]
    if group is baseline or not pair_on:
        return MISSING
    def per_replicate(jobs: pd.DataFrame) -> pd.Series:  # a seed run twice (two sweeps): its mean
        return pd.to_numeric(jobs[metric], errors="coerce").groupby([jobs[k] for k in pair_on]).mean()

    mine, theirs = per_replicate(group), per_replicate(baseline)
    diffs = (mine - theirs.reindex(mine.index)).dropna()
    if diffs.empty:
        return MISSING
    ci = confidence_interval(diffs)
    shown = f"{diffs.mean():+.4g}" + (f" [{ci[0]:+.3g}, {ci[1]:+.3g}]" if ci else "")
    return f"{shown} (n={len(diffs)})"


def mean_std(values: pd.Series) -> str:
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return MISSING
    if len(values) == 1 or values.nunique() == 1:
        return number(values.iloc[0])
    return f"{number(values.mean())} ± {values.std(ddof=1):.2g}"


def number(value: float) -> str:
    """``7,451`` for counts, four significant digits otherwise."""
    return f"{int(value):,}" if float(value).is_integer() and abs(value) < 1e15 else f"{value:.4g}"


def baseline_jobs(ok_jobs: pd.DataFrame, keys: list[str], values: tuple, baseline: tuple[str, str]) -> pd.DataFrame:
    """The ok jobs of ``baseline`` (key, value) that a group with ``values`` of ``keys`` pairs with:
    those with the group's other swept values, or all of them when the baseline ran at one setting."""
    key, value = baseline
    same = (ok_jobs[key].astype(str) == value) & pd.concat(
        [ok_jobs[k].astype(str) == str(v) for k, v in zip(keys, values) if k != key] or
        [pd.Series(True, index=ok_jobs.index)], axis=1).all(axis=1)
    base = ok_jobs[same]
    everywhere = ok_jobs[ok_jobs[key].astype(str) == value]
    if base.empty and everywhere[[k for k in keys if k != key]].drop_duplicates().shape[0] == 1:
        base = everywhere  # the baseline ran at one setting of the other keys: compare with that
    return base


def grouped(table: pd.DataFrame, keys: list[str], columns: list[str],
            baselines: Sequence[tuple[str, str]] = ()) -> pd.DataFrame:
    """A row per group: the keys, ``mean ± std`` of each column over its ok jobs (the main one
    followed by its 95 % CI and, per baseline, the paired difference to it), ``jobs`` (ok),
    ``failed`` (failed or incomplete), and for the plot ``_mean``, ``_ci``, ``_values``."""
    table = table[table.status != UNREADABLE]  # settings unknown: listed on their own, in no group
    ok_jobs = table[table.status == "ok"]
    deltas = {f"Δ vs {key}={value}": (key, value) for key, value in baselines}
    rows, extra = [], (["95% CI"] if columns else []) + list(deltas)
    for values, group in table.groupby(keys, sort=False) if keys else [((), table)]:
        values = values if isinstance(values, tuple) else (values,)
        ok = group[group.status == "ok"]
        numbers = pd.to_numeric(ok[columns[0]], errors="coerce").dropna() if columns else pd.Series(dtype=float)
        row = dict(zip(keys, values)) | {c: mean_std(ok[c]) for c in columns}
        if columns:
            row["95% CI"] = interval_text(numbers)
        for name, (key, value) in deltas.items():
            row[name] = MISSING if str(dict(zip(keys, values)).get(key)) == value else paired_difference(
                ok, baseline_jobs(ok_jobs, keys, values, (key, value)), columns[0])
        rows.append(row | {"jobs": len(ok), "failed": len(group) - len(ok), "_mean": numbers.mean(),
                           "_ci": confidence_interval(numbers), "_values": list(numbers)})
    ordered = keys + columns[:1] + extra + columns[1:]
    return pd.DataFrame(rows, columns=ordered + ["jobs", "failed", "_mean", "_ci", "_values"])


def markdown_table(frame: pd.DataFrame) -> str:
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |",
             "|" + "|".join(" --- " for _ in frame.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def label(row: pd.Series, keys: list[str]) -> str:
    """``hidden_size=10\nconv_channels=[2]``: the last part of each key when that stays unambiguous."""
    short = [k.rsplit(".", 1)[-1] for k in keys]
    names = short if len(set(short)) == len(short) else keys
    return "\n".join(f"{n}={row[k]}" for n, k in zip(names, keys)) or "all jobs"


def markdown(root: Path, table: pd.DataFrame, groups: pd.DataFrame, keys: list[str],
             columns: list[str]) -> str:
    """The text of ``summary.md``."""
    columns = [c for c in groups.columns if c not in keys and c not in ("jobs", "failed", "_mean", "_ci", "_values")]
    n_seeds = table.loc[table.status == "ok", SEED].nunique() if SEED in table else 0
    ok, bad = table[table.status == "ok"], table[table.status != "ok"]
    unreadable = (table.status == UNREADABLE).sum()
    text = [f"# Summary of `{root.as_posix()}`", "",
            f"{len(table)} jobs: {len(ok)} ok, {(table.status == 'failed').sum()} failed, "
            f"{(table.status == 'incomplete').sum()} incomplete"
            + (f", {unreadable} unreadable (skipped)" if unreadable else "")
            + f". {grouping(table, keys)}; "
            f"mean ± std (sample std) over the jobs of a group, 95 % CI of the mean (Student t)"
            + (f"; seeds: {n_seeds}." if n_seeds else "."), ""]
    shown = keys + columns + ["jobs"] + (["failed"] if len(bad) else [])
    text += [markdown_table(groups[shown]) if len(ok) else "No job finished.", ""]
    if len(bad):
        shown = [k for k in table.columns[3:] if k in keys or k in REPLICATES]
        failed = bad[["job"] + shown + ["status", "error"]]
        text += ["## Failed or incomplete jobs", "", markdown_table(failed), ""]
    return "\n".join(text)


def grouping(table: pd.DataFrame, keys: list[str]) -> str:
    if not keys:
        return "One group"
    if all(table[k].nunique() == 1 for k in keys):
        return f"Only `{SEED}` is swept: one group, named by the overrides every job shares"
    return "Grouped by " + ", ".join(f"`{k}`" for k in keys)


def plot(groups: pd.DataFrame, keys: list[str], metric: str, title: str) -> bytes:
    """``summary.png``: the main metric per group, mean with 95 % CI and each job as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [label(row, keys) for _, row in groups.iterrows()]
    width = max(4.0, 1.1 * len(labels) + 1.5)
    fig, ax = plt.subplots(figsize=(width, 4.5), constrained_layout=True)
    x = range(len(labels))
    half = [0.0 if ci is None else (ci[1] - ci[0]) / 2 for ci in groups["_ci"]]
    ax.errorbar(x, groups["_mean"], yerr=half, fmt="o", capsize=5, color="C0", label="mean, 95 % CI")
    for i, values in zip(x, groups["_values"]):
        ax.plot([i] * len(values), values, ".", color="C1", alpha=0.6)
    ax.plot([], [], ".", color="C1", label="jobs")
    crowded = len(labels) > 8
    ax.set_xticks(list(x), labels, rotation=45 if crowded else 0, ha="right" if crowded else "center", fontsize=8)
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=120, format="png")
    plt.close(fig)
    return buffer.getvalue()


def summarize(root: str | Path, metric: str | None = None, baseline: str | Sequence[str] | None = None,
              ignore: tuple[str, ...] = ()) -> str:
    """Write summary.csv, summary.md and summary.png into ``root``; returns the Markdown.
    ``baseline``: one ``key=value`` or several, each giving a column of paired differences."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    table, overrides, metrics = collect(root)
    metric = metric or main_metric(table, metrics)
    if metric is not None and metric not in metrics:
        raise KeyError(f"metric {metric!r} is in no metrics.json; there are: {', '.join(metrics) or 'none'}")
    keys = group_keys(table[table.status != UNREADABLE], overrides, tuple(ignore))
    columns = summary_columns(metric, metrics) if metric else []
    bases = []
    for each in [baseline] if isinstance(baseline, str) else baseline or []:
        key, eq, value = each.partition("=")
        if not eq or key not in keys:
            raise KeyError(f"--baseline {each}: expected key=value with a swept key ({', '.join(keys) or 'none'})")
        bases.append((key, value))
    groups = grouped(table, keys, columns, bases)
    text = markdown(root, table, groups, keys, columns)
    files = {"summary.csv": table.to_csv(index=False).encode(), "summary.md": text.encode()}
    if columns and groups["_values"].map(len).any():
        title = f"{root.as_posix()}: {metric}"
        files["summary.png"] = plot(groups[groups.jobs > 0], keys, metric, title)
    for name, data in files.items():  # all made before any is written; a refused one stays
        write_atomic(root / name, data)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnlstm.experiments.summarize", description=__doc__.split("\n")[0])
    parser.add_argument("dir", help="a multirun directory (or a study directory holding several sweeps)")
    parser.add_argument("--metric", help=f"main metric for the plot (default: the first of {', '.join(MAIN_METRICS)})")
    parser.add_argument("--baseline", action="append", default=[],
                        help="key=value of a group the others are compared with, seed by seed; repeatable")
    parser.add_argument("--ignore", action="append", default=[], metavar="KEY",
                        help="an override that is not a factor (e.g. a learning rate chosen per setting); repeatable")
    args = parser.parse_args(argv)
    try:
        text = summarize(args.dir, args.metric, args.baseline, tuple(args.ignore))
    except (FileNotFoundError, KeyError, UserError) as e:
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    print(text)
    written = [name for name in ("summary.csv", "summary.md", "summary.png") if (Path(args.dir) / name).exists()]
    print(f"wrote {', '.join(written)} into {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
