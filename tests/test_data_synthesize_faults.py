"""Issue 26 D: the corpus maker killed mid-run, its rerun, and symlinks in DIR.

A killed run leaves ``.synth-*`` scratch folders and a partial corpus; the rerun removes them
(only what provably is a dead run's own: the name, a marker file, no live holder of its lock)
and proceeds; a symlink in DIR is never written through, and nothing outside DIR is written.
"""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from cnnlstm.data.synthesize import scratch
from cnnlstm.data.synthesize.command import main

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
HAVE_FESTIVAL = shutil.which("festival") is not None and shutil.which("sox") is not None
TINY_SC = ["--speakers", "3", "--words", "yes", "--voices", "espeak:en-us", "--noise-seconds", "0"]

DIE_MID_RUN = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from cnnlstm.data.synthesize import scratch
    root = Path(sys.argv[1])
    with scratch.run_marker(root), scratch.scratch_folder(root) as tmp:
        (tmp / "0.wav").write_bytes(b"festival output" * 1000)
        (root / sys.argv[2]).mkdir()
        (root / sys.argv[2] / "partial.wav").write_bytes(b"half a corpus")
        os.kill(os.getpid(), 9)
""")


def killed_run(root, partial="yes"):
    """What a run killed mid-way leaves in ``root``: its marker, scratch, a partial corpus."""
    root.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", DIE_MID_RUN, str(root), partial], timeout=60)
    assert done.returncode == -signal.SIGKILL
    [tmp] = root.glob(".synth-*")
    assert (tmp / scratch.SCRATCH_MARKER).is_file() and (root / scratch.RUN_MARKER).is_file()
    return tmp


def leftover_names(root):
    return sorted(p.name for p in root.iterdir()
                  if p.name.startswith((".synth", scratch.RUN_MARKER)))


# ------------------------------------------------------------ markers (no synthesizer needed)
def test_a_dead_runs_scratch_is_stale_and_a_live_ones_is_not(tmp_path):
    dead = killed_run(tmp_path)
    assert scratch.interrupted(tmp_path)
    with scratch.scratch_folder(tmp_path) as live:  # held by this live process
        assert scratch.stale_scratch(tmp_path) == [dead]
        assert scratch.remove_stale_scratch(tmp_path) == [dead]
        assert live.is_dir() and not dead.exists()
    assert not live.exists()


def test_only_provably_own_folders_count_as_scratch(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / scratch.SCRATCH_MARKER).write_text("")
    (outside / "precious.txt").write_text("keep")
    root = tmp_path / "dir"
    root.mkdir()
    (root / ".synth-old").mkdir()  # an older version's leftover: no marker
    (root / ".synth-link").symlink_to(outside)  # a link, marker and all: never followed
    (root / ".synth-linked-marker").mkdir()
    (root / ".synth-linked-marker" / scratch.SCRATCH_MARKER).symlink_to(outside / "precious.txt")
    (root / "other").mkdir()
    (root / "other" / scratch.SCRATCH_MARKER).write_text("")  # the marker, but not the name
    assert scratch.stale_scratch(root) == []
    assert (outside / "precious.txt").read_text() == "keep"


def test_a_live_run_holds_dir_and_a_second_run_is_refused_in_one_line(tmp_path, capsys):
    with scratch.run_marker(tmp_path):
        assert main(["speech_commands", str(tmp_path), *TINY_SC]) == 2
        assert main(["speech_commands", str(tmp_path), *TINY_SC, "--overwrite"]) == 2
    err = capsys.readouterr().err.splitlines()
    busy = f"error: DIR {tmp_path} is being written by another run of the corpus maker (PID "
    assert len(err) == 2 and all(line.startswith(f"{busy}{os.getpid()})") for line in err)
    assert not (tmp_path / scratch.RUN_MARKER).exists()  # removed by the run that finished


def test_an_unprovable_scratch_folder_is_named_and_kept(tmp_path, capsys, monkeypatch):
    from cnnlstm.data.synthesize import command

    (tmp_path / ".synth-old").mkdir()
    (tmp_path / ".synth-old" / "0.wav").write_bytes(b"x")
    assert main(["timit", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: DIR {tmp_path} holds .synth-old, not provably a dead run's")
    monkeypatch.setattr(command, "check_tools", lambda args: None)
    monkeypatch.setattr(command, "run", lambda args: "nothing")
    assert main(["timit", str(tmp_path), "--overwrite"]) == 0  # --overwrite: written, yet kept
    assert (tmp_path / ".synth-old" / "0.wav").read_bytes() == b"x"


def test_the_rerun_of_a_killed_run_clears_its_leftovers_without_overwrite(tmp_path, monkeypatch):
    """With the synthesis stubbed out: what the rerun removes, and what it keeps."""
    from cnnlstm.data.synthesize import command

    killed_run(tmp_path, partial="TRAIN")
    seen = {}

    def fake_run(args):
        seen["names"] = sorted(p.name for p in args.dir.iterdir())
        return "stub"

    monkeypatch.setattr(command, "check_tools", lambda args: None)
    monkeypatch.setattr(command, "run", fake_run)
    assert main(["timit", str(tmp_path)]) == 0
    assert seen["names"] == [scratch.RUN_MARKER]  # this run's own marker, nothing else
    assert list(tmp_path.iterdir()) == []  # and its marker gone once it finished


def test_a_failed_run_keeps_its_marker_so_the_rerun_proceeds(tmp_path, monkeypatch, capsys):
    from cnnlstm.data.synthesize import command
    from cnnlstm.errors import DataError

    def failing_run(args):
        (args.dir / "TRAIN").mkdir()
        raise DataError("festival exited with 1")

    monkeypatch.setattr(command, "check_tools", lambda args: None)
    monkeypatch.setattr(command, "run", failing_run)
    assert main(["timit", str(tmp_path)]) == 2
    assert (tmp_path / scratch.RUN_MARKER).is_file() and scratch.interrupted(tmp_path)
    monkeypatch.setattr(command, "run", lambda args: "stub")
    assert main(["timit", str(tmp_path)]) == 0 and list(tmp_path.iterdir()) == []


# --------------------------------------------------------------- real runs with the engines
@pytest.mark.skipif(not HAVE_ESPEAK, reason="needs espeak-ng")
def test_a_real_rerun_after_a_kill_proceeds_and_leaves_no_scratch(tmp_path):
    killed_run(tmp_path / "sc")
    assert main(["speech_commands", str(tmp_path / "sc"), *TINY_SC]) == 0
    assert leftover_names(tmp_path / "sc") == []
    assert not (tmp_path / "sc" / "yes" / "partial.wav").exists()


@pytest.mark.skipif(not HAVE_FESTIVAL, reason="needs festival and sox")
def test_the_corpus_maker_killed_while_festival_runs_then_rerun(tmp_path):
    """The issue's case: ``kill -9`` while the scratch folder fills; the plain rerun succeeds."""
    root = tmp_path / "timit"
    command = [sys.executable, "-m", "cnnlstm.data.synthesize", "timit", str(root),
               "--speakers", "2", "--sentences", "2", "--voices", "kal_diphone"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(root.glob(".synth-*/f0")) and time.monotonic() < deadline:  # festival at work
        time.sleep(0.02)
    process.kill()
    process.wait()
    if not list(root.glob(".synth-*")):
        pytest.skip("the run finished before it could be killed")
    tiny = ["--speakers", "1", "--sentences", "1", "--voices", "kal_diphone"]
    assert main(["timit", str(root), *tiny]) == 0
    assert leftover_names(root) == [] and (root / "synthesis.json").is_file()


@pytest.mark.skipif(not HAVE_ESPEAK, reason="needs espeak-ng")
def test_symlinks_in_dir_are_replaced_never_written_through(tmp_path, capsys):
    outside, root = tmp_path / "outside", tmp_path / "sc"
    (outside / "words").mkdir(parents=True)
    (outside / "words" / "mine.wav").write_bytes(b"keep")
    (outside / "victim.json").write_text("keep")
    root.mkdir()
    (root / "synthesis.json").symlink_to(outside / "victim.json")
    (root / "yes").symlink_to(outside / "words")
    (root / "validation_list.txt").symlink_to(outside / "created.txt")  # dangling
    (root / scratch.RUN_MARKER).symlink_to(outside / "marker")  # dangling
    before = sorted(p.relative_to(tmp_path) for p in outside.rglob("*"))
    assert main(["speech_commands", str(root), *TINY_SC]) == 2  # not empty: nothing written
    assert "is not empty" in capsys.readouterr().err
    assert main(["speech_commands", str(root), *TINY_SC, "--overwrite"]) == 0
    assert sorted(p.relative_to(tmp_path) for p in outside.rglob("*")) == before
    assert (outside / "victim.json").read_text() == "keep"
    assert (outside / "words" / "mine.wav").read_bytes() == b"keep"
    for name in ("synthesis.json", "yes", "validation_list.txt"):
        assert not (root / name).is_symlink() and (root / name).exists()
    assert leftover_names(root) == []
