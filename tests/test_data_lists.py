"""Held-out list files as untrusted input (cnnlstm/data/splits.py), for both sources that read
them: entries leaving data.root or their class folder, overlapping or repeated entries, missing
or non-UTF-8 lists, empty class folders, and speakers or files in two splits."""

import os

import pytest
from speech_miniatures import make_speech_commands

from cnnlstm.data.speech_commands import SpeechCommands
from cnnlstm.data.wav_folder import WavFolder
from cnnlstm.errors import DataError

SOURCES = {
    "wav_folder": lambda root, **kw: WavFolder(str(root), **kw),
    "speech_commands": lambda root, **kw: SpeechCommands(str(root), task="all35", noise_prob=0.0,
                                                         num_workers=0, **kw),
}


@pytest.fixture(params=sorted(SOURCES))
def source(request):
    return SOURCES[request.param]


@pytest.fixture
def root(tmp_path):
    """yes/no/up, 5 clips each: speaker i%5 == 1 in validation_list.txt, == 2 in testing_list."""
    words = ("yes", "no", "up")
    return make_speech_commands(tmp_path / "sc", words=words, per_word=5, noise=False)


def append(path, *lines):
    """Add ``lines`` to a list file; returns the number of the first one added."""
    old = path.read_text().splitlines()
    path.write_text("".join(f"{line}\n" for line in old + list(lines)))
    return len(old) + 1


def test_the_miniature_loads(source, root):
    data = source(root)
    assert [data.split_size(s) for s in ("train", "val", "test")] == [9, 3, 3]


@pytest.mark.parametrize("skip_bad", [False, True])
def test_an_entry_leaving_data_root_is_refused_naming_list_and_line(source, root, skip_bad):
    secret = root.parent / "outside" / "secret.wav"
    secret.parent.mkdir()
    secret.write_bytes((root / "yes" / "0000beef_nohash_0.wav").read_bytes())
    line = append(root / "validation_list.txt", "yes/../../outside/secret.wav")
    entry = r"'yes/\.\./\.\./outside/secret\.wav'"
    pattern = rf"validation_list\.txt: line {line}: {entry} leaves data\.root"
    with pytest.raises(DataError, match=pattern) as error:
        source(root, skip_bad=skip_bad)  # a hostile list is not a bad clip: never skipped
    assert "\n" not in str(error.value)


def test_an_entry_naming_another_class_folder_is_refused(source, root):
    line = append(root / "testing_list.txt", "yes/../no/0000beef_nohash_0.wav")
    entry = r"'yes/\.\./no/0000beef_nohash_0\.wav'"
    pattern = (rf"testing_list\.txt: line {line}: {entry} resolves into no/, "
               "not its class folder yes/")
    with pytest.raises(DataError, match=pattern):
        source(root)


def test_a_listed_symlink_out_of_data_root_is_refused(source, root):
    secret = root.parent / "secret.wav"
    secret.write_bytes((root / "yes" / "0000beef_nohash_0.wav").read_bytes())
    os.symlink(secret, root / "yes" / "link_nohash_0.wav")
    line = append(root / "validation_list.txt", "yes/link_nohash_0.wav")
    entry = r"'yes/link_nohash_0\.wav'"
    pattern = rf"validation_list\.txt: line {line}: {entry} leaves data\.root"
    with pytest.raises(DataError, match=pattern):
        source(root)


def test_a_file_in_both_lists_is_refused(source, root):
    first = (root / "validation_list.txt").read_text().splitlines()[0]
    line = append(root / "testing_list.txt", first)
    pattern = (rf"testing_list\.txt: line {line}: {first} is already listed "
               r"at validation_list\.txt line 1; a file may be in one split")
    with pytest.raises(DataError, match=pattern):
        source(root)


def test_a_file_listed_twice_is_refused(source, root):
    first = (root / "testing_list.txt").read_text().splitlines()[0]
    line = append(root / "testing_list.txt", "./" + first)  # the same file, spelled differently
    pattern = rf"line {line}: \./{first} is already listed at testing_list"
    with pytest.raises(DataError, match=pattern):
        source(root)


def test_a_training_link_to_a_listed_file_is_refused(source, root):
    listed = (root / "validation_list.txt").read_text().splitlines()[0]
    os.symlink(root / listed, root / "no" / "copy.wav")
    pattern = (rf"no/copy\.wav is the file {listed} of validation_list\.txt "
               "line 1: it would be in two splits")
    with pytest.raises(DataError, match=pattern):
        source(root)


def test_a_speaker_in_two_splits_is_refused(source, root):
    append(root / "validation_list.txt", "yes/0000beef_nohash_0.wav")  # its other clips train
    pattern = (r"speaker 0000beef is in two splits: train "
               r"\(no/0000beef_nohash_0\.wav\) and val \(yes/0000beef_nohash_0")
    with pytest.raises(DataError, match=pattern):
        source(root)


@pytest.mark.parametrize("name", ["validation_list.txt", "testing_list.txt"])
def test_a_missing_list_is_an_error_naming_it(source, root, name):
    (root / name).unlink()
    with pytest.raises(DataError, match=rf"{root / name}: no such file; the (val|test) split"):
        source(root)


def test_a_list_that_is_not_utf8_names_file_and_line(source, root):
    path = root / "validation_list.txt"
    path.write_bytes(path.read_bytes() + b"yes/caf\xe9.wav\n")
    with pytest.raises(DataError, match=rf"{path}: line 4: not UTF-8 text \(byte 0xe9\)"):
        source(root)


def test_an_empty_class_folder_is_an_error_naming_it(source, root):
    (root / "empty").mkdir()
    with pytest.raises(DataError, match=rf"{root / 'empty'}: class folder holds no \.wav files"):
        source(root)


def test_a_class_without_a_usable_training_clip_is_an_error(source, root):
    (root / "hum").mkdir()
    (root / "hum" / "a.wav").write_bytes(b"RIFF not audio")
    with pytest.raises(DataError, match=r"(class|word) 'hum' has no usable training clip"):
        source(root, skip_bad=True)  # its one clip is skipped: the class would never be trained
