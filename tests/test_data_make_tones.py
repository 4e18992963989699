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


def test_a_symlinked_dir_is_refused_and_nothing_is_written_through_it(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "link").symlink_to(elsewhere)
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / "link"), "2"])
    assert exit_.value.code == 2 and "is a symlink" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []


def test_files_and_class_folders_are_never_written_through_links(tmp_path):
    from cnnlstm.data.make_tones import make_tone_folder
    from cnnlstm.errors import StorageError

    victim = tmp_path / "victim.wav"
    victim.write_bytes(b"someone's recording")
    root = tmp_path / "tones"
    (root / "tone0").mkdir(parents=True)
    (root / "tone0" / "000.wav").symlink_to(victim)  # planted where the first file goes
    pattern = rf"^cannot write {root / 'tone0' / '000.wav'}: File exists$"
    with pytest.raises(StorageError, match=pattern):
        make_tone_folder(root, per_class=2)
    assert victim.read_bytes() == b"someone's recording"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = tmp_path / "other"
    other.mkdir()
    (other / "tone0").symlink_to(elsewhere)
    pattern = rf"{other / 'tone0'}: a symlink or a folder outside {other}"
    with pytest.raises(StorageError, match=pattern):
        make_tone_folder(other, per_class=2)
    assert list(elsewhere.iterdir()) == []


def test_a_data_root_that_is_a_file_is_one_line(tmp_path):
    from cnnlstm.data.make_tones import tone_folder_data
    from cnnlstm.errors import DataError

    (tmp_path / "tones").write_text("not a folder")
    with pytest.raises(DataError, match=r"data\.root=.*tones exists and is not a folder"):
        tone_folder_data(str(tmp_path / "tones"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder
