"""Evaluate a checkpoint on the test split: ``python eval.py ckpt_path=PATH [data.batch_size=1 ...]``.

The model and data are rebuilt from the config stored in the checkpoint; other ``key=value``
arguments override it. Writes ``metrics.json`` into ``output_dir`` (default:
``outputs/eval/<timestamp>``), never into the training run.
"""

import sys
import time
from pathlib import Path

from cnnlstm.engine.run import evaluate
from cnnlstm.errors import UserError


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(f"usage: python eval.py ckpt_path=PATH [output_dir=DIR] [key=value ...]\n\n{__doc__.strip()}")
        return 0
    args = dict(a.split("=", 1) for a in argv if "=" in a)
    bad = [a for a in argv if "=" not in a]
    if bad or "ckpt_path" not in args:
        print(f"error: usage: python eval.py ckpt_path=PATH [key=value ...] (got {' '.join(argv) or 'nothing'})",
              file=sys.stderr)
        return 2
    ckpt = args.pop("ckpt_path")
    out_dir = Path(args.pop("output_dir", f"outputs/eval/{time.strftime('%Y-%m-%d_%H-%M-%S')}"))
    try:
        metrics = evaluate(ckpt, [f"{k}={v}" for k, v in args.items()], out_dir)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(" ".join(f"{k}={v:.6g}" for k, v in metrics.items()))
    print(f"wrote {out_dir / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
