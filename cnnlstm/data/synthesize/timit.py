"""Write a corpus in the LDC TIMIT layout: ``TRAIN|TEST/DR<k>/<speaker>/<utt>.{WAV,PHN,WRD,TXT}``.

Each utterance is synthesized by festival (segment timings included), warped into its speaker
with sox, and written as 16 kHz 16-bit NIST SPHERE (or RIFF WAV) with TIMIT's transcriptions in
samples of the written file: ``.PHN`` (``start end phone``, 61-phone set, contiguous from 0 to the
file's last sample), ``.WRD`` (``start end word``) and ``.TXT`` (``0 end text``).
"""

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from cnnlstm.data.synthesize import festival, sentences
from cnnlstm.data.synthesize.phones import timit_phones
from cnnlstm.data.synthesize.scratch import scratch_folder
from cnnlstm.data.synthesize.speakers import SAMPLE_RATE, Speaker, speakers, warp
from cnnlstm.data.synthesize.tools import require
from cnnlstm.files import write_atomic

SX_READERS = 7  # TIMIT: each SX sentence is read by seven speakers
SX_FIRST, SI_FIRST = 3, 453  # TIMIT's numbering: SX3..SX452, SI453..
UTTERANCES_PER_FESTIVAL = 100
F0_SPREAD = 0.13  # F0 standard deviation over mean (kal_diphone's own: 14 / 105)


def utterance_counts(per_speaker: int) -> tuple[int, int, int]:
    """``(SA, SX, SI)`` per speaker: two SA first, the rest 5:3 like TIMIT's 10 = 2 + 5 + 3."""
    sa = min(2, per_speaker)
    sx = round((per_speaker - sa) * 5 / 8)
    return sa, sx, per_speaker - sa - sx


def plan(people: list[Speaker], per_speaker: int, rng: np.random.Generator) -> dict[str, list[tuple[str, str]]]:
    """Each speaker's ``(utterance name, text)``: SA1/SA2 shared by all, SX from a pool read by ~7, SI unique."""
    n_sa, n_sx, n_si = utterance_counts(per_speaker)
    pool = sentences.sentences(max(n_sx, math.ceil(len(people) * n_sx / SX_READERS)), rng, set(sentences.SA.values()))
    unique = sentences.sentences(len(people) * n_si, rng, set(pool) | set(sentences.SA.values()))
    out = {}
    for k, person in enumerate(people):
        utts = list(sentences.SA.items())[:n_sa]
        utts += [(f"SX{SX_FIRST + int(i)}", pool[int(i)]) for i in sorted(rng.choice(len(pool), n_sx, replace=False))]
        utts += [(f"SI{SI_FIRST + k * n_si + j}", unique[k * n_si + j]) for j in range(n_si)]
        out[person.id] = utts
    return out


def sample_ends(result: festival.Festival, scale: float, n_samples: int) -> list[int]:
    """Festival's segment ends (seconds) in samples of the warped file; the last one is its end."""
    ends = [min(round(t * SAMPLE_RATE * scale), n_samples) for t in result.ends]
    ends[-1] = n_samples
    return ends


def word_rows(result: festival.Festival, ends: list[int]) -> list[tuple[int, int, str]]:
    """``(start, end, word)``: from the start of a word's first segment to the end of its last."""
    rows, start = [], 0
    for end, wid, name in zip(ends, result.word_ids, result.words):
        if wid != "0":
            if rows and rows[-1][3] == wid:
                rows[-1][1] = end
            else:
                rows.append([start, end, sentences.words(name)[0], wid])
        start = end
    return [(s, e, w) for s, e, w, _ in rows if e > s]


def write_utterance(stem: Path, audio: np.ndarray, result: festival.Festival, ends: list[int], text: str,
                    audio_format: str) -> None:
    """``stem.WAV`` (NIST SPHERE or RIFF) with its ``.PHN``, ``.WRD`` and ``.TXT``."""
    import soundfile

    soundfile.write(stem.with_suffix(".WAV"), audio, SAMPLE_RATE, format="NIST" if audio_format == "nist" else "WAV",
                    subtype="PCM_16")
    phn = timit_phones(ends, result.phones, result.phoneset)
    stem.with_suffix(".PHN").write_text("".join(f"{s} {e} {p}\n" for s, e, p in phn))
    stem.with_suffix(".WRD").write_text("".join(f"{s} {e} {w}\n" for s, e, w in word_rows(result, ends)))
    stem.with_suffix(".TXT").write_text(f"0 {len(audio)} {text}\n")


def finish(job: tuple, root: Path, tmp: Path, audio_format: str) -> None:
    """Warp one synthesized utterance into its speaker and write its four files."""
    import soundfile

    person, name, text, result = job
    warped = tmp / f"{person.id}_{name}.wav"
    warp(result.wav, warped, person)
    audio, _ = soundfile.read(warped, dtype="int16")
    folder = root / person.split / person.dialect / person.id
    folder.mkdir(parents=True, exist_ok=True)
    write_utterance(folder / name, audio, result, sample_ends(result, person.time_scale, len(audio)), text, audio_format)
    warped.unlink()
    result.wav.unlink()


def check_tools(voices: list[str]) -> None:
    """MissingTool unless festival, the festival ``voices`` and sox are installed."""
    festival.check_voices(voices)
    require("sox")


def make_timit(root: Path, n_speakers: int, per_speaker: int, seed: int, voices: list[str],
               audio_format: str = "nist", workers: int = 2) -> list[Speaker]:
    """Write the corpus into ``root`` (which exists); returns the speakers, also in ``root/synthesis.json``."""
    check_tools(voices)
    rng = np.random.default_rng(seed)
    people = speakers(n_speakers, voices, rng)
    utts = plan(people, per_speaker, rng)
    todo = [(p, name, text) for p in people for name, text in utts[p.id]]
    chunks = [todo[i:i + UTTERANCES_PER_FESTIVAL] for i in range(0, len(todo), UTTERANCES_PER_FESTIVAL)]
    with scratch_folder(root) as tmp, ThreadPoolExecutor(workers) as pool:  # DIR/.synth-*, ours
        for results in pool.map(lambda k: synthesize_chunk(chunks[k], tmp / f"f{k}"),
                                range(len(chunks))):
            list(pool.map(lambda j: finish(j, root, tmp, audio_format), results))
    record = {"corpus": "timit", "seed": seed, "voices": voices,
              "speakers": [p.record() for p in people]}
    write_atomic(root / "synthesis.json", (json.dumps(record, indent=1) + "\n").encode())
    return people


def f0_targets(person: Speaker) -> tuple[float | None, float | None]:
    """Festival's target F0 mean and spread: the speaker's ``f0`` before the warp multiplies it by ``vtl``."""
    if person.f0 is None:
        return None, None
    return person.f0 / person.vtl, F0_SPREAD * person.f0 / person.vtl


def synthesize_chunk(chunk: list[tuple], folder: Path) -> list[tuple]:
    """Festival over one chunk of ``(speaker, name, text)``: ``(speaker, name, text, result)``."""
    jobs = [festival.Job(f"{p.id}/{name}", p.voice, text, *f0_targets(p)) for p, name, text in chunk]
    results = festival.synthesize(jobs, folder)
    return [(p, name, text, results[f"{p.id}/{name}"]) for p, name, text in chunk]
