"""TIMIT speakers made from a few festival voices: ids, dialect regions, the split, and the sox warp.

A speaker is a voice plus three numbers: a vocal-tract-length factor ``vtl`` (sox ``speed``:
every frequency, formants and pitch, times ``vtl``, duration divided by it), a speaking-rate
factor ``tempo`` (sox ``tempo``: duration divided by it, spectrum kept) and a target pitch
``f0`` (Hz; festival's diphone voices are asked for ``f0 / vtl`` so the warp lands on ``f0``;
``None`` for the HTS voice, which keeps its own pitch, times ``vtl``). A speaker of the other gender than the voice gets a
larger warp (about 17 %), the usual male<->female vocal-tract ratio. Festival's times are
multiplied by :attr:`Speaker.time_scale` to get the warped file's.
"""

import string
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cnnlstm.data.synthesize.festival import VOICES
from cnnlstm.data.synthesize.tools import run

SAMPLE_RATE = 16000
DIALECTS = [f"DR{k}" for k in range(1, 9)]
TEST_SHARE = 0.27  # TIMIT: 168 of 630 speakers
FEMALE_SHARE = 0.3  # TIMIT: 192 of 630
F0 = {"M": (115.0, 15.0, 85.0, 160.0), "F": (205.0, 20.0, 160.0, 260.0)}  # mean, spread, low, high
SAME_GENDER_VTL = (0.93, 1.07)
CROSS_GENDER_VTL = {"F": (1.12, 1.22), "M": (0.80, 0.88)}  # the speaker's gender
TEMPO = (0.85, 1.15)


@dataclass
class Speaker:
    """One generated TIMIT speaker."""

    id: str
    gender: str
    dialect: str
    split: str
    voice: str
    vtl: float
    tempo: float
    f0: float | None

    @property
    def time_scale(self) -> float:
        """Warped duration over festival's duration."""
        return 1.0 / (self.vtl * self.tempo)

    def record(self) -> dict:
        """The speaker as JSON for ``synthesis.json``."""
        return asdict(self)


def speaker_ids(genders: list[str], rng: np.random.Generator) -> list[str]:
    """TIMIT style ids: gender, three initials, a digit that tells apart speakers with equal initials."""
    ids, taken = [], set()
    for gender in genders:
        initials = "".join(rng.choice(list(string.ascii_uppercase), 3))
        digit = 0
        while f"{gender}{initials}{digit}" in taken:
            digit += 1
        ids.append(f"{gender}{initials}{digit}")
        taken.add(ids[-1])
    return ids


def speakers(count: int, voices: list[str], rng: np.random.Generator) -> list[Speaker]:
    """``count`` speakers: about 30 % female, dialect regions in turn, about 27 % in TEST (at least one
    TRAIN speaker, and one TEST speaker once there are two)."""
    genders = ["F" if g else "M" for g in rng.random(count) < FEMALE_SHARE]
    ids = speaker_ids(genders, rng)
    n_test = min(count - 1, max(1 if count >= 2 else 0, round(TEST_SHARE * count)))
    test = set(rng.choice(count, n_test, replace=False).tolist())
    dialects = rng.permutation(count) % len(DIALECTS)
    out = []
    for i, (sid, gender) in enumerate(zip(ids, genders)):
        voice = str(rng.choice(voices))
        low, high = SAME_GENDER_VTL if VOICES[voice][1] == gender else CROSS_GENDER_VTL[gender]
        mean, spread, f0_low, f0_high = F0[gender]
        vtl, tempo = round(float(rng.uniform(low, high)), 4), round(float(rng.uniform(*TEMPO)), 4)
        f0 = round(float(np.clip(rng.normal(mean, spread), f0_low, f0_high)), 1)
        out.append(Speaker(sid, gender, DIALECTS[dialects[i]], "TEST" if i in test else "TRAIN", voice, vtl, tempo,
                           f0 if VOICES[voice][2] else None))
    return out


def warp(source: Path, target: Path, speaker: Speaker) -> None:
    """Write ``source`` as ``speaker`` (16 kHz 16-bit mono WAV): sox ``speed vtl tempo -s tempo``.

    The output lasts ``time_scale`` times the input, to within a sample (``-R``: repeatable dither).
    """
    run(["sox", "-R", "-V1", str(source), "-b", "16", "-c", "1", str(target),
         "speed", f"{speaker.vtl:.4f}", "tempo", "-s", f"{speaker.tempo:.4f}", "rate", "-v", str(SAMPLE_RATE)])
