"""Layers import downward only: nn <- models <- data / tasks <- engine <- entry points."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnnlstm"
BOTTOM = {"arguments", "errors"}  # importable by every layer
ALLOWED = {
    "nn": {"nn"},
    "models": {"nn", "models"},
    "data": {"nn", "models", "data"},
    "tasks": {"nn", "models", "tasks"},
}


def imported_layers(path: Path) -> set[str]:
    """The ``cnnlstm.<layer>`` packages and modules that ``path`` imports (anywhere in the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
        found |= {n.split(".")[1] for n in names if n.startswith("cnnlstm.")}
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_lower_layers(layer):
    for path in sorted((PACKAGE / layer).glob("*.py")):
        wrong = imported_layers(path) - ALLOWED[layer] - BOTTOM
        assert not wrong, f"{path.relative_to(PACKAGE)} imports cnnlstm.{sorted(wrong)}"
