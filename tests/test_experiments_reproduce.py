"""Committed results are what their study's command produces now, or are marked stale."""

import json

import pytest

from cnnlstm.experiments.reproduce import (
    RESULTS,
    STALE_MARK,
    STUDIES,
    config_hash,
    main,
    stale_reasons,
    sweep_jobs,
)

STUDY_NAMES = sorted(p.stem for p in STUDIES.glob("*.yaml"))


def marked_stale(readme) -> bool:
    return readme.is_file() and STALE_MARK in readme.read_text().splitlines()[0]


@pytest.mark.parametrize("name", STUDY_NAMES)
def test_committed_results_are_current_or_marked_stale(name):
    reasons = stale_reasons(name)
    assert not reasons or marked_stale(RESULTS / name / "README.md"), (
        f"experiments/results/{name} no longer matches its command ({reasons[:3]}): rerun "
        f"`python -m cnnlstm.experiments.reproduce {name}` or put {STALE_MARK} in the first line of its README")


def test_results_without_a_study_are_marked_stale():
    for folder in (p for p in RESULTS.iterdir() if p.is_dir() and p.name not in STUDY_NAMES):
        first = next(iter(sorted(folder.glob("*.md"))), None)
        assert first is not None and STALE_MARK in first.read_text().splitlines()[0], folder


def test_a_sweep_expands_like_hydras_basic_sweeper():
    jobs = sweep_jobs(["experiment=cnn_lstm_sizes", "model.hidden_size=10,50", "seed=0"])
    assert len(jobs) == 3 * 2  # conv_channels from the experiment's params x the command line's hidden sizes
    assert all("seed=0" in job and "experiment=cnn_lstm_sizes" in job for job in jobs)
    assert sorted(j for job in jobs for j in job if j.startswith("model.conv_channels")) == sorted(
        ["model.conv_channels=[2]", "model.conv_channels=[8]", "model.conv_channels=[16,16]"] * 2)


def test_the_hash_follows_the_composed_config_not_the_spelling():
    base = ["experiment=cnn_lstm_sizes", "seed=0"]
    assert config_hash(base) == config_hash(list(reversed(base)))
    assert config_hash(base) != config_hash([*base, "model.hidden_size=11"])


def test_check_reports_a_changed_config(tmp_path, monkeypatch, capsys):
    import cnnlstm.experiments.reproduce as reproduce

    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "provenance.json").write_text(json.dumps(
        {"jobs": [{"part": "p", "overrides": ["experiment=cnn_lstm_sizes", "seed=0"], "config_sha256": "0" * 64}]}))
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "s.yaml").write_text("sweeps:\n  p: [experiment=cnn_lstm_sizes, seed=0, model.hidden_size=10]\n")
    monkeypatch.setattr(reproduce, "RESULTS", tmp_path)
    monkeypatch.setattr(reproduce, "STUDIES", tmp_path / "studies")
    assert main(["s", "--check"]) == 1
    out = capsys.readouterr().out
    assert "is no longer in the study" in out or "now composes another config" in out


def test_a_studys_corpus_is_written_once_and_remade_when_its_arguments_change(tmp_path, monkeypatch):
    import subprocess

    import cnnlstm.experiments.reproduce as reproduce

    calls = []

    def fake_maker(command, cwd, check):  # stands in for python -m cnnlstm.data.synthesize
        calls.append(command[1:])
        folder = tmp_path / command[4]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "synthesis.json").write_text(json.dumps(command[5:]))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(reproduce, "ROOT", tmp_path)
    monkeypatch.setattr(reproduce.subprocess, "run", fake_maker)
    study = {"corpora": {"data/synth/c": ["timit", "--speakers", 20, "--seed", "0"]}}
    first = reproduce.make_corpora(study)
    assert calls == [["-m", "cnnlstm.data.synthesize", "timit", "data/synth/c", "--speakers", "20", "--seed", "0"]]
    assert first == [{"dir": "data/synth/c", "command": "python -m cnnlstm.data.synthesize timit data/synth/c "
                      "--speakers 20 --seed 0", "synthesis_sha256": first[0]["synthesis_sha256"], "reused": False}]
    assert reproduce.make_corpora(study)[0]["reused"] and len(calls) == 1  # the same arguments: kept
    study["corpora"]["data/synth/c"][2] = 30
    again = reproduce.make_corpora(study)
    assert calls[-1][-1] == "--overwrite" and "30" in calls[-1] and not again[0]["reused"]
    assert again[0]["synthesis_sha256"] != first[0]["synthesis_sha256"]


def test_held_out_corpora_must_be_generated_by_the_study():
    from cnnlstm.experiments.reproduce import check_held_out

    check_held_out({"corpora": {"data/synth/b": ["speech_commands"]}, "held_out": {"more": "data/synth/b"}})
    with pytest.raises(KeyError, match=r"held_out.more: data/synth/c is not one of the study's corpora"):
        check_held_out({"corpora": {"data/synth/b": ["speech_commands"]}, "held_out": {"more": "data/synth/c"}})


def test_a_changed_held_out_corpus_makes_the_results_stale(tmp_path, monkeypatch):
    import cnnlstm.experiments.reproduce as reproduce

    (tmp_path / "s").mkdir()
    arguments = ["experiment=cnn_lstm_sizes", "seed=0", "model.conv_channels=[2]"]
    jobs = [{"part": "p", "overrides": job, "config_sha256": config_hash(job)} for job in sweep_jobs(arguments)]
    (tmp_path / "s" / "provenance.json").write_text(json.dumps({"held_out": {"more": "data/synth/b"}, "jobs": jobs}))
    (tmp_path / "studies").mkdir()
    study = {"sweeps": {"p": arguments},
             "corpora": {"data/synth/b": ["x"], "data/synth/c": ["y"]}, "held_out": {"more": "data/synth/b"}}
    monkeypatch.setattr(reproduce, "RESULTS", tmp_path)
    monkeypatch.setattr(reproduce, "STUDIES", tmp_path / "studies")
    (tmp_path / "studies" / "s.yaml").write_text(json.dumps(study))
    assert stale_reasons("s") == []
    study["held_out"]["more"] = "data/synth/c"
    (tmp_path / "studies" / "s.yaml").write_text(json.dumps(study))
    assert stale_reasons("s") == ["held_out is now {'more': 'data/synth/c'}, was {'more': 'data/synth/b'}"]


def test_recorded_choices_that_no_longer_compose_make_the_results_stale(tmp_path, monkeypatch):
    import cnnlstm.experiments.reproduce as reproduce

    (tmp_path / "s").mkdir()
    selected = {"p": {"+model.hidden_size": "11"}}  # "+" adds a key: one the model config now has
    (tmp_path / "s" / "provenance.json").write_text(json.dumps({"selected": selected, "jobs": []}))
    (tmp_path / "studies").mkdir()
    study = {"sweeps": {"p": ["experiment=cnn_lstm_sizes", "seed=0"]}, "select": {"grid": {"model.hidden_size": [11]}}}
    (tmp_path / "studies" / "s.yaml").write_text(json.dumps(study))
    monkeypatch.setattr(reproduce, "RESULTS", tmp_path)
    monkeypatch.setattr(reproduce, "STUDIES", tmp_path / "studies")
    [reason] = stale_reasons("s")
    assert reason.startswith("the recorded choices {'p': {'+model.hidden_size': '11'}} no longer compose: ")
    assert "model.hidden_size" in reason.split("no longer compose: ")[1]
    study["sweeps"]["p"].append("+model.hidden_size=12")  # the study itself broken: its own error, not a stale note
    (tmp_path / "studies" / "s.yaml").write_text(json.dumps(study))
    with pytest.raises(Exception, match="model.hidden_size"):
        stale_reasons("s")


def test_every_final_job_is_scored_on_the_held_out_corpus_and_summarized(tmp_path):
    from conftest import compose_config
    from test_stream import TINY_AUDIO

    from cnnlstm.data.make_tones import make_tone_folder
    from cnnlstm.engine.run import evaluate, train
    from cnnlstm.experiments.reproduce import score_held_out
    from cnnlstm.experiments.summarize import summarize

    own, other = tmp_path / "own", tmp_path / "other"
    make_tone_folder(own, per_class=6, freqs=(400.0, 1600.0), sample_rate=8000, max_s=0.6)
    make_tone_folder(other, per_class=6, freqs=(400.0, 1600.0), sample_rate=8000, max_s=0.6, noise=0.5, seed=1)
    sweep = tmp_path / "multirun"
    for seed in (0, 1):
        job = sweep / "p" / str(seed)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- seed={seed}\n")
        train(compose_config("model=cldnn_streaming", f"data.root={own}", f"seed={seed}", *TINY_AUDIO), job)
    score_held_out({"held_out": {"noisy": str(other)}}, sweep)
    for seed in (0, 1):
        job = sweep / "p" / str(seed)
        scored = json.loads((job / "held_out" / "noisy" / "metrics.json").read_text())
        assert scored == pytest.approx(evaluate(job / "checkpoints" / "best.pt", [f"data.root={other}"], tmp_path / "e"))
        assert scored != json.loads((job / "metrics.json").read_text())  # another corpus: other scores
    text = summarize(sweep, "test/acc")
    assert "held_out/noisy/test/acc" in text and "held_out/noisy/test/loss" in text
