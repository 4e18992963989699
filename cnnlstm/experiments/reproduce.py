"""Rerun a committed study from its one config and refresh its results, stamped with provenance.

    python -m cnnlstm.experiments.reproduce cnn_lstm_sizes      # or: make reproduce STUDY=cnn_lstm_sizes
    python -m cnnlstm.experiments.reproduce cnn_lstm_sizes --check   # do the committed results match?

A study is ``experiments/studies/<name>.yaml``: its sweeps (each the ``train.py -m`` arguments of
one part; the experiment config named there carries the rest in ``hydra.sweeper.params``), how
to summarize them (``metric``, ``baseline``: one or a list) and optionally what to choose on validation first
(``select``: one grid for every part, plus ``part_grids`` of equal size for a part's own knobs,
see :mod:`cnnlstm.experiments.selection`; the selection
jobs run into ``multirun/<name>-select/<part>``, their scores go to ``selection.md`` and the
chosen values to ``provenance.json``). Reproducing runs every sweep into
``multirun/<name>/<part>``, summarizes the study directory and copies ``summary.{md,csv,png}`` into
``experiments/results/<name>/`` with ``provenance.json``: the generated corpora it trained on
(``corpora``: written first by ``python -m cnnlstm.data.synthesize`` when absent), the git commit, the date, the machine,
torch's version, the wall time, and a hash of each job's fully composed config. ``--check``
recomposes the jobs from the current code and configs and compares the hashes: committed results
that the command would no longer produce are stale (the test suite requires them marked so).

``held_out: {NAME: DIR}`` scores every final job's ``best.pt``, unchanged, on the test split of
another generated corpus (DIR, one of ``corpora``: e.g. more unseen speakers than the study's own
test split holds) after all training is done; it decides nothing. The scores go to
``<job>/held_out/NAME/`` and into the summary as ``held_out/NAME/test/*`` columns.

A study file, and every record read back from disk (``provenance.json``, the selection jobs'
``.hydra/`` records), is untrusted data: :mod:`cnnlstm.experiments.studies` checks the study's
shape, its folders and every ``_target_`` in it before anything runs; a record whose overrides
name foreign code, or a selection job whose grid point is not one of the study's, is refused in
one line naming the file. Results are written through the atomic writer.
"""

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from cnnlstm.engine.trusted import check_trusted
from cnnlstm.errors import DataError, UserError, first_line
from cnnlstm.experiments.records import (
    read_json_object,
    read_text,
    read_trusted_overrides,
)
from cnnlstm.experiments.selection import (
    check_equal_budget,
    choose,
    part_grid,
    selection_arguments,
    selection_table,
)
from cnnlstm.experiments.studies import Study, StudyError, where
from cnnlstm.experiments.studies import load_study as read_study
from cnnlstm.files import write_atomic

ROOT = Path(__file__).resolve().parents[2]
STUDIES = ROOT / "experiments" / "studies"
RESULTS = ROOT / "experiments" / "results"
STALE_MARK = "**stale**"


def load_study(name: str) -> Study:
    """The checked study ``name`` (:func:`cnnlstm.experiments.studies.load_study`)."""
    return read_study(name, STUDIES)


@contextlib.contextmanager
def composing(study: dict):
    """A study that Hydra cannot compose (an unknown experiment, a key that does not exist) is one
    StudyError line naming the study file and Hydra's reason."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        yield
    except (HydraException, OmegaConfBaseException) as e:
        raise StudyError(f"{where(study)} does not compose: {first_line(e)}") from None


def _compose(overrides: list[str], hydra: bool = False):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=hydra)


def sweep_jobs(arguments: list[str]) -> list[list[str]]:
    """The override list of every job of one ``train.py -m`` sweep, as Hydra's basic sweeper
    expands it: the experiment's ``hydra.sweeper.params`` with the command line's keys replacing
    theirs, the cartesian product of every swept value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    given = {o.key_or_group: o for o in parser.parse_overrides(arguments)}
    fixed = [o.input_line for o in given.values() if not o.is_sweep_override()]
    params = dict(_compose(fixed, hydra=True).hydra.sweeper.params or {})
    swept = [parser.parse_overrides([f"{k}={v}"])[0] for k, v in params.items() if k not in given] + list(given.values())
    axes = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override()
            else [o.input_line] for o in swept]
    return [list(job) for job in itertools.product(*axes)]


def config_hash(overrides: list[str]) -> str:
    """sha256 of the job's composed config (without ``hydra``), interpolations resolved."""
    from omegaconf import OmegaConf

    text = OmegaConf.to_yaml(_compose(overrides), resolve=True)
    return hashlib.sha256(text.encode()).hexdigest()


def selected_parts(study: dict) -> list[str]:
    """The parts whose settings are chosen on validation (``select.parts``, default every part)."""
    select = study.get("select") or {}
    return list(select.get("parts") or study["sweeps"]) if select else []


def part_arguments(study: dict, part: str, selected: dict | None = None) -> list[str]:
    """A part's final ``train.py -m`` arguments: its sweep plus the values chosen for it on validation."""
    chosen = (selected or {}).get(part, {})
    return [str(a) for a in study["sweeps"][part]] + [f"{k}={v}" for k, v in chosen.items()]


def selection_part_arguments(study: dict, part: str) -> list[str]:
    select = study["select"]
    return [str(a) for a in study["sweeps"][part]] + selection_arguments(part_grid(select, part),
                                                                         select.get("overrides") or [])


def check_selection(study: dict) -> None:
    """Each selected part is one setting: its selection jobs differ only in the grid and the
    selection's own overrides (seeds, folds), so one choice fits all its final jobs."""
    select = study.get("select") or {}
    overridden = {str(o).split("=", 1)[0] for o in select.get("overrides") or []}
    for part in selected_parts(study):
        if part not in study["sweeps"]:
            raise KeyError(f"select.parts names {part!r}, which is not a sweep of the study")
        free = set(part_grid(select, part)) | overridden
        settings = {tuple(sorted(o for o in job if o.split("=", 1)[0] not in free))
                    for job in sweep_jobs(selection_part_arguments(study, part))}
        if len(settings) > 1:
            values = [o.split("=", 1) for setting in settings for o in setting]
            varied = sorted(k for k in {k for k, _ in values} if len({v for key, v in values if key == k}) > 1)
            raise KeyError(f"part {part!r} sweeps {', '.join(varied)} besides the selection grid: give each "
                           "setting its own part so each gets its own choice")
    if select:
        check_equal_budget(select, selected_parts(study))


def study_jobs(study: dict, selected: dict | None = None) -> dict[str, list[list[str]]]:
    """Every job of the study by part: the selection jobs (``<part>/select``), then the final ones."""
    jobs = {f"{part}/select": sweep_jobs(selection_part_arguments(study, part)) for part in selected_parts(study)}
    return jobs | {part: sweep_jobs(part_arguments(study, part, selected)) for part in study["sweeps"]}


def current_hashes(study: dict, selected: dict | None = None) -> list[dict]:
    return [{"part": part, "overrides": job, "config_sha256": config_hash(job)}
            for part, jobs in study_jobs(study, selected).items() for job in jobs]


def stale_reasons(name: str) -> list[str]:
    """Why the committed results of ``name`` are not what its command would produce now (empty: current)."""
    study = load_study(name)
    provenance = RESULTS / name / "provenance.json"
    if not provenance.is_file():
        return [f"experiments/results/{name} has no provenance.json"]
    record = read_provenance(provenance)
    missing = [p for p in selected_parts(study) if p not in (record.get("selected") or {})]
    if missing:
        return [f"provenance.json records no validation choice for {', '.join(missing)}"]
    committed = {json.dumps(j["overrides"]): j["config_sha256"] for j in record.get("jobs", [])}
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:  # the recorded choices against today's configs: a key they set may have moved or gone
        now = {json.dumps(j["overrides"]): j["config_sha256"] for j in current_hashes(study, record.get("selected"))}
    except (HydraException, OmegaConfBaseException) as e:
        with composing(study):  # the study's jobs without the choices: a failure there is its own
            current_hashes(study)
        return [f"the recorded choices {record.get('selected')} no longer compose: {str(e).splitlines()[0]}"]
    held_out, was = study.get("held_out") or {}, record.get("held_out") or {}
    reasons = [f"held_out is now {held_out}, was {was}"] if held_out != was else []
    reasons += [f"job {k} is no longer in the study" for k in committed if k not in now]
    reasons += [f"job {k} is new" for k in now if k not in committed]
    reasons += [f"job {k} now composes another config" for k in now if k in committed and now[k] != committed[k]]
    return reasons


def read_provenance(path: Path) -> dict:
    """``provenance.json``: an object whose ``jobs`` are ``{overrides, config_sha256}`` records
    and whose ``selected`` choices are ``{part: {key: value}}`` naming none but our classes;
    DataError naming the file otherwise."""
    record = read_json_object(path)
    jobs, selected = record.get("jobs", []), record.get("selected") or {}
    shaped = isinstance(jobs, list) and all(
        isinstance(j, dict) and isinstance(j.get("overrides"), list) and "config_sha256" in j
        for j in jobs)
    if not shaped:
        raise DataError(f"{path}: jobs must be a list of {{overrides: [...], config_sha256: ...}}")
    if not isinstance(selected, dict) or not all(isinstance(c, dict) for c in selected.values()):
        raise DataError(f"{path}: selected must be a mapping of part: {{key: value}}")
    check_trusted({}, path, [f"{k}={v}" for chosen in selected.values() for k, v in chosen.items()])
    check_trusted({}, path, [o for j in jobs for o in j["overrides"]])
    return record


def machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__, "python": platform.python_version()}


def check_held_out(study: dict) -> None:
    """Each held-out corpus is one the study generates (so provenance records how it was made)."""
    for name, folder in (study.get("held_out") or {}).items():
        if folder not in (study.get("corpora") or {}):
            raise KeyError(f"held_out.{name}: {folder} is not one of the study's corpora (add it there, "
                           "with the arguments that make it)")


def score_held_out(study: dict, sweep_root: Path) -> None:
    """Score each final job's best checkpoint on the test split of each held-out corpus."""
    from cnnlstm.engine.run import evaluate
    from cnnlstm.experiments.summarize import find_jobs

    for name, folder in (study.get("held_out") or {}).items():
        for job in find_jobs(sweep_root):
            if (job / "checkpoints" / "best.pt").is_file():
                print(f"+ held_out.{name}: {job}", flush=True)
                evaluate(job / "checkpoints" / "best.pt", [f"data.root={ROOT / folder}"],
                         job / "held_out" / name)


def git_commit() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def make_corpora(study: dict) -> list[dict]:
    """Write each generated corpus the study trains on (``corpora: {DIR: [maker arguments]}``, DIR
    relative to the project root) unless DIR already holds the one these arguments make; their
    commands and the hash of each ``synthesis.json``, for provenance."""
    records = []
    for folder, arguments in (study.get("corpora") or {}).items():
        root, arguments = ROOT / folder, [str(a) for a in arguments]
        stamp = root / "corpus_arguments.json"  # what made the folder, written once it is complete
        command = ["python", "-m", "cnnlstm.data.synthesize", arguments[0], folder, *arguments[1:]]
        reused = stamped(stamp) == arguments
        if not reused:
            stamp.unlink(missing_ok=True)
            print("+", " ".join(command), flush=True)
            subprocess.run([sys.executable, *command[1:], *(["--overwrite"] if root.exists() else [])],
                           cwd=ROOT, check=True)
            write_atomic(stamp, (json.dumps(arguments) + "\n").encode())
        digest = hashlib.sha256((root / "synthesis.json").read_bytes()).hexdigest()
        records.append({"dir": folder, "command": " ".join(command), "synthesis_sha256": digest, "reused": reused})
    return records


def stamped(stamp: Path) -> object:
    """The maker arguments recorded in a corpus's ``corpus_arguments.json`` (None when absent or
    unreadable: the corpus is then made again, as for other arguments)."""
    try:
        return json.loads(read_text(stamp)) if stamp.is_file() else None
    except (DataError, ValueError):
        return None


def finished_selection(sweep_dir: Path, expected: list[list[str]]) -> bool:
    """Whether ``sweep_dir`` holds every expected selection job (its overrides, plus any extra
    ones the command line added), each finished; a job whose overrides cannot be read, or name
    foreign code, is refused in one line naming its ``overrides.yaml``."""
    if not sweep_dir.is_dir():
        return False
    found = [set(read_trusted_overrides(job / ".hydra" / "overrides.yaml"))
             for job in sweep_dir.iterdir() if (job / "metrics.json").is_file() and (job / ".hydra").is_dir()]
    return all(any(set(job) <= done for done in found) for job in expected)


def reproduce(name: str, extra: list[str] | None = None, reuse_selection: bool = False) -> Path:
    """Run every sweep of the study, summarize it, refresh ``experiments/results/<name>/``.

    ``reuse_selection``: keep a part's earlier selection jobs when all of them finished (an
    interrupted reproduction goes on from there; recorded in provenance.json)."""
    from cnnlstm.experiments.summarize import summarize

    study, start, commit = load_study(name), time.time(), git_commit()  # before anything is rewritten
    with composing(study):  # fails early on a study that does not compose
        check_selection(study)
        check_held_out(study)
        study_jobs(study)
    sweep_root, select_root = ROOT / "multirun" / name, ROOT / "multirun" / f"{name}-select"
    corpora = make_corpora(study)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for folder in (sweep_root,) if reuse_selection else (sweep_root, select_root):
        if folder.exists():
            shutil.move(str(folder), str(folder.with_name(f"{folder.name}.replaced-{stamp}")))
    selected, choices, reused = {}, {}, []
    for part in selected_parts(study):  # on validation, before any final job runs
        arguments = selection_part_arguments(study, part)
        if reuse_selection and finished_selection(select_root / part, sweep_jobs(arguments)):
            reused.append(part)
        else:
            if (select_root / part).exists():
                shutil.move(str(select_root / part), str(select_root / f"{part}.replaced-{stamp}"))
            _sweep(arguments, extra, select_root / part, check=False)  # a diverged lr loses
        grid = part_grid(study["select"], part)
        chosen, scores, objective = choose(select_root / part, grid)
        selected[part], choices[part] = chosen, (chosen, scores, objective, grid)
        print(f"{part}: chose {chosen} by {objective}", flush=True)
    for part in study["sweeps"]:
        _sweep(part_arguments(study, part, selected), extra, sweep_root / part)
    score_held_out(study, sweep_root)
    options = study.get("summarize") or {}
    chosen_keys = tuple(dict.fromkeys(k for part in selected for k in selected[part]))  # a choice, not a factor
    summarize(sweep_root, options.get("metric"), options.get("baseline"), chosen_keys)
    out = RESULTS / name
    for file in ("summary.md", "summary.csv", "summary.png"):
        if (sweep_root / file).exists():
            write_atomic(out / file, (sweep_root / file).read_bytes())
    if choices:
        write_atomic(out / "selection.md", selection_table(choices).encode())
    provenance = commit | {
        "study": name, "command": f"python -m cnnlstm.experiments.reproduce {name}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
        "wall_seconds": round(time.time() - start, 1), "extra_overrides": extra or [],
        "corpora": corpora, "held_out": study.get("held_out") or {}, "selected": selected,
        "reused_selection": reused, "jobs": current_hashes(study, selected)}
    write_atomic(out / "provenance.json", (json.dumps(provenance, indent=2) + "\n").encode())
    return out


def _sweep(arguments: list[str], extra: list[str] | None, sweep_dir: Path, check: bool = True) -> None:
    command = [sys.executable, "train.py", "-m", *arguments, *(extra or []), f"hydra.sweep.dir={sweep_dir}"]
    print("+", " ".join(command[1:]), flush=True)
    subprocess.run(command, cwd=ROOT, check=check)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnlstm.experiments.reproduce", description=__doc__.split("\n")[0])
    parser.add_argument("study", help=f"one of: {', '.join(sorted(p.stem for p in STUDIES.glob('*.yaml')))}")
    parser.add_argument("--check", action="store_true", help="only compare the committed provenance with the current code")
    parser.add_argument("--reuse-selection", action="store_true",
                        help="keep each part's earlier selection jobs if all finished (go on after an interruption)")
    parser.add_argument("overrides", nargs="*", help="extra key=value for every job (e.g. a launcher); recorded")
    args = parser.parse_intermixed_args(argv)  # options before or after the overrides
    try:
        if args.check:
            reasons = stale_reasons(args.study)
            print("\n".join(reasons) or f"experiments/results/{args.study} is what its command produces now")
            return 1 if reasons else 0
        out = reproduce(args.study, args.overrides, args.reuse_selection)
    except (FileNotFoundError, KeyError, RuntimeError, UserError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"refreshed {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
