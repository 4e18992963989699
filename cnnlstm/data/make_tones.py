"""Write a small Speech Commands style folder of synthetic tones: ``python -m cnnlstm.data.make_tones DIR``.

Class ``tone<k>`` holds noisy tones of one pitch with random length, amplitude and phase; a tenth
of the files go into ``validation_list.txt`` and a tenth into ``testing_list.txt``. Used by the
tests and to try ``data=wav_folder`` without downloading anything.
"""

import sys
from pathlib import Path

import numpy as np

FREQS = (330.0, 660.0, 1320.0, 2640.0)


def make_tone_folder(root: str | Path, per_class: int = 20, freqs=FREQS, sample_rate: int = 16000,
                     min_s: float = 0.3, max_s: float = 1.0, noise: float = 0.05, seed: int = 0) -> list[str]:
    """Create the folder; returns the class names."""
    import soundfile

    root, rng = Path(root), np.random.default_rng(seed)
    names, held = [], {"validation_list.txt": [], "testing_list.txt": []}
    for k, f in enumerate(freqs):
        name = f"tone{k}"
        names.append(name)
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            n = int(rng.uniform(min_s, max_s) * sample_rate)
            t = np.arange(n) / sample_rate
            wave = rng.uniform(0.2, 0.6) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
            wave = (wave + noise * rng.standard_normal(n)).astype(np.float32)
            rel = f"{name}/{i:03d}.wav"
            soundfile.write(root / rel, wave, sample_rate, subtype="PCM_16")
            if i % 10 == 1:
                held["validation_list.txt"].append(rel)
            elif i % 10 == 2:
                held["testing_list.txt"].append(rel)
    for list_name, files in held.items():
        (root / list_name).write_text("".join(f + "\n" for f in files))
    return names


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m cnnlstm.data.make_tones DIR [files_per_class]")
    classes = make_tone_folder(sys.argv[1], *(int(a) for a in sys.argv[2:]))
    print(f"wrote {sys.argv[1]}: classes {', '.join(classes)}")
