"""How much of the package is argument validation and error translation: ``python scripts/validation_share.py``.

Counts with ``ast`` over ``cnnlstm/**/*.py``:

- code lines: lines holding code (not blank, not a comment, not a docstring);
- validation lines, each counted once:
  * every line of a ``raise`` statement (except a bare re-raise ``raise``);
  * the header lines of an ``if`` whose body is only a ``raise`` (the check's condition);
  * every line of an ``except`` handler whose body ends in a ``raise`` (error translation);
  * every line of a call to a hand-written check imported from ``cnnlstm.checks``;
  * every code line of the modules whose whole purpose is checking (``VALIDATION_MODULES``), except
    their imports, ``__all__`` and the declared types themselves (``PositiveInt = Annotated[...]``).

Declared constraints in signatures (``hidden_size: PositiveInt``) are not counted: they are the
type hints a constructor has anyway.
"""

import ast
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VALIDATION_MODULES = {"cnnlstm/arguments.py", "cnnlstm/checks.py"}


def code_lines(source: str, tree: ast.Module) -> set[int]:
    """Line numbers with code: tokens other than comments/newlines, minus docstrings."""
    lines: set[int] = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines -= set(range(first.lineno, first.end_lineno + 1))
    return lines


def validation_lines(tree: ast.Module) -> set[int]:
    found: set[int] = set()
    checkers = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "cnnlstm.checks" for alias in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in checkers:
            found.update(range(node.lineno, node.end_lineno + 1))
        elif isinstance(node, ast.Raise) and node.exc is not None:
            found.update(range(node.lineno, node.end_lineno + 1))
        elif isinstance(node, ast.If) and node.body and all(isinstance(s, ast.Raise) for s in node.body):
            found.update(range(node.lineno, node.test.end_lineno + 1))
        elif isinstance(node, ast.ExceptHandler) and node.body and isinstance(node.body[-1], ast.Raise):
            found.update(range(node.lineno, node.end_lineno + 1))
    return found


def declarations(tree: ast.Module) -> set[int]:
    """Lines of a checking module that declare rather than check: imports, ``__all__``, type aliases."""
    found: set[int] = set()
    for node in tree.body:
        alias = isinstance(node, ast.Assign) and isinstance(node.value, ast.Subscript) and getattr(
            node.value.value, "id", None) == "Annotated"
        names = isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets)
        if isinstance(node, (ast.Import, ast.ImportFrom)) or alias or names:
            found.update(range(node.lineno, node.end_lineno + 1))
    return found


def measure(root: Path = ROOT) -> tuple[int, int, dict[str, int]]:
    """(validation lines, code lines, validation lines per file)."""
    total, checks, per_file = 0, 0, {}
    for path in sorted((root / "cnnlstm").rglob("*.py")):
        source = path.read_text()
        tree = ast.parse(source)
        code = code_lines(source, tree)
        name = path.relative_to(root).as_posix()
        mine = code - declarations(tree) if name in VALIDATION_MODULES else validation_lines(tree) & code
        total, checks = total + len(code), checks + len(mine)
        per_file[name] = len(mine)
    return checks, total, per_file


def main() -> int:
    checks, total, per_file = measure()
    for name, n in sorted(per_file.items(), key=lambda kv: -kv[1])[:40]:
        print(f"{n:5d}  {name}")
    print(f"validation and error translation: {checks} of {total} code lines = {100 * checks / total:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
