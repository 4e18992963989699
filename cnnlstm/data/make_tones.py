"""Write a small Speech Commands style folder of synthetic tones: ``python -m cnnlstm.data.make_tones DIR [N]``.

Class ``tone<k>`` holds noisy tones of one pitch with random length, amplitude and phase; a tenth
of the files go into ``validation_list.txt`` and a tenth into ``testing_list.txt``. Used by the
tests and to try ``data=wav_folder`` without downloading anything. The command line refuses a
``DIR`` that already holds files, so it never replaces someone's dataset lists or recordings.
"""

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from cnnlstm.arguments import PositiveInt, checked, cli_type
from cnnlstm.errors import DataError, StorageError
from cnnlstm.files import own_folder, write_new

FREQS = (330.0, 660.0, 1320.0, 2640.0)


def wav_bytes(wave: np.ndarray, sample_rate: int) -> bytes:
    """``wave`` as the bytes of a 16-bit PCM WAV file."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, wave, sample_rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


@checked
def make_tone_folder(root: str | Path, per_class: PositiveInt = 20, freqs=FREQS, sample_rate: PositiveInt = 16000,
                     min_s: float = 0.3, max_s: float = 1.0, noise: float = 0.05, seed: int = 0) -> list[str]:
    """Create the folder; returns the class names. Every file is new (:func:`write_new`: nothing is
    overwritten, no symlink followed) and every class folder a real folder inside ``root``."""
    root, rng = Path(root), np.random.default_rng(seed)
    names, held = [], {"validation_list.txt": [], "testing_list.txt": []}
    for k, f in enumerate(freqs):
        name = f"tone{k}"
        names.append(name)
        folder = own_folder(root / name, root)
        for i in range(per_class):
            n = int(rng.uniform(min_s, max_s) * sample_rate)
            t = np.arange(n) / sample_rate
            wave = rng.uniform(0.2, 0.6) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
            wave = (wave + noise * rng.standard_normal(n)).astype(np.float32)
            write_new(folder / f"{i:03d}.wav", wav_bytes(wave, sample_rate))
            rel = f"{name}/{i:03d}.wav"
            if i % 10 == 1:
                held["validation_list.txt"].append(rel)
            elif i % 10 == 2:
                held["testing_list.txt"].append(rel)
    for list_name, files in held.items():
        write_new(root / list_name, "".join(f + "\n" for f in files).encode())
    return names


@checked
def tone_folder_data(root: str = "data/tones", files_per_class: PositiveInt = 20, seed: int = 0, **wav_folder):
    """``data=tones``: a :class:`WavFolder` over a tone folder, written at ``root`` on first use.

    An existing ``root`` is read as it is. A new one is written into a temporary sibling and
    renamed into place, so jobs starting together (a sweep, DDP ranks) never read a half-written
    folder. ``wav_folder`` holds the WavFolder options (``sample_rate`` is also the files' rate).
    """
    import shutil
    import tempfile

    from cnnlstm.data.wav_folder import WavFolder

    path = Path(root)
    if path.is_dir():
        return WavFolder(str(path), **wav_folder)
    if path.exists() or path.is_symlink():
        raise DataError(f"data.root={path} exists and is not a folder (a file or a broken "
                        "symlink): remove it or choose another data.root")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        rate = wav_folder.get("sample_rate", 16000)
        make_tone_folder(tmp, files_per_class, sample_rate=rate, seed=seed)
        tmp.rename(path)
    except OSError as e:
        if not path.is_dir():  # not another job's folder renamed into place first
            reason = e.strerror or e
            raise DataError(f"cannot write the tone folder data.root={path}: {reason}") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return WavFolder(str(path), **wav_folder)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad arguments as the project's one ``error: ...`` line, exit 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


positive_count = cli_type(PositiveInt)  # argparse type of files_per_class


def main(argv: list[str]) -> int:
    """Parse ``DIR [files_per_class]`` (argparse: ``--help``, one-line errors, exit 2) and write the folder."""
    parser = OneLineParser(prog="python -m cnnlstm.data.make_tones",
                           description="Write a Speech Commands style folder of synthetic tones (data=wav_folder).")
    parser.add_argument("dir", type=Path, help="folder to create (must be absent or empty)")
    parser.add_argument("files_per_class", type=positive_count, nargs="?", default=20,
                        help="WAV files per class (default 20)")
    args = parser.parse_args(argv)
    if args.dir.is_symlink():
        parser.error(f"DIR {args.dir} is a symlink: name the folder itself "
                     "(nothing is written through a link)")
    if args.dir.exists() and (not args.dir.is_dir() or any(args.dir.iterdir())):
        parser.error(f"DIR {args.dir} already exists and is not an empty folder: choose a new one")
    try:
        classes = make_tone_folder(args.dir, args.files_per_class)
    except (DataError, StorageError) as e:
        parser.exit(2, f"error: {e}\n")
    print(f"wrote {args.dir}: classes {', '.join(classes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
