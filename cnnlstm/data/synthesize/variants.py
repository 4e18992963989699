"""Speakers of the Speech Commands corpus made in numpy from a base voice's clips, cheaply.

A speaker is a base voice plus a speed factor (resampling: formants, pitch and duration change
together, like a shorter or longer vocal tract), a spectral tilt (a first-order filter, like a
different microphone), a level and a noise floor. Each repeat jitters the speed by a percent or
two and lands at a random offset around the middle of the 1 s clip. No subprocess per file, so
tens of thousands of files take minutes.
"""

from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np

SAMPLE_RATE = 16000
CLIP = SAMPLE_RATE  # samples: 1 s
SPEED = (0.86, 1.16)
TILT = (-0.5, 0.7)  # y[n] = x[n] - tilt * x[n-1]: > 0 brighter, < 0 darker
PEAK = (0.15, 0.9)
NOISE_DB = (-65.0, -40.0)  # noise floor against full scale
REPEAT_JITTER = 0.02
MAX_OFFSET = 0.1  # seconds either side of centred


@dataclass
class Variant:
    """One speaker: its base voice and how its clips differ from the voice's."""

    hash: str
    voice: str
    speed: float
    tilt: float
    peak: float
    noise_db: float

    def record(self) -> dict:
        """The speaker as JSON for ``synthesis.json``."""
        return asdict(self)


def variant(speaker_hash: str, voice: str, rng: np.random.Generator) -> Variant:
    """A random speaker on ``voice``."""
    return Variant(speaker_hash, voice, round(float(rng.uniform(*SPEED)), 4), round(float(rng.uniform(*TILT)), 3),
                   round(float(rng.uniform(*PEAK)), 3), round(float(rng.uniform(*NOISE_DB)), 1))


def change_speed(clip: np.ndarray, speed: float) -> np.ndarray:
    """``clip`` played ``speed`` times faster (every frequency times ``speed``), by polyphase resampling."""
    from scipy.signal import resample_poly

    ratio = Fraction(speed).limit_denominator(64)
    return resample_poly(clip, ratio.denominator, ratio.numerator).astype(np.float32)


def place(sound: np.ndarray, rng: np.random.Generator, length: int = CLIP) -> np.ndarray:
    """``sound`` in a ``length`` clip, centred up to :data:`MAX_OFFSET` off (cropped around its middle if longer)."""
    if sound.size > length:
        start = (sound.size - length) // 2
        return sound[start:start + length]
    slack = length - sound.size
    shift = int(rng.integers(-int(MAX_OFFSET * SAMPLE_RATE), int(MAX_OFFSET * SAMPLE_RATE) + 1))
    start = int(np.clip(slack // 2 + shift, 0, slack))
    out = np.zeros(length, np.float32)
    out[start:start + sound.size] = sound
    return out


def render(clip: np.ndarray, speaker: Variant, rng: np.random.Generator) -> np.ndarray:
    """One repeat of ``clip`` (a base-voice word, peak 1) said by ``speaker``: a 1 s float32 clip."""
    from scipy.signal import lfilter

    sound = change_speed(clip, speaker.speed * (1 + rng.uniform(-REPEAT_JITTER, REPEAT_JITTER)))
    sound = lfilter([1.0, -speaker.tilt], [1.0], sound).astype(np.float32)
    sound *= speaker.peak * rng.uniform(0.9, 1.1) / max(float(np.abs(sound).max()), 1e-6)
    out = place(sound, rng)
    out += (10 ** (speaker.noise_db / 20) * rng.standard_normal(out.size)).astype(np.float32)
    return np.clip(out, -1.0, 1.0)
