"""Layers import downward only: nn <- models <- data | tasks <- engine <- entry points.

Every ``import`` of a ``cnnlstm`` module in the package (function-local ones included) is read
from the source with ``ast``, so a lazy import cannot hide an upward dependency.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnnlstm"

# rank of each layer: a module may import modules of a lower rank, and of its own rank only in
# its own layer (data and tasks share a rank but must not import each other)
LAYERS = {
    "errors": 0,
    "arguments": 1, "files": 1,
    "nn": 2,
    "models": 3,
    "data": 4, "tasks": 4,
    "engine": 5,
    "cli_args": 6,
    "stream": 7, "restore": 7, "bench": 7, "visualize": 7, "experiments": 7,
}


def layer_of(module: str) -> str:
    """``cnnlstm.engine.run`` -> ``engine``; ``cnnlstm`` itself -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``cnnlstm`` import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("cnnlstm")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("cnnlstm"):
            found.append((node.lineno, node.module))
    return found


def upward_imports() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = layer_of("cnnlstm." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        if here == "__init__":
            continue
        assert here in LAYERS, f"{path}: add its layer to LAYERS"
        for line, module in imported_modules(path):
            there = layer_of(module)
            if there in ("", here):
                continue
            if LAYERS[there] >= LAYERS[here]:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({here}) imports {module} ({there})")
    return bad


def test_layers_import_downward_only():
    assert upward_imports() == []


@pytest.mark.parametrize("source,expected", [
    ("from cnnlstm.engine.run import train\n", [(1, "cnnlstm.engine.run")]),
    ("def f():\n    import cnnlstm.tasks.base\n", [(2, "cnnlstm.tasks.base")]),
    ("from . import sibling\nimport torch\n", []),
])
def test_the_check_sees_every_kind_of_import(tmp_path, source, expected):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert imported_modules(path) == expected
