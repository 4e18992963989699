"""Hand-made miniatures of the real speech corpora's formats, written by the tests (no audio is committed)."""

from pathlib import Path

import numpy as np
import soundfile

# phones the TIMIT miniature cycles through (each with a distinct tone, so a model can learn them)
MINI_PHONES = ("h#", "sh", "iy", "q", "ae", "dcl", "d")


def tone(n: int, freq: float, rng, sample_rate: int = 16000) -> np.ndarray:
    t = np.arange(n) / sample_rate
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(n)).astype(np.float32)


def write_utterance(folder: Path, utt: str, rng, n_phones: int = 6, sphere: bool = True, upper: bool = True) -> Path:
    """One TIMIT utterance: ``<utt>.WAV`` (NIST SPHERE, 16-bit) and ``.PHN``, ``.WRD``, ``.TXT``."""
    folder.mkdir(parents=True, exist_ok=True)
    segments, audio, start = [], [], 0
    for k in range(n_phones):
        phone = MINI_PHONES[int(rng.integers(len(MINI_PHONES)))] if 0 < k < n_phones - 1 else "h#"
        n = int(rng.integers(800, 2400))
        audio.append(tone(n, 300 + 250 * MINI_PHONES.index(phone), rng))
        segments.append(f"{start} {start + n} {phone}")
        start += n
    ext = (lambda e: e.upper()) if upper else (lambda e: e.lower())
    path = folder / f"{utt}{ext('.wav')}"
    kind = {"format": "NIST", "subtype": "PCM_16"} if sphere else {"format": "WAV", "subtype": "PCM_16"}
    soundfile.write(path, np.concatenate(audio), 16000, **kind)
    (folder / f"{utt}{ext('.phn')}").write_text("\n".join(segments) + "\n")
    (folder / f"{utt}{ext('.wrd')}").write_text(f"0 {start} word\n")
    (folder / f"{utt}{ext('.txt')}").write_text(f"0 {start} A sentence.\n")
    return path


def make_timit(root: Path, train_speakers=("FCJF0", "MDAC0", "MJSW0", "FDML0"), test_speakers=("MDAB0", "FAKS0"),
               utterances=("SA1", "SI648", "SX38", "SX128"), seed: int = 0, **kind) -> Path:
    """A TIMIT tree: TRAIN/DR1/<speaker>/ and TEST/DR1/<speaker>/ (MDAB0: core test, FAKS0: dev)."""
    rng = np.random.default_rng(seed)
    upper = kind.get("upper", True)
    for part, speakers in (("TRAIN", train_speakers), ("TEST", test_speakers)):
        for speaker in speakers:
            name = (lambda s: s) if upper else str.lower
            for utt in utterances:
                write_utterance(Path(root) / name(part) / name("DR1") / name(speaker), name(utt), rng, **kind)
    return Path(root)


def make_speech_commands(root: Path, words=("yes", "no", "up", "cat", "dog"), per_word: int = 10,
                         noise: bool = True, seed: int = 0, clip: int = 16000) -> Path:
    """A Speech Commands folder: <word>/<hash>_nohash_<k>.wav (1 s or shorter), the two lists,
    and (``noise``) two background-noise files."""
    rng, root = np.random.default_rng(seed), Path(root)
    held = {"validation_list.txt": [], "testing_list.txt": []}
    for w, word in enumerate(words):
        (root / word).mkdir(parents=True, exist_ok=True)
        for i in range(per_word):
            name = f"{word}/{i:04x}beef_nohash_0.wav"
            n = clip if i % 3 else int(rng.integers(clip // 2, clip))
            soundfile.write(root / name, tone(n, 300 + 200 * w, rng), 16000, subtype="PCM_16")
            if i % 5 == 1:
                held["validation_list.txt"].append(name)
            elif i % 5 == 2:
                held["testing_list.txt"].append(name)
    for name, entries in held.items():
        (root / name).write_text("\n".join(entries) + "\n")
    if noise:
        (root / "_background_noise_").mkdir(exist_ok=True)
        for k in range(2):
            wave = (0.3 * rng.standard_normal(3 * clip)).astype(np.float32)
            soundfile.write(root / "_background_noise_" / f"noise{k}.wav", wave, 16000, subtype="PCM_16")
    return root
