"""Issue 26 B: hostile study files and read-back records give one line naming the file, and
nothing is launched, moved or written before the line."""

import json

import pytest

import cnnlstm.experiments.reproduce as reproduce
from cnnlstm.engine.trusted import UntrustedTarget
from cnnlstm.errors import DataError
from cnnlstm.experiments.selection import choose

GOOD = "sweeps:\n  p: [experiment=cnn_lstm_sizes, seed=0]\n"


@pytest.fixture
def studies(tmp_path, monkeypatch):
    """A studies folder of our own; launching a sweep or the corpus maker fails the test."""
    folder = tmp_path / "studies"
    folder.mkdir()

    def launched(*args, **kwargs):
        raise AssertionError(f"launched {args}")

    monkeypatch.setattr(reproduce, "STUDIES", folder)
    monkeypatch.setattr(reproduce, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(reproduce, "_sweep", launched)
    monkeypatch.setattr(reproduce, "make_corpora", launched)
    return folder


def refused(capsys, *argv) -> str:
    """The one stderr line of a refused ``reproduce`` (exit 2)."""
    assert reproduce.main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("content,problem", [
    (b"sweeps: [a\n", "not valid YAML: expected ',' or ']'"),
    (b"", "expected a mapping with sweeps: {part: [train.py -m arguments]}, got an empty file"),
    (b"- experiment=cnn_lstm_sizes\n- seed=0\n", "got a list"),
    (b"\x89PNG\r\n\x1a\n\x00\xff", "not UTF-8 text"),
    (b"sweep:\n  p: [seed=0]\n", "unknown key sweep (known: corpora, held_out, select"),
    (b"sweeps: [seed=0]\n", "sweeps must be a non-empty mapping, got a list"),
    (b"sweeps:\n  p: seed=0\n", "sweeps.p must be a list of strings or numbers"),
    (b"sweeps:\n  ../../escape: [seed=0]\n", "sweeps: part name '../../escape' must be a plain"),
    (GOOD.encode() + b"select:\n  grid:\n    optimizer.lr: 0.1\n", "select.grid.optimizer.lr"),
    (GOOD.encode() + b"corpora:\n  /home/me: [timit]\n", "corpora: '/home/me' must be a folder"),
    (GOOD.encode() + b"corpora:\n  data/../..: [timit]\n", "(no '..', not absolute)"),
    (GOOD.encode() + b"held_out:\n  ../x: data/synth/b\n", "held_out: name '../x' must be"),
])
def test_a_broken_study_file_is_one_line_naming_it(studies, capsys, content, problem):
    (studies / "s.yaml").write_bytes(content)
    err = refused(capsys, "s")
    assert err.startswith(f"error: study {studies / 's.yaml'}") and problem in err


@pytest.mark.parametrize("study", [
    GOOD.replace("seed=0]", "seed=0, '+model._target_=os.system']"),
    GOOD.replace("seed=0]", "seed=0, 'model={_target_: os.system, _args_: [ls]}']"),
    GOOD.replace("seed=0]", "seed=0, '++hydra.callbacks.x._target_=builtins.exec']"),
    GOOD.replace("seed=0]", "seed=0, 'model._target_=cnnlstm.models.CLDNN,os.system']"),
    GOOD + "select:\n  grid:\n    model._target_: [cnnlstm.models.CLDNN, subprocess.call]\n",
    GOOD + "select:\n  grid: {optimizer.lr: [0.1]}\n  overrides: ['+x={_target_: os.system}']\n",
    GOOD + "select:\n  grid: {optimizer.lr: [0.1]}\n"
           "  part_grids:\n    p: {+model._target_: [os.system]}\n",
    GOOD.replace("seed=0]", "seed=0, '+x=[1, {_target_: os.system']"),  # unparsable: refused
])
def test_a_foreign_target_in_a_study_is_refused_before_anything_runs(studies, capsys, study):
    (studies / "s.yaml").write_text(study)
    err = refused(capsys, "s")
    assert err.startswith(f"error: {studies / 's.yaml'}: ")
    assert "is not a cnnlstm class" in err or "cannot be checked (no valid override)" in err


def test_a_target_where_the_study_has_none_is_an_unknown_key(studies, capsys):
    (studies / "s.yaml").write_text(GOOD + "_target_: os.system\n")
    assert "unknown key _target_" in refused(capsys, "s")


def test_a_yaml_alias_bomb_is_refused_by_its_shape_not_walked(studies, capsys):
    """10**9 strings by reference in a few hundred bytes: a walk over it would never end."""
    levels = ["&a [x, x, x, x, x, x, x, x, x, x]"] + [
        f"&{n} [{', '.join([f'*{p}'] * 10)}]" for p, n in zip("abcdefgh", "bcdefghi")]
    (studies / "s.yaml").write_text(f"sweeps:\n  p: [{', '.join(levels)}]\n")
    assert "sweeps.p must be a list of strings or numbers" in refused(capsys, "s")


def test_our_own_targets_and_user_trusted_ones_pass(studies, monkeypatch):
    ours = GOOD.replace("seed=0]", "seed=0, model._target_=cnnlstm.models.CLDNN]")
    (studies / "s.yaml").write_text(ours)
    assert reproduce.load_study("s")["sweeps"]["p"][-1] == "model._target_=cnnlstm.models.CLDNN"
    (studies / "t.yaml").write_text(GOOD.replace("seed=0]", "seed=0, +model._target_=mypkg.Net]"))
    with pytest.raises(UntrustedTarget, match="mypkg.Net"):
        reproduce.load_study("t")
    monkeypatch.setenv("CNNLSTM_TRUSTED_TARGETS", "mypkg.Net")
    reproduce.load_study("t")


def test_an_unknown_experiment_is_one_line_naming_the_study(studies, capsys, tmp_path):
    (studies / "s.yaml").write_text("sweeps:\n  p: [experiment=no_such_experiment, seed=0]\n")
    err = refused(capsys, "s")
    assert err.startswith(f"error: study {studies / 's.yaml'} does not compose: ")
    assert "no_such_experiment" in err and not (tmp_path / "results").exists()


def test_a_study_name_is_never_a_path(studies, capsys, tmp_path):
    (tmp_path / "escape.yaml").write_text(GOOD)
    err = refused(capsys, "../escape")
    assert "no study '../escape'" in err


@pytest.mark.parametrize("provenance,problem", [
    ("{oops", "not valid JSON"),
    ("[]", "expected a JSON object, got a list"),
    ('{"jobs": {"a": 1}}', "jobs must be a list of {overrides: [...], config_sha256: ...}"),
    ('{"jobs": [], "selected": {"p": {"model._target_": "os.system"}}}', "is not a cnnlstm class"),
    ('{"jobs": [], "selected": {"p": {"x": "{_target_: os.system}"}}}', "is not a cnnlstm"),
])
def test_check_with_a_broken_provenance_is_one_line_naming_it(studies, capsys, tmp_path,
                                                             provenance, problem):
    (studies / "s.yaml").write_text(GOOD)
    (tmp_path / "results" / "s").mkdir(parents=True)
    (tmp_path / "results" / "s" / "provenance.json").write_text(provenance)
    err = refused(capsys, "s", "--check")
    assert str(tmp_path / "results" / "s" / "provenance.json") in err and problem in err


# ------------------------------------------------- selection records read back from multirun/
def selection_job(folder, overrides, score=0.5, config=None):
    """A finished selection job: its .hydra records and metrics.json."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- '{o}'\n" for o in overrides))
    config = config or "trainer: {monitor: val/acc, monitor_mode: max}\n"
    (folder / ".hydra" / "config.yaml").write_text(config)
    (folder / "metrics.json").write_text(json.dumps({"best/val/acc": score}))
    return folder


GRID = {"optimizer.lr": [0.001, 0.01]}


def test_a_clean_selection_chooses_from_the_grid(tmp_path):
    selection_job(tmp_path / "0", ["optimizer.lr=0.001", "seed=0"], 0.6)
    selection_job(tmp_path / "1", ["optimizer.lr=0.01", "seed=0"], 0.8)
    assert choose(tmp_path, GRID)[0] == {"optimizer.lr": "0.01"}


@pytest.mark.parametrize("overrides,error,problem", [
    (["optimizer.lr={_target_:os.system,_args_:[ls]}", "seed=0"], UntrustedTarget, "os.system"),
    (["optimizer.lr=0.01", "+model._target_=os.system"], UntrustedTarget, "_target_='os.system'"),
    (["optimizer.lr=0.5", "seed=0"], DataError, "optimizer.lr=0.5 is not a value of the study's"),
    (["seed=0"], DataError, "optimizer.lr=None is not a value of the study's grid"),
])
def test_a_tampered_selection_job_is_refused_naming_its_overrides(tmp_path, overrides, error,
                                                                  problem):
    """A chosen value is launched with every final job: only the study's own grid values pass."""
    selection_job(tmp_path / "0", ["optimizer.lr=0.001", "seed=0"], 0.6)
    selection_job(tmp_path / "1", overrides, 0.9)
    with pytest.raises(error, match=problem) as raised:
        choose(tmp_path, GRID)
    assert str(tmp_path / "1" / ".hydra" / "overrides.yaml") in str(raised.value)


@pytest.mark.parametrize("name,content,problem", [
    (".hydra/overrides.yaml", "- a\n  b: [", "not valid YAML"),
    (".hydra/overrides.yaml", "lr: 1\n", "expected a YAML list of key=value strings"),
    (".hydra/config.yaml", "- trainer\n", "expected a YAML mapping, got a list"),
    (".hydra/config.yaml", "trainer: 3\n", "expected trainer.monitor and trainer.monitor_mode"),
    ("metrics.json", "[0.9]", "expected a JSON object, got a list"),
])
def test_a_garbled_selection_record_is_one_error_naming_it(tmp_path, name, content, problem):
    job = selection_job(tmp_path / "0", ["optimizer.lr=0.001", "seed=0"])
    (job / name).write_text(content)
    with pytest.raises(DataError, match=problem) as raised:
        choose(tmp_path, GRID)
    assert str(job / name) in str(raised.value)


def test_reused_selection_jobs_are_checked_before_they_count(tmp_path):
    selection_job(tmp_path / "0", ["optimizer.lr=0.001", "seed=0", "+model._target_=os.system"])
    with pytest.raises(UntrustedTarget, match="overrides.yaml"):
        reproduce.finished_selection(tmp_path, [["optimizer.lr=0.001", "seed=0"]])


def test_a_garbled_corpus_stamp_remakes_the_corpus(tmp_path, monkeypatch):
    import subprocess

    calls = []

    def fake_maker(command, cwd, check):
        calls.append(command)
        (tmp_path / "data/synth/c").mkdir(parents=True, exist_ok=True)
        (tmp_path / "data/synth/c/synthesis.json").write_text("{}")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(reproduce, "ROOT", tmp_path)
    monkeypatch.setattr(reproduce.subprocess, "run", fake_maker)
    (tmp_path / "data/synth/c").mkdir(parents=True)
    (tmp_path / "data/synth/c/corpus_arguments.json").write_bytes(b"\xff{garbage")
    [record] = reproduce.make_corpora({"corpora": {"data/synth/c": ["timit"]}})
    assert not record["reused"] and len(calls) == 1
    assert json.loads((tmp_path / "data/synth/c/corpus_arguments.json").read_text()) == ["timit"]
