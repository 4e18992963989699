"""Festival in batch mode: many utterances per process, each saved as a WAV with its segment timings.

One generated Scheme script selects each voice once and synthesizes all of that voice's
utterances; for every segment it prints ``SEG <job> <phone> <end seconds> <word id> <word>``,
which :func:`synthesize` parses into :class:`Festival` results. The diphone voices take a target
F0 (mean and spread, Hz) through ``int_lr_params``; the HTS voice keeps its own.
"""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cnnlstm.data.synthesize.tools import FESTIVAL_VOICE_PACKAGES, MissingTool, require, run
from cnnlstm.errors import DataError

VOICES = {  # name: (phoneset, natural gender, F0 settable)
    "kal_diphone": ("radio", "M", True),
    "ked_diphone": ("radio", "M", True),
    "cmu_us_slt_arctic_hts": ("radio", "F", False),
}

DUMP = """
(define (dump job utt)
  (utt.synth utt)
  (utt.save.wave utt (string-append job ".wav") 'riff)
  (mapcar (lambda (s) (format t "SEG %s %s %f %s %s\\n" job (item.name s) (item.feat s "end")
                              (item.feat s "R:SylStructure.parent.parent.id")
                              (item.feat s "R:SylStructure.parent.parent.name")))
          (utt.relation.items utt 'Segment))
  t)
"""


@dataclass
class Job:
    """One utterance to synthesize: ``text`` in ``voice`` at target F0 ``f0_mean`` (Hz, diphone voices)."""

    key: str
    voice: str
    text: str
    f0_mean: float | None = None
    f0_std: float | None = None


@dataclass
class Festival:
    """A synthesized utterance: its WAV file and segments (end times in seconds, the word of each)."""

    wav: Path
    phoneset: str = "radio"
    phones: list[str] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    word_ids: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)


def check_voices(voices: list[str]) -> None:
    """MissingTool for festival itself or the first of ``voices`` it does not have (with its package)."""
    require("festival")
    unknown = [v for v in voices if v not in VOICES]
    if unknown:
        raise MissingTool(f"unknown festival voice {unknown[0]}: choose from {', '.join(VOICES)}")
    have = run(["festival", "-b", "(format t \"%l\\n\" (voice.list))"]).strip("()\n ").split()
    for voice in voices:
        if voice not in have:
            raise MissingTool(f"festival voice {voice} not found: install it with "
                              f"apt-get install -y {FESTIVAL_VOICE_PACKAGES[voice]}")


def quote(text: str) -> str:
    """``text`` as a Scheme string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def script(jobs: list[Job], folder: Path) -> str:
    """The Scheme program synthesizing ``jobs`` into ``folder/<index>.wav``, grouped by voice."""
    lines = [DUMP]
    for voice in dict.fromkeys(j.voice for j in jobs):
        lines.append(f"(voice_{voice})")
        for i, job in enumerate(jobs):
            if job.voice != voice:
                continue
            if job.f0_mean is not None and VOICES[voice][2]:
                lines.append(f"(set! int_lr_params '((target_f0_mean {job.f0_mean:.1f}) (target_f0_std "
                             f"{job.f0_std:.1f}) (model_f0_mean 170) (model_f0_std 34)))")
            lines.append(f"(dump {quote(str(folder / str(i)))} (Utterance Text {quote(job.text)}))")
    return "\n".join(lines) + "\n"


def synthesize(jobs: list[Job], folder: Path) -> dict[str, Festival]:
    """Run one festival process over ``jobs``; the result of each job's ``key`` (WAVs in ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".scm", dir=folder, delete=False) as f:
        f.write(script(jobs, folder))
    out = run(["festival", "-b", f.name])
    results = {job.key: Festival(folder / f"{i}.wav", VOICES[job.voice][0]) for i, job in enumerate(jobs)}
    by_index = list(results.values())
    for line in out.splitlines():
        parts = line.split(" ", 5)
        if len(parts) < 5 or parts[0] != "SEG":
            continue
        r = by_index[int(Path(parts[1]).name)]
        r.phones.append(parts[2])
        r.ends.append(float(parts[3]))
        r.word_ids.append(parts[4])
        r.words.append(parts[5] if len(parts) > 5 else "0")
    missing = [k for k, r in results.items() if not r.phones or not r.wav.is_file()]
    if missing:
        raise DataError(f"festival wrote no audio or segments for {missing[0]!r}")
    return results
