"""Base voices of the Speech Commands corpus: one clip per (voice, word) from festival, flite or espeak-ng.

A voice is named ``<engine>:<name>``: ``festival:kal_diphone``, ``flite:slt`` (``flite -lv`` lists
them), ``espeak:en-us+f3`` (a language plus an espeak-ng variant). Every clip is read back as
float32 at 16 kHz, its silence trimmed, its peak at 1; speakers are made from these in numpy
(:mod:`cnnlstm.data.synthesize.variants`).
"""

import math
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from pathlib import Path

import numpy as np

from cnnlstm.data.synthesize import festival
from cnnlstm.data.synthesize.tools import MissingTool, require, run
from cnnlstm.errors import DataError

SAMPLE_RATE = 16000
ENGINES = {"festival": "festival", "flite": "flite", "espeak": "espeak-ng"}
DEFAULT_VOICES = (
    "festival:kal_diphone", "festival:ked_diphone", "festival:cmu_us_slt_arctic_hts",
    "flite:kal16", "flite:awb", "flite:rms", "flite:slt",
    "espeak:en-us", "espeak:en-us+f2", "espeak:en-us+f3", "espeak:en-us+m3", "espeak:en-us+m5", "espeak:en+m2",
    "espeak:en+f4", "espeak:en-gb-scotland+m1", "espeak:en-gb-x-rp+f1", "espeak:en-gb-x-gbclan+m4",
    "espeak:en-029+m6", "espeak:en-us-nyc+f5",
)
# where clips() puts the engines' files: the corpus maker sets its marked DIR/.synth-* folder, so a
# killed run leaves nothing outside DIR and its rerun removes the rest (None: the system's temp)
SCRATCH: ContextVar[Path | None] = ContextVar("cnnlstm_synthesize_scratch", default=None)
TRIM_LEVEL = 0.02  # of the peak: quieter ends are silence
MARGIN_S = 0.02


def parse_voice(spec: str) -> tuple[str, str]:
    """``(engine, name)`` of ``engine:name``; ValueError naming the engines for anything else."""
    engine, _, name = spec.partition(":")
    if engine not in ENGINES or not name:
        raise ValueError(f"voice {spec!r} is not <engine>:<name> with engine one of {', '.join(ENGINES)}")
    return engine, name


def check_voices(specs: list[str]) -> None:
    """MissingTool for the first engine (or festival voice) of ``specs`` that is not installed."""
    engines = {parse_voice(s)[0] for s in specs}
    require(*(ENGINES[e] for e in sorted(engines)))
    if "festival" in engines:
        festival.check_voices([parse_voice(s)[1] for s in specs if s.startswith("festival:")])
    flite = [parse_voice(s)[1] for s in specs if s.startswith("flite:")]
    if flite:
        have = run(["flite", "-lv"]).split(":", 1)[-1].split()
        for name in flite:
            if name not in have:
                raise MissingTool(f"flite voice {name} not found: flite -lv lists {', '.join(have)}")


def load(path: Path) -> np.ndarray:
    """The clip at ``path`` as float32 mono 16 kHz, trimmed to its sound, peak 1."""
    import soundfile
    from scipy.signal import resample_poly

    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    audio = audio.mean(1)
    if rate != SAMPLE_RATE:
        g = math.gcd(rate, SAMPLE_RATE)
        audio = resample_poly(audio, SAMPLE_RATE // g, rate // g).astype(np.float32)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak == 0.0:
        raise DataError(f"{path}: the synthesizer wrote silence")
    loud = np.flatnonzero(np.abs(audio) > TRIM_LEVEL * peak)
    margin = int(MARGIN_S * SAMPLE_RATE)
    return audio[max(0, loud[0] - margin):loud[-1] + margin] / peak


def command(engine: str, name: str, word: str, out: Path) -> list[str]:
    """The flite or espeak-ng command writing ``word`` in voice ``name`` to ``out``."""
    if engine == "flite":
        return ["flite", "-voice", name, "-t", word, "-o", str(out)]
    return ["espeak-ng", "-v", name, "-w", str(out), word]


def clips(specs: list[str], words: list[str], workers: int = 2) -> dict[tuple[str, str], np.ndarray]:
    """``{(voice, word): clip}``: festival voices in one batch process, flite and espeak-ng a call per clip."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="cnnlstm-voices-", dir=SCRATCH.get()) as tmp:
        tmp = Path(tmp)
        jobs = [festival.Job(f"{s}|{w}", parse_voice(s)[1], w) for s in specs if s.startswith("festival:")
                for w in words]
        if jobs:
            for key, result in festival.synthesize(jobs, tmp / "festival").items():
                out[tuple(key.split("|"))] = load(result.wav)
        calls = [(s, w, tmp / f"{i}.wav") for i, (s, w) in enumerate((s, w) for s in specs for w in words)
                 if not s.startswith("festival:")]

        def one(call):
            spec, word, path = call
            run(command(*parse_voice(spec), word, path))
            return (spec, word), load(path)

        with ThreadPoolExecutor(workers) as pool:
            out.update(pool.map(one, calls))
    return {(s, w): out[(s, w)] for s in specs for w in words}
