"""Small generated corpora in the real on-disk layouts, for the speech benchmarks (noisy tones, no real speech)."""

from pathlib import Path

import numpy as np


def _tone(rng, n: int, freq: float) -> np.ndarray:
    t = np.arange(n) / 16000
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)


def write_speech_commands(root: str | Path, clips: int, words: int = 8, seed: int = 0) -> Path:
    """``clips`` one-second WAV clips in ``<word>/<k>_nohash_0.wav`` (a tenth in each held-out list),
    and one background-noise file."""
    import soundfile

    root, rng = Path(root), np.random.default_rng(seed)
    held = {"validation_list.txt": [], "testing_list.txt": []}
    for i in range(clips):
        word = f"word{i % words}"
        (root / word).mkdir(parents=True, exist_ok=True)
        name = f"{word}/{i:08x}_nohash_0.wav"
        soundfile.write(root / name, _tone(rng, 16000, 300 + 150 * (i % words)), 16000, subtype="PCM_16")
        if i % 10 in (1, 2):
            held["validation_list.txt" if i % 10 == 1 else "testing_list.txt"].append(name)
    for name, entries in held.items():
        (root / name).write_text("\n".join(entries) + "\n")
    (root / "_background_noise_").mkdir(exist_ok=True)
    soundfile.write(root / "_background_noise_" / "noise.wav", (0.2 * rng.standard_normal(160000)).astype(np.float32),
                    16000, subtype="PCM_16")
    return root


def write_timit(root: str | Path, speakers: int, per_speaker: int = 8, seed: int = 0) -> Path:
    """A TIMIT tree of NIST SPHERE utterances of 1-4 s with ``.PHN`` files (TRAIN and a small TEST)."""
    import soundfile

    root, rng = Path(root), np.random.default_rng(seed)
    phones = ("h#", "sh", "iy", "ae", "d", "s", "n")
    for s in range(speakers):
        part = "TEST" if s % 8 == 7 else "TRAIN"
        folder = root / part / "DR1" / f"MSPK{s}"
        folder.mkdir(parents=True, exist_ok=True)
        for u in range(per_speaker):
            n, bounds = int(rng.integers(16000, 64000)), [0]
            while bounds[-1] < n:
                bounds.append(min(n, bounds[-1] + int(rng.integers(800, 2400))))
            labels = [phones[int(rng.integers(len(phones)))] for _ in bounds[1:]]
            soundfile.write(folder / f"SX{u}.WAV", _tone(rng, n, 440.0), 16000, format="NIST", subtype="PCM_16")
            (folder / f"SX{u}.PHN").write_text("".join(f"{a} {b} {p}\n" for a, b, p in zip(bounds, bounds[1:], labels)))
    return root
