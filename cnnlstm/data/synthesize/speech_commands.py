"""Write a corpus in the Speech Commands v2 layout: ``<word>/<hash>_nohash_<k>.wav`` plus lists and noises.

Every file is 16 kHz 16-bit mono RIFF WAV of exactly 1 s. A speaker is an 8-hex-digit hash and
a numpy variant of a base voice; it says each word ``repeats`` times (``_nohash_0``, ``_1`` ...).
``validation_list.txt`` and ``testing_list.txt`` hold whole speakers, 10 % each unless told
otherwise (the real archive's shares; more held-out speakers give a finer validation estimate), chosen as
the real dataset chooses them: by the SHA-1 of the hash (:func:`which_set`, from the dataset's
README). The hashes are drawn so that this rule gives exactly the wanted share, so a loader that
recomputes it agrees with the lists.

The same seed gives the same speakers, renders and noises from the same base clips; the base
clips are the engines' own, taken as they come (an espeak-ng voice with breath noise was once seen
to say a word differently under a loaded test run).
"""

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from cnnlstm.data.synthesize import voices
from cnnlstm.data.synthesize.noise import write_noises
from cnnlstm.data.synthesize.scratch import scratch_folder
from cnnlstm.data.synthesize.variants import SAMPLE_RATE, Variant, render, variant
from cnnlstm.files import write_atomic

WORDS = ("yes no up down left right on off stop go zero one two three four five six seven eight nine "
         "bed bird cat dog happy house marvin sheila tree wow backward forward follow learn visual").split()
LISTS = {"validation": "validation_list.txt", "testing": "testing_list.txt"}
HELD_OUT_PERCENT = 10.0  # each of validation and testing
DEFAULT_PERCENTS = (HELD_OUT_PERCENT, HELD_OUT_PERCENT)  # (validation, testing), the real archive's
MAX_NUM_WAVS_PER_CLASS = 2 ** 27 - 1


def which_set(filename: str, validation_percentage: float = HELD_OUT_PERCENT,
              testing_percentage: float = HELD_OUT_PERCENT) -> str:
    """``training``, ``validation`` or ``testing``: the Speech Commands README's rule, by speaker hash."""
    hash_name = re.sub(r"_nohash_.*$", "", Path(filename).name)
    hashed = int(hashlib.sha1(hash_name.encode()).hexdigest(), 16)
    percentage = (hashed % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "testing"
    return "training"


def split_sizes(n_speakers: int, percents: tuple[float, float] = DEFAULT_PERCENTS) -> dict[str, int]:
    """Speakers per set: ``percents`` (validation, testing) held out, at least one each (unless its
    share is 0) from three speakers on, and at least one speaker left to train."""
    if sum(percents) >= 100:  # the hash rule would leave no share to training: drawing would never end
        raise ValueError(f"--validation-percent {percents[0]:g} plus --testing-percent {percents[1]:g} must be "
                         "below 100")
    if n_speakers < 3:
        return {"validation": 0, "testing": 0, "training": n_speakers}
    val, test = (max(1, round(n_speakers * p / 100)) if p > 0 else 0 for p in percents)
    if val + test >= n_speakers:
        raise ValueError(f"--validation-percent {percents[0]:g} and --testing-percent {percents[1]:g} leave no "
                         f"training speaker of {n_speakers}")
    return {"validation": val, "testing": test, "training": n_speakers - val - test}


def held_out_record(percents: tuple[float, float]) -> dict[str, float]:
    """The shares for ``synthesis.json``; none at the default, so default corpora stay byte-identical."""
    if percents == DEFAULT_PERCENTS:
        return {}
    return {"validation_percent": percents[0], "testing_percent": percents[1]}


def speaker_hashes(n_speakers: int, rng: np.random.Generator,
                   percents: tuple[float, float] = DEFAULT_PERCENTS) -> list[str]:
    """Distinct 8-hex-digit hashes, the first ones validation, then testing, then training by :func:`which_set`."""
    out, taken = [], set()
    for split, count in split_sizes(n_speakers, percents).items():
        while count:
            candidate = f"{int(rng.integers(0, 2 ** 32)):08x}"
            if candidate not in taken and which_set(candidate, *percents) == split:
                taken.add(candidate)
                out.append(candidate)
                count -= 1
    return out


def speakers(n_speakers: int, specs: list[str], rng: np.random.Generator,
             percents: tuple[float, float] = DEFAULT_PERCENTS) -> list[Variant]:
    """``n_speakers`` variants in hash order, the base voices dealt round in a shuffled order."""
    hashes = speaker_hashes(n_speakers, rng, percents)
    order = rng.permutation(n_speakers)
    return [variant(hashes[i], specs[order[i] % len(specs)], rng) for i in range(n_speakers)]


def write_clips(root: Path, people: list[Variant], words: list[str], repeats: int,
                clips: dict[tuple[str, str], np.ndarray], rng: np.random.Generator,
                percents: tuple[float, float] = DEFAULT_PERCENTS) -> dict[str, list[str]]:
    """Write every speaker's words; returns the relative paths of each set."""
    import soundfile

    sets = {"training": [], "validation": [], "testing": []}
    for word in words:
        (root / word).mkdir(parents=True, exist_ok=True)
    for person in people:
        split = which_set(person.hash, *percents)
        for word in words:
            for k in range(repeats):
                rel = f"{word}/{person.hash}_nohash_{k}.wav"
                soundfile.write(root / rel, render(clips[(person.voice, word)], person, rng), SAMPLE_RATE,
                                subtype="PCM_16")
                sets[split].append(rel)
    return sets


def make_speech_commands(root: Path, n_speakers: int, seed: int, specs: list[str], words: list[str] = WORDS,
                         repeats: int = 1, noise_seconds: float = 30.0, workers: int = 2,
                         percents: tuple[float, float] = DEFAULT_PERCENTS) -> list[Variant]:
    """Write the corpus into ``root`` (which exists); returns the speakers, also in ``root/synthesis.json``.
    ``percents``: the shares of speakers in validation and testing."""
    voices.check_voices(specs)
    rng = np.random.default_rng(seed)
    people = speakers(n_speakers, specs, rng, percents)
    with scratch_folder(root) as tmp:  # the engines' files in DIR/.synth-*, marked ours
        token = voices.SCRATCH.set(tmp)
        try:
            clips = voices.clips(specs, words, workers)
        finally:
            voices.SCRATCH.reset(token)
    sets = write_clips(root, people, words, repeats, clips, rng, percents)
    for split, name in LISTS.items():
        write_atomic(root / name, "".join(f"{rel}\n" for rel in sorted(sets[split])).encode())
    if noise_seconds > 0:
        write_noises(root / "_background_noise_", noise_seconds, list(clips.values()), rng)
    record = {"corpus": "speech_commands", "seed": seed, "voices": specs, "words": words,
              "repeats": repeats, **held_out_record(percents),
              "speakers": [p.record() for p in people]}
    write_atomic(root / "synthesis.json", (json.dumps(record, indent=1) + "\n").encode())
    return people
