"""Find asserts whose values come from a timer: a busy machine fails them, so the project allows none.

A claim about cost is asserted on counted work (FLOPs, bytes, memory, kernel launches, state size); a time is
measured, plotted and printed, never asserted. ``tests/test_timing_asserts.py`` runs this over every notebook,
solution and test; run it by hand with ``python tools/timing_asserts.py [PATHS...]``.

The analysis follows values by name, through a whole file (a notebook's code cells joined), until nothing changes:
a name is *timed* when it is assigned from an expression that calls a timer (``time.perf_counter``, ``time.time``,
``process_time``, ``monotonic``, ``timeit``, ``torch.utils.benchmark``, ``os.times``, ``getrusage``...) or mentions a
timed name; when it is a for-loop variable over a timed iterable (a comprehension's variable is local to it, and the
comprehension is timed anyway when its iterable is); when a timed value is appended to it or stored in it
(``xs.append(t)``, ``d[k] = t``); and a function is timed when it returns a timed value, so its calls are timed
too. An ``assert`` (or ``assert_close`` / ``assert_allclose`` / ``pytest.approx`` comparison) that mentions a timed
name is reported. Names are not scoped, so a name reused for something else can be a false positive: rename it.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

TIMER_FUNCTIONS = {
    "perf_counter",
    "perf_counter_ns",
    "process_time",
    "process_time_ns",
    "thread_time",
    "thread_time_ns",
    "monotonic",
    "monotonic_ns",
    "timeit",
    "default_timer",
    "getrusage",
    "cpu_times",  # psutil
    "blocked_autorange",  # torch.utils.benchmark.Timer
    "adaptive_autorange",
    "elapsed_time",  # torch.cuda.Event
    "do_bench",  # triton.testing
}
TIMER_MODULE_CALLS = {("time", "time"), ("time", "time_ns"), ("os", "times"), ("timeit", "repeat")}


def source_of(path: Path) -> str:
    """A notebook's code cells joined (IPython magics and shell lines dropped), or a Python file's text."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        code = ["".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code"]
        lines = [line for cell in code for line in cell.splitlines() if not line.lstrip().startswith(("%", "!"))]
        return "\n".join(lines)
    return path.read_text(encoding="utf-8")


def _is_timer_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute):
        if func.attr in TIMER_FUNCTIONS:
            return True
        return isinstance(func.value, ast.Name) and (func.value.id, func.attr) in TIMER_MODULE_CALLS
    return isinstance(func, ast.Name) and func.id in TIMER_FUNCTIONS


def _bound(target: ast.AST) -> set[str]:
    """The names an assignment target binds or mutates: x, (a, b), box[i] -> box, obj.f -> obj."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Tuple | ast.List):
        return set().union(*(_bound(e) for e in target.elts)) if target.elts else set()
    if isinstance(target, ast.Starred | ast.Subscript | ast.Attribute):
        return _bound(target.value)
    return set()


def _literal_rows(iterable: ast.AST, target: ast.AST) -> list[list[ast.AST]] | None:
    """What each position of a tuple target reads, as rows: ``for a, b in ((x, y), (z, w))`` -> [[x, y], [z, w]];
    ``for a, b in zip(xs, ys)`` -> [[xs, ys]]; ``for i, x in enumerate(xs)`` -> [[<nothing>, xs]]. None otherwise."""
    if not isinstance(target, ast.Tuple | ast.List) or any(isinstance(t, ast.Starred) for t in target.elts):
        return None
    if (
        isinstance(iterable, ast.Call)
        and isinstance(iterable.func, ast.Name)
        and not any(k.arg != "strict" for k in iterable.keywords)
    ):
        args = iterable.args
        if iterable.func.id == "zip" and len(args) == len(target.elts):
            return [list(args)]
        if iterable.func.id == "enumerate" and len(args) == 1 and len(target.elts) == 2:
            return [[ast.Constant(0), args[0]]]
    if not isinstance(iterable, ast.Tuple | ast.List):
        return None
    rows = [row.elts for row in iterable.elts if isinstance(row, ast.Tuple | ast.List)]
    width = len(target.elts)
    if (
        len(rows) != len(iterable.elts)
        or any(len(r) != width for r in rows)
        or any(isinstance(t, ast.Starred) for t in target.elts)
    ):
        return None
    return rows


def timed_names(tree: ast.AST) -> set[str]:
    """Every name (variable or function) whose value comes from a timer, followed to a fixed point."""
    timed: set[str] = set()

    def hit(node: ast.AST | None) -> bool:
        if node is None:
            return False
        for sub in ast.walk(node):
            if _is_timer_call(sub) or (isinstance(sub, ast.Name) and sub.id in timed):
                return True
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in timed:
                return True
        return False

    changed = True
    while changed:
        changed = False
        for node in ast.walk(tree):
            new: set[str] = set()
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if any(isinstance(r, ast.Return | ast.Yield) and hit(r.value) for r in ast.walk(node)):
                    new = {node.name}
            elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
                if hit(node.value):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    new = set().union(*(_bound(t) for t in targets))
            elif isinstance(node, ast.For | ast.AsyncFor):  # a comprehension's variable is local to it: not followed
                rows = _literal_rows(node.iter, node.target)
                if rows is not None:  # for a, t in ((1, t1), (2, t2)): only the positions that hold a timed value
                    for position, target in enumerate(node.target.elts):
                        if any(hit(row[position]) for row in rows):
                            new |= _bound(target)
                elif hit(node.iter):
                    new = _bound(node.target)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                mutators = ("append", "extend", "insert", "update", "add", "setdefault")
                if node.func.attr in mutators and any(hit(a) for a in node.args):
                    new = _bound(node.func.value)
            if new - timed:
                timed |= new
                changed = True
    return timed


def _mentions(node: ast.AST, timed: set[str]) -> set[str]:
    found = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in timed}
    found |= {"<timer call>" for n in ast.walk(node) if _is_timer_call(n)}
    return found


def timing_asserts(source: str, where: str = "<source>") -> list[str]:
    """One line per assert in ``source`` that depends on a timer: 'where:line: assert ... (timed: names)'."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return [f"{where}: cannot parse ({error.msg} at line {error.lineno}); nothing checked"]
    timed = timed_names(tree)
    found = []
    for node in ast.walk(tree):
        test = None
        if isinstance(node, ast.Assert):
            test = node.test
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name.startswith("assert") or name in ("approx", "isclose", "allclose"):
                test = node
        if test is not None and (names := _mentions(test, timed)):
            text = ast.unparse(test).replace("\n", " ")[:120]
            found.append(f"{where}:{node.lineno}: {text}   (timed: {', '.join(sorted(names))})")
    return found


def scan(paths: list[Path]) -> list[str]:
    return [line for path in paths for line in timing_asserts(source_of(path), str(path))]


def default_paths(root: Path) -> list[Path]:
    """Every notebook, solution and test of the repository (benchmarks time things by design, and assert nothing)."""
    patterns = ("notebooks/*.ipynb", "solutions/*.ipynb", "tests/**/*.py")
    return sorted({p for pattern in patterns for p in root.glob(pattern)})


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    hits = scan([Path(p) for p in sys.argv[1:]] or default_paths(root))
    print("\n".join(hits) or "no assert depends on a timer")
    sys.exit(1 if hits else 0)
