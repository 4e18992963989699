"""Splits that cannot leak: held-out list files read as untrusted text, and checks that no file
or speaker is in two splits. Used by ``data=wav_folder``, ``data=speech_commands``, ``data=timit``.

The Speech Commands layout names its held-out files in ``validation_list.txt`` and
``testing_list.txt`` (paths relative to ``data.root``; every other clip trains). Those lists
often come from elsewhere, so each entry is checked after resolving ``..`` and symlinks: it must
stay inside ``data.root`` and inside the class folder its first part names (``yes/../no/x.wav``
would otherwise put a ``no`` clip into validation labelled ``yes``, and ``yes/../../secret.wav``
read a file outside the corpus). Both lists must exist, and a file may be listed only once.
Every error is one line naming the list file and line.
"""

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath

from cnnlstm.errors import DataError

LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}
NOHASH = "_nohash_"  # Speech Commands names clips <speaker>_nohash_<k>.wav

Bad = Callable[[str], None]  # SkipBad.bad: an error, or skipped and counted with data.skip_bad
Held = dict[str, dict[Path, tuple[str, str]]]  # split -> real path -> (entry, "<list> line <n>")


def class_names(root: str | Path) -> list[str]:
    """The class folders of ``root`` (sorted; names starting with ``_`` or ``.`` are not
    classes, e.g. Speech Commands' ``_background_noise_``)."""
    folders = (p for p in Path(root).iterdir() if p.is_dir())
    return sorted(p.name for p in folders if not p.name.startswith(("_", ".")))


def require_clips(root: Path, classes: Iterable[str]) -> None:
    """DataError naming the first class folder that holds no ``.wav`` file: an empty folder
    would be a class the model never sees (one real class plus an empty one trains to acc 1)."""
    for name in classes:
        if next((root / name).glob("*.wav"), None) is None:
            raise DataError(f"{root / name}: class folder holds no .wav files "
                            "(add clips or remove it)")


def text_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, text)`` of the non-blank lines of ``path``, stripped; DataError naming
    the file (and the line, for bytes that are not UTF-8) when it cannot be read as text."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror or type(e).__name__})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        byte = raw[e.start]
        raise DataError(f"{path}: line {line}: not UTF-8 text (byte {byte:#04x})") from None
    lines = (line.strip() for line in text.split("\n"))
    return [(number, line) for number, line in enumerate(lines, 1) if line]


def _resolved_entry(root: Path, entry: str, classes: Sequence[str], where: str,
                    bad: Bad) -> Path | None:
    """The real path of a list entry inside its class folder; None (after ``bad``) for an entry
    outside any class folder or naming a missing file. Leaving ``data.root`` or the class
    folder after resolving is always an error: such a list is hostile or broken, not a bad clip."""
    real, real_root = (root / entry).resolve(), root.resolve()
    owner = (PurePosixPath(entry).parts or ("",))[0]
    if owner in classes and real.is_relative_to((root / owner).resolve()):
        if real.is_file():
            return real
        bad(f"{where}: names missing file {entry}")
        return None
    if not real.is_relative_to(real_root):
        raise DataError(f"{where}: {entry!r} leaves data.root={root} (it resolves to {real})")
    if owner in classes:
        inside = real.relative_to(real_root).parts[0]
        raise DataError(f"{where}: {entry!r} resolves into {inside}/, not its class folder "
                        f"{owner}/")
    bad(f"{where}: {entry} is not in a class folder")
    return None


def held_out(root: Path, classes: Sequence[str], bad: Bad) -> Held:
    """Per held-out split, each listed file's real path -> (entry, ``"<list> line <n>"``).

    DataError naming the list for a missing list file, an entry leaving its class folder, or a
    file listed twice (in one list, or in both: it would be in two splits)."""
    seen: dict[Path, str] = {}
    held: Held = {}
    for split, name in LISTS.items():
        path = root / name
        if not path.is_file():
            raise DataError(f"{path}: no such file; the {split} split of data.root is listed "
                            "there (one <class>/<file>.wav per line)")
        held[split] = {}
        for number, entry in text_lines(path):
            where = f"{path}: line {number}"
            real = _resolved_entry(root, entry, classes, where, bad)
            if real is None:
                continue
            if real in seen:
                raise DataError(f"{where}: {entry} is already listed at {seen[real]}; a file may "
                                "be in one split only")
            seen[real] = f"{name} line {number}"
            held[split][real] = (PurePosixPath(entry).as_posix(), seen[real])
    return held


def _training_files(root: Path, classes: Sequence[str], held: Held) -> list[str]:
    """Every ``.wav`` of the class folders that no list names; DataError for one that is a
    listed file under another name (a symlink): it would be in two splits."""
    listed = {real: where for entries in held.values() for real, where in entries.items()}
    train = []
    for name in classes:
        folder = (root / name).resolve()
        for path in sorted((root / name).glob("*.wav")):
            real = path.resolve() if path.is_symlink() else folder / path.name
            rel = f"{name}/{path.name}"
            if real not in listed:
                train.append(rel)
            elif listed[real][0] != rel:
                entry, where = listed[real]
                raise DataError(f"{root / rel} is the file {entry} of {where}: it would be in "
                                "two splits")
    return train


def split_files(root: Path, classes: Sequence[str], bad: Bad) -> dict[str, list[str]]:
    """Relative paths per split: the lists' entries, and every other ``.wav`` of the class
    folders for training; DataError for an empty class folder, a bad list (:func:`held_out`),
    a training link to a listed file, or a speaker in two splits."""
    require_clips(root, classes)
    held = held_out(root, classes, bad)
    splits = {"train": _training_files(root, classes, held)}
    splits |= {split: [entry for entry, _ in entries.values()] for split, entries in held.items()}
    speakers = {split: [(speaker_of(n), n) for n in names] for split, names in splits.items()}
    check_disjoint(speakers, "speaker")
    return splits


def speaker_of(name: str) -> str | None:
    """The speaker of a Speech Commands clip ``<word>/<speaker>_nohash_<k>.wav``; else None."""
    stem = PurePosixPath(name).name
    return stem.split(NOHASH)[0] if NOHASH in stem else None


def check_disjoint(keyed: dict[str, Iterable[tuple[object, str]]], what: str) -> None:
    """DataError naming the first ``what`` (a speaker, a file) found in two splits: ``keyed``
    holds per split ``(key, example)`` pairs; None keys are not checked."""
    owner: dict[object, tuple[str, str]] = {}
    for split, pairs in keyed.items():
        for key, example in pairs:
            if key is None:
                continue
            first = owner.setdefault(key, (split, example))
            if first[0] != split:
                raise DataError(f"{what} {key} is in two splits: {first[0]} ({first[1]}) and "
                                f"{split} ({example}); splits must not overlap")
