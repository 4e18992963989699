"""The make_tones command line: argparse help, one-line errors, and no writing into someone's folder."""

import pytest
from conftest import run_script

from cnnlstm.data.make_tones import main


def test_help_prints_usage_and_writes_nothing(tmp_path):
    done = run_script("-m", "cnnlstm.data.make_tones", "--help", cwd=tmp_path)
    assert done.returncode == 0 and "files_per_class" in done.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("count,message", [("abc", "must be an integer, got 'abc'"), ("-3", "must be >= 1, got -3"),
                                           ("0", "must be >= 1, got 0")])
def test_bad_count_is_one_line_and_writes_nothing(tmp_path, capsys, count, message):
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / "tones"), count])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: argument files_per_class: " + message)
    assert err.count("\n") == 1 and not (tmp_path / "tones").exists()


def test_refuses_a_folder_that_holds_files(tmp_path, capsys):
    (tmp_path / "validation_list.txt").write_text("mine/001.wav\n")
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path), "2"])
    assert exit_.value.code == 2 and "already exists and is not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "validation_list.txt").read_text() == "mine/001.wav\n"


def test_writes_the_folder(tmp_path, capsys):
    assert main([str(tmp_path / "tones"), "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "tones" / "tone0").iterdir()) == ["000.wav", "001.wav"]
    assert "classes tone0, tone1, tone2, tone3" in capsys.readouterr().out
