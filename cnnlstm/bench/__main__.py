"""``python -m cnnlstm.bench [--device auto|cpu|cuda] [--only SECTION ...] [--quick] [--out bench.json]``.

Prints one table per section and writes every record to ``bench.json``.
"""

import argparse
import json
import platform
from pathlib import Path

import torch

from cnnlstm.bench import cldnn_profile, families, speech, streaming, tutorial
from cnnlstm.engine.precision import resolve_device

SECTIONS = {"tutorial": tutorial.run, "families": families.run, "streaming": streaming.run, "speech": speech.run,
            "cldnn_profile": cldnn_profile.run}


def machine() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def print_table(records: list[dict]) -> None:
    keys = list(dict.fromkeys(k for r in records for k in r))
    rows = [[_fmt(r.get(k, "")) for k in keys] for r in records]
    widths = [max(len(k), *(len(row[i]) for row in rows)) for i, k in enumerate(keys)]
    print(" | ".join(k.ljust(w) for k, w in zip(keys, widths)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(v.ljust(w) for v, w in zip(row, widths)))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", nargs="*", choices=sorted(SECTIONS), default=None)
    parser.add_argument("--out", default="bench.json")
    parser.add_argument("--quick", action="store_true", help="few steps per variant: a smoke run, not numbers")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"machine: {machine()}, torch {torch.__version__}")
    records = []
    for name in args.only or SECTIONS:
        section = SECTIONS[name](device, quick=args.quick)
        print(f"\n== {name}")
        print_table(section)
        records += section
    Path(args.out).write_text(json.dumps(records, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
