"""Batch autograder: run each submitted notebook in its own kernel and score its check cells.

A graded cell carries nbgrader metadata ``{"grade": true, "points": n, "grade_id": ...}`` (the same cells that
nbgrader's ``autograde`` scores). A graded cell earns its points when it runs without an error. Each submission
runs in a fresh kernel whose working folder is an empty temporary one, with a per-cell and a total time limit, so a
broken, hanging or hostile notebook costs only its own points.

Usage: ``python -m minitorch_xf.checks.grade SUBMISSIONS --out grades.csv`` (SUBMISSIONS: a folder of
``.ipynb`` files, searched recursively). Prints a table and writes CSV (and JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["CellResult", "Grade", "grade_notebook", "graded_cells"]


@dataclass
class CellResult:
    grade_id: str
    points: float
    max_points: float
    error: str = ""


@dataclass
class Grade:
    notebook: str
    score: float
    max_score: float
    seconds: float
    cells: list[CellResult] = field(default_factory=list)
    error: str = ""


def graded_cells(nb) -> list[tuple[int, str, float]]:
    """(cell index, grade_id, points) of each graded cell."""
    out = []
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade"):
            out.append((i, meta.get("grade_id", f"cell-{i}"), float(meta.get("points", 0))))
    return out


def _cell_error(cell) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename')}: {output.get('evalue', '')}".strip()
    return ""


def grade_notebook(
    path: str | Path, cell_timeout: int = 120, total_timeout: int = 600, reference: str | Path | None = None
) -> Grade:
    """Execute one notebook and score it.

    ``reference``: the instructor's notebook whose graded cells are authoritative. When given, the submission's
    graded cells are replaced by the reference's (a student cannot edit a check to make it pass).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    path = Path(path)
    start = time.monotonic()
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as err:  # unreadable JSON: zero points, named reason
        return Grade(str(path), 0.0, 0.0, 0.0, error=f"unreadable notebook: {type(err).__name__}: {err}")
    if reference is not None:
        ref = nbformat.read(str(reference), as_version=4)
        ref_cells = {gid: ref.cells[i] for i, gid, _ in graded_cells(ref)}
        for i, gid, _ in graded_cells(nb):
            if gid in ref_cells:
                nb.cells[i].source = ref_cells[gid].source
                nb.cells[i].metadata["nbgrader"] = dict(ref_cells[gid].metadata["nbgrader"])
    cells = graded_cells(nb)
    max_score = sum(p for _, _, p in cells)
    error = ""
    with tempfile.TemporaryDirectory(prefix="xf-grade-") as tmp:
        client = NotebookClient(
            nb, timeout=cell_timeout, allow_errors=True, kernel_name="python3", resources={"metadata": {"path": tmp}}
        )
        try:
            with client.setup_kernel():
                for index, cell in enumerate(nb.cells):
                    if time.monotonic() - start > total_timeout:
                        error = f"total time limit of {total_timeout} s reached at cell {index}"
                        break
                    client.execute_cell(cell, index)
        except CellTimeoutError:
            error = f"a cell ran longer than {cell_timeout} s"
        except DeadKernelError:
            error = "the kernel died"
        except Exception as err:  # anything else in the harness costs this submission only
            error = f"{type(err).__name__}: {err}"
    results = []
    for i, gid, points in cells:
        cell = nb.cells[i]
        ran = cell.get("execution_count") is not None
        why = _cell_error(cell) or ("" if ran else (error or "not executed"))
        results.append(CellResult(gid, 0.0 if why else points, points, why))
    score = sum(r.points for r in results)
    return Grade(str(path), score, max_score, round(time.monotonic() - start, 2), results, error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, help="a notebook or a folder of notebooks")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"))
    parser.add_argument("--json", type=Path, default=None, help="also write per-cell results as JSON")
    parser.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="instructor notebook whose check cells replace the submissions' (e.g. solutions/ch01-...)",
    )
    parser.add_argument("--cell-timeout", type=int, default=120)
    parser.add_argument("--total-timeout", type=int, default=600)
    args = parser.parse_args(argv)
    if not args.submissions.exists():
        parser.error(f"submissions path {str(args.submissions)!r} does not exist")
    paths = [args.submissions] if args.submissions.is_file() else sorted(args.submissions.rglob("*.ipynb"))
    if not paths:
        parser.error(f"no .ipynb files under {str(args.submissions)!r}")
    grades = [grade_notebook(p, args.cell_timeout, args.total_timeout, args.reference) for p in paths]
    with args.out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["notebook", "score", "max_score", "seconds", "error"])
        for g in grades:
            writer.writerow([g.notebook, g.score, g.max_score, g.seconds, g.error])
    if args.json:
        args.json.write_text(json.dumps([asdict(g) for g in grades], indent=1))
    for g in grades:
        print(f"{g.score:6.1f} / {g.max_score:<6.1f} {g.seconds:6.1f} s  {g.notebook}  {g.error}")
        for c in g.cells:
            if c.error:
                print(f"         {c.grade_id}: {c.error.splitlines()[0][:150]}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
