"""Find checks that cannot fail: asserts on a constant, a value compared with itself, and check cells (or check
functions) whose every assert only says a value exists (``x is not None``, ``isinstance``, ``hasattr``).

    python tools/static_asserts.py [paths...]   # default: notebooks/ solutions/ minitorch_xf/checks/

ruff's PLR0124 / PLR0133 catch ``a <= a`` on plain names and comparisons of two constants; this also sees
``x.max() <= x.max()``, ``assert f"..."``, ``assert (cond, msg)`` and existence-only cells.
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATHS = ("notebooks", "solutions", "minitorch_xf/checks")
ALWAYS_TRUE_WITH_ITSELF = (ast.Eq, ast.LtE, ast.GtE, ast.Is)


@dataclass(frozen=True)
class Finding:
    where: str  # "notebooks/ch01-x.ipynb cell 12 line 3" or "minitorch_xf/checks/ch01.py line 40"
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def _same(a: ast.AST, b: ast.AST) -> bool:
    return ast.dump(a, include_attributes=False) == ast.dump(b, include_attributes=False)


def tautology(test: ast.expr) -> str | None:
    """Why ``assert test`` cannot fail, or None."""
    if isinstance(test, ast.Constant):
        return None if not test.value else f"asserts the constant {test.value!r}"
    if isinstance(test, ast.JoinedStr):
        return "asserts an f-string (always true)"
    if isinstance(test, ast.Tuple) and test.elts:
        return "asserts a non-empty tuple (always true): write `assert cond, message`"
    if isinstance(test, ast.Compare):
        left = test.left
        for op, right in zip(test.ops, test.comparators, strict=True):
            if isinstance(op, ALWAYS_TRUE_WITH_ITSELF) and _same(left, right):
                return f"compares {ast.unparse(left)} with itself ({type(op).__name__})"
            if isinstance(left, ast.Constant) and isinstance(right, ast.Constant):
                return f"compares two constants ({ast.unparse(test)})"
            left = right
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        for value in test.values:
            if isinstance(value, ast.Constant) and value.value:
                return f"`or {value.value!r}` makes it always true"
    return None


def existence_only(test: ast.expr) -> bool:
    """``x is not None``, ``isinstance(x, T)``, ``hasattr(x, n)``, ``callable(x)``: says a value exists, not that
    it is right."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.IsNot):
        return isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value is None
    if isinstance(test, ast.Call) and isinstance(test.func, ast.Name):
        return test.func.id in ("isinstance", "hasattr", "callable")
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return all(existence_only(v) for v in test.values)
    return False


def scan_tree(tree: ast.AST, where: str, unit: str) -> list[Finding]:
    """Tautologies anywhere in ``tree``; ``unit`` ("cell" or "function"): the scope whose asserts may not all be
    existence-only."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            why = tautology(node.test)
            if why:
                found.append(Finding(f"{where} line {node.lineno}", f"`{ast.unparse(node)[:80]}` {why}"))
    scopes = [tree] if unit == "cell" else [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    for scope in scopes:
        asserts = [n for n in ast.walk(scope) if isinstance(n, ast.Assert)]
        if asserts and all(existence_only(a.test) for a in asserts):
            name = "the cell" if unit == "cell" else f"{scope.name}()"
            line = asserts[0].lineno
            found.append(
                Finding(
                    f"{where} line {line}",
                    f"every assert in {name} only says a value exists ({ast.unparse(asserts[0].test)[:60]}): "
                    "assert the claim itself (a bound, a match with a reference), not that something was computed",
                )
            )
    return found


def cell_source(source: str) -> str:
    """A code cell's source with IPython magics and shell lines blanked (line numbers kept)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def scan_notebook(path: Path, root: Path = ROOT) -> list[Finding]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    rel = path.relative_to(root) if path.is_relative_to(root) else path
    found = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        try:
            tree = ast.parse(cell_source(source))
        except SyntaxError:
            continue
        found += scan_tree(tree, f"{rel} cell {i}", "cell")
    return found


def scan_module(path: Path, root: Path = ROOT) -> list[Finding]:
    rel = path.relative_to(root) if path.is_relative_to(root) else path
    return scan_tree(ast.parse(path.read_text(encoding="utf-8")), str(rel), "function")


def scan(paths=DEFAULT_PATHS, root: Path = ROOT) -> list[Finding]:
    found = []
    for name in paths:
        p = root / name
        files = [p] if p.is_file() else sorted([*p.rglob("*.ipynb"), *p.rglob("*.py")])
        for f in files:
            if ".ipynb_checkpoints" in f.parts:
                continue
            found += scan_notebook(f, root) if f.suffix == ".ipynb" else scan_module(f, root)
    return found


if __name__ == "__main__":
    findings = scan(sys.argv[1:] or DEFAULT_PATHS)
    for f in findings:
        print(f)
    sys.exit(1 if findings else 0)
