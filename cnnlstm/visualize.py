"""Draw a model's architecture: ``python -m cnnlstm.visualize model=<name> [key=value ...]``.

Composes the same config as ``train.py`` (``+diagram_depth=N``: nesting depth, default 3), builds the model for the configured data, traces one
example batch with torchview and writes ``<model>.dot`` into the run directory, plus ``.svg`` and
``.png`` when a Graphviz ``dot`` program is available (the pip package ``graphviz-pure`` ships a
compatible one, so no system package is needed).
"""

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from cnnlstm.engine.run import build_parts, run_job

log = logging.getLogger(__name__)


def dot_program() -> str | None:
    """A Graphviz-compatible renderer: ``dot`` on PATH, or graphviz-pure's beside this Python."""
    for name in ("dot", "graphviz-pure"):
        found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
        if found:
            return found
    return None


def draw(cfg: DictConfig, out_dir: Path, depth: int = 3) -> list[Path]:
    """Write the diagram files for ``cfg``'s model into ``out_dir``; returns their paths."""
    from torchview import draw_graph

    data, task, model = build_parts(cfg, torch.device("cpu"))
    args, kwargs = task.model_inputs(data.example_batch(2))
    name = type(model).__name__
    graph = draw_graph(model, input_data=list(args), depth=depth, expand_nested=True, graph_name=name,
                       save_graph=False, **kwargs)
    out_dir.mkdir(parents=True, exist_ok=True)
    dot_path = out_dir / f"{name}.dot"
    dot_path.write_text(graph.visual_graph.source)
    written = [dot_path]
    program = dot_program()
    if program is None:
        log.warning("no dot program found: wrote %s only (pip install graphviz-pure to render SVG/PNG)", dot_path)
        return written
    for fmt in ("svg", "png"):
        target = out_dir / f"{name}.{fmt}"
        subprocess.run([program, f"-T{fmt}", str(dot_path), "-o", str(target)], check=True,
                       capture_output=True, timeout=120)
        written.append(target)
    return written


def _job(cfg: DictConfig, run_dir: Path) -> dict:
    for path in draw(cfg, run_dir, depth=int(cfg.get("diagram_depth", 3))):
        print(f"wrote {path}")
    return {}


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_job(_job, cfg, extra_keys=("diagram_depth",))  # `+diagram_depth=N`: how deep the diagram goes


if __name__ == "__main__":
    main()

__all__ = ["draw", "dot_program"]
