"""The instructor's reference notebook: which exercises exist, what each is worth, and the check calls that grade it.

Each graded cell (nbgrader metadata ``{"grade": true, "points": n, "grade_id": ...}``) is one exercise; its source
may hold only calls of checks imported from ``minitorch_xf.checks`` (``check_attention(attention)``), which the
grader runs in its own process. Nothing in a submission changes which exercises exist or what they are worth.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROOT", "CheckCall", "Exercise", "Reference", "find_reference", "graded_cells"]

ROOT = Path(__file__).resolve().parents[2]


def graded_cells(nb) -> list[tuple[int, str, float]]:
    """(cell index, grade_id, points) of each graded cell of a notebook (nbformat node or JSON dict)."""
    out = []
    for i, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("grade"):
            out.append((i, str(meta.get("grade_id", f"cell-{i}")), float(meta.get("points", 0))))
    return out


def _source(cell) -> str:
    """A trusted notebook's cell source (the reference's; a submission's is read by :mod:`.boundary`)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


@dataclass
class CheckCall:
    module: str  # minitorch_xf.checks.chNN
    function: str  # check_attention
    names: list[str]  # the learner's functions it receives, in order
    kwargs: dict


@dataclass
class Exercise:
    grade_id: str
    points: float
    calls: list[CheckCall]
    source: str


class Reference:
    """The instructor's notebook: which exercises exist, their points, and the check calls that grade them."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise FileNotFoundError(f"reference notebook {str(path)!r} does not exist")
        raw = self.path.read_bytes()
        self.digest = hashlib.sha256(raw).hexdigest()
        nb = json.loads(raw)
        imports: dict[str, str] = {}
        for cell in nb["cells"]:
            if cell.get("cell_type") != "code":
                continue
            try:
                tree = ast.parse(_source(cell))
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("minitorch_xf.checks."):
                    for alias in node.names:
                        imports[alias.asname or alias.name] = f"{node.module}:{alias.name}"
        self.exercises: list[Exercise] = []
        for i, gid, points in graded_cells(nb):
            src = _source(nb["cells"][i])
            self.exercises.append(Exercise(gid, points, self._parse_checks(src, imports, gid), src))
        if not self.exercises:
            raise ValueError(f"reference {self.path.name} has no graded cells (nbgrader metadata grade: true)")
        ids = [e.grade_id for e in self.exercises]
        if len(set(ids)) != len(ids):
            raise ValueError(f"reference {self.path.name} repeats a grade_id: {ids}")
        self.max_total = sum(e.points for e in self.exercises)
        self.check_sources = {e.source.strip() for e in self.exercises}

    def _parse_checks(self, src: str, imports: dict[str, str], gid: str) -> list[CheckCall]:
        where = f"reference {self.path.name}, graded cell {gid!r}"
        calls = []
        for stmt in ast.parse(src).body:
            call = stmt.value if isinstance(stmt, ast.Expr) else None
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in imports):
                raise ValueError(
                    f"{where}: every statement must be a call of a check imported from minitorch_xf.checks "
                    f"(like `check_attention(attention)`), found {ast.unparse(stmt)[:80]!r}; cells with asserts "
                    "or hidden tests can be graded by nbgrader but not outside the kernel"
                )
            if not all(isinstance(a, ast.Name) for a in call.args):
                raise ValueError(f"{where}: check arguments must be the learner's function names")
            kwargs = {}
            for kw in call.keywords:
                if kw.arg is None or not isinstance(kw.value, ast.Constant):
                    raise ValueError(f"{where}: keyword arguments of a check must be constants")
                if kw.arg != "seed":  # the grader always draws fresh cases
                    kwargs[kw.arg] = kw.value.value
            module, function = imports[call.func.id].split(":")
            calls.append(CheckCall(module, function, [a.id for a in call.args], kwargs))
        if not calls:
            raise ValueError(f"{where}: no check call")
        return calls


def find_reference(chapter: str) -> Path:
    """``ch01`` -> ``solutions/ch01-*.ipynb`` of this repository."""
    if not re.fullmatch(r"ch\d\d", chapter):
        raise ValueError(f"chapter must look like 'ch01', got {chapter!r}")
    found = sorted((ROOT / "solutions").glob(f"{chapter}-*.ipynb"))
    if len(found) != 1:
        raise FileNotFoundError(f"no single solutions/{chapter}-*.ipynb in {ROOT} (found {len(found)})")
    return found[0]
