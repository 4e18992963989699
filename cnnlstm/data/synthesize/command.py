"""The command line ``python -m cnnlstm.data.synthesize {timit,speech_commands} DIR ...``.

argparse with the project's one-line errors: a bad argument, a DIR that is not empty (without
``--overwrite``) or not writable, and a missing synthesizer each print one ``error: ...`` line
and exit 2; the missing-synthesizer line says which ``apt-get install`` fixes it.

A run killed half-way leaves its scratch folders (``.synth-*``) and a partial corpus behind; the
rerun recognises them as its own by their markers (:mod:`.scratch`: a marker file that no live
process holds locked) and removes them before it writes, without ``--overwrite``; anything else in
DIR still makes a non-empty DIR. Nothing is followed through a symlink: one among the names this
command writes is removed as a link, and the top-level files are written atomically.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

from cnnlstm.arguments import NonNegativeFloat, PositiveInt, cli_type, within
from cnnlstm.data.synthesize import festival, scratch, speech_commands, timit, voices
from cnnlstm.errors import UserError, first_line

LARGE_HELP = ("Each (voice, word) is synthesized once and every speaker is a numpy variant of a voice "
              "(speed, tilt, level, noise), so big folders are cheap: --speakers 1429 writes 1429 x 35 = "
              "50,015 files (1.6 GB) in about 3 minutes (measured on 2 busy cores); --repeats K multiplies the files "
              "by K at the same cost per file.")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad arguments as one ``error: ...`` line and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


count = cli_type(PositiveInt)  # argparse types: an integer >= 1, seconds >= 0
seconds = cli_type(NonNegativeFloat)
percent = cli_type(Annotated[float, within(0, 100)])  # a share of speakers: [0, 100)


def common(sub: argparse.ArgumentParser) -> None:
    """Arguments of both corpora."""
    sub.add_argument("dir", type=Path, help="folder to write (absent or empty unless --overwrite)")
    sub.add_argument("--seed", type=int, default=0, help="seed of every choice (default 0)")
    sub.add_argument("--overwrite", action="store_true",
                     help="write into a non-empty DIR, first removing what this command writes there")
    sub.add_argument("--workers", type=count, default=min(2, os.cpu_count() or 1),
                     help="synthesizer processes at once (default: min(2, CPUs))")


def parser() -> OneLineParser:
    """The parser with its two sub-commands."""
    top = OneLineParser(prog="python -m cnnlstm.data.synthesize",
                        description="Write a speech corpus offline, in the real on-disk format, with festival, "
                                    "flite, espeak-ng and sox.")
    subs = top.add_subparsers(dest="corpus", required=True, parser_class=OneLineParser)
    t = subs.add_parser("timit", help="LDC TIMIT layout: TRAIN|TEST/DR<k>/<speaker>/<utt>.WAV/.PHN/.WRD/.TXT",
                        description="TIMIT layout from festival voices warped into speakers by sox.")
    common(t)
    t.add_argument("--speakers", type=count, default=24, help="speakers (default 24; about 27%% go to TEST)")
    t.add_argument("--sentences", type=count, default=10,
                   help="utterances per speaker (default 10: SA1, SA2, 5 SX, 3 SI as in TIMIT)")
    t.add_argument("--voices", nargs="+", choices=list(festival.VOICES), default=list(festival.VOICES),
                   help="festival voices (default all three)")
    t.add_argument("--format", choices=["nist", "wav"], default="nist",
                   help="audio container of the .WAV files: NIST SPHERE like TIMIT (default) or RIFF WAV")
    s = subs.add_parser("speech_commands", help="Speech Commands v2 layout: <word>/<hash>_nohash_<k>.wav",
                        description="Speech Commands v2 layout from festival, flite and espeak-ng voices. "
                                    + LARGE_HELP, epilog=LARGE_HELP)
    common(s)
    s.add_argument("--speakers", type=count, default=50, help="speakers (default 50; 10%% validation, 10%% testing: "
                   "see --validation-percent, --testing-percent)")
    s.add_argument("--validation-percent", type=percent, default=speech_commands.HELD_OUT_PERCENT,
                   help="share of speakers in validation_list.txt (default 10, the real archive's)")
    s.add_argument("--testing-percent", type=percent, default=speech_commands.HELD_OUT_PERCENT,
                   help="share of speakers in testing_list.txt (default 10, the real archive's)")
    s.add_argument("--words", nargs="+", choices=speech_commands.WORDS, default=speech_commands.WORDS,
                   metavar="WORD", help="words (default the 35 of v2)")
    s.add_argument("--repeats", type=count, default=1, help="times each speaker says each word (default 1)")
    s.add_argument("--voices", nargs="+", default=list(voices.DEFAULT_VOICES), metavar="ENGINE:NAME",
                   help="base voices: festival:<voice>, flite:<voice>, espeak:<voice>[+variant] "
                        f"(default {len(voices.DEFAULT_VOICES)}: {' '.join(voices.DEFAULT_VOICES)})")
    s.add_argument("--noise-seconds", type=seconds, default=30.0,
                   help="length of each _background_noise_ file (default 30; 0: no noise folder)")
    return top


def written_by_us(args: argparse.Namespace) -> list[Path]:
    """What this command writes into DIR, which ``--overwrite`` removes first."""
    names = ["TRAIN", "TEST"] if args.corpus == "timit" else [
        *speech_commands.WORDS, "_background_noise_", *speech_commands.LISTS.values()]
    return [args.dir / n for n in [*names, "synthesis.json"]]


def leftovers(args: argparse.Namespace) -> set[Path]:
    """What an earlier run of this command provably left in DIR, removable without
    ``--overwrite``: dead runs' scratch folders and, when a run died before it finished (its
    run marker), the marker and this corpus's names."""
    found = set(scratch.stale_scratch(args.dir))
    if scratch.interrupted(args.dir):
        found |= {args.dir / scratch.RUN_MARKER, *filter(os.path.lexists, written_by_us(args))}
    return found


def check_dir(args: argparse.Namespace) -> None:
    """UserError for a DIR that is a file, or a folder holding more than an interrupted run's
    leftovers without ``--overwrite`` (writes nothing)."""
    if args.dir.exists() and not args.dir.is_dir():
        raise UserError(f"DIR {args.dir} is a file, not a folder")
    if not args.dir.is_dir():
        return
    scratch.check_not_busy(args.dir)
    if args.overwrite:
        return
    ours = leftovers(args)
    others = sorted(p.name for p in args.dir.iterdir() if p not in ours)
    if others and all(name.startswith(scratch.SCRATCH_PREFIX) for name in others):
        raise UserError(f"DIR {args.dir} holds {others[0]}, not provably a dead run's scratch "
                        "folder (a run still writing DIR, or one of an older version): remove it "
                        "if no run is writing DIR")
    if others:
        raise UserError(f"DIR {args.dir} is not empty: choose a new folder or pass --overwrite")


def check_tools(args: argparse.Namespace) -> None:
    """MissingTool unless the synthesizers (and voices) of this corpus are installed."""
    if args.corpus == "timit":
        timit.check_tools(args.voices)
    else:
        voices.check_voices(args.voices)


def prepare(args: argparse.Namespace) -> None:
    """Create DIR; UserError if it cannot be written (probed with a fresh file that is never a
    symlink, made with O_EXCL)."""
    try:
        args.dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=args.dir, prefix=".synthesize-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UserError(f"cannot write DIR {args.dir}: {e.strerror or first_line(e)}") from None


def clear(args: argparse.Namespace, reclaim: bool) -> None:
    """Remove dead runs' scratch folders and, with ``reclaim`` (``--overwrite``, or a run that
    died before it finished), what this command writes: a symlink among them is removed as a
    link, a folder with what is inside it (links inside are not followed)."""
    scratch.remove_stale_scratch(args.dir)
    for path in written_by_us(args) if reclaim else []:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif os.path.lexists(path):
            path.unlink()


def run(args: argparse.Namespace) -> str:
    """Write the corpus; the summary line."""
    if args.corpus == "timit":
        people = timit.make_timit(args.dir, args.speakers, args.sentences, args.seed, args.voices, args.format,
                                  args.workers)
        test = sum(p.split == "TEST" for p in people)
        return f"{len(people)} speakers ({test} TEST), {args.sentences} utterances each"
    people = speech_commands.make_speech_commands(args.dir, args.speakers, args.seed, args.voices, args.words,
                                                  args.repeats, args.noise_seconds, args.workers,
                                                  (args.validation_percent, args.testing_percent))
    return f"{len(people)} speakers x {len(args.words)} words x {args.repeats} = " \
           f"{len(people) * len(args.words) * args.repeats} files"


def main(argv: list[str]) -> int:
    """Parse, check DIR and the tools, write; 0 on success, 2 (one stderr line) on a bad argument, DIR or tool."""
    args = parser().parse_args(argv)
    args.voices = list(dict.fromkeys(args.voices))
    if args.corpus == "speech_commands":
        args.words = list(dict.fromkeys(args.words))
    try:
        if args.corpus == "speech_commands":  # before DIR is touched: a bad share leaves it as it was
            speech_commands.split_sizes(args.speakers, (args.validation_percent, args.testing_percent))
        check_dir(args)
        check_tools(args)
        prepare(args)
        reclaim = args.overwrite or scratch.interrupted(args.dir)  # before this run takes it
        with scratch.run_marker(args.dir):
            clear(args, reclaim)
            start = time.perf_counter()
            summary = run(args)
    except (UserError, ValueError) as e:
        print(f"error: {first_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:  # the disk filled up, DIR vanished ...: what is written so far stays
        print(f"error: writing {args.dir} failed: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.dir}: {summary} in {time.perf_counter() - start:.1f} s")
    return 0
