"""The exercise pipeline: one source (solutions/), generated stubs (exercises/), stubs fail, solutions pass."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from minitorch_xf.checks.assign import BEGIN, generate, make_stub_notebook, stub_source
from minitorch_xf.checks.grade import Grader, Limits, Reference, Submission, graded_cells
from minitorch_xf.checks.sandbox import can_isolate

pytestmark = pytest.mark.exercises
ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def test_there_are_exercises():
    assert SOLUTIONS, "solutions/ holds no notebooks"


def test_exercises_folder_is_current():
    stale = generate(ROOT / "solutions", ROOT / "exercises", check=True)
    assert not stale, f"exercises/ is stale: {[str(p) for p in stale]}; run `make exercises`"


def test_stub_source_keeps_indentation_and_drops_hidden_tests():
    src = (
        "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
        "### BEGIN HIDDEN TESTS\nassert f(1) == 2\n### END HIDDEN TESTS\nprint(1)"
    )
    assert stub_source(src) == "def f(x):\n    raise NotImplementedError()\nprint(1)"


@pytest.mark.parametrize("bad", ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION", "### BEGIN HIDDEN TESTS\n"])
def test_unbalanced_markers_are_reported(bad):
    with pytest.raises(ValueError, match=r"nested|without|never closed"):
        stub_source(bad, where="nb cell 3")


def test_notebook_without_solution_is_rejected():
    nb = {"cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": []}], "metadata": {}}
    with pytest.raises(ValueError, match="no '### BEGIN SOLUTION'"):
        make_stub_notebook(nb, "solutions/x.ipynb")


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_structure(path):
    """Every solution region sits in a solution cell, and every graded cell calls a check from the package."""
    nb = nbformat.read(str(path), as_version=4)
    graded = graded_cells(nb)
    assert len(graded) >= 3, f"{path.name}: fewer than three graded exercises"
    for i, gid, points in graded:
        assert points > 0, f"{path.name} cell {i} ({gid}) carries no points"
        assert "check_" in nb.cells[i].source, f"{path.name} cell {i} ({gid}) does not call a check_ function"
    for i, cell in enumerate(nb.cells):
        if BEGIN in cell.source:
            assert cell.metadata.get("nbgrader", {}).get("solution"), f"{path.name} cell {i}: solution cell untagged"


def test_every_graded_cell_can_be_graded_outside_the_kernel():
    """The grader reads each reference's check calls (``check_x(fn)``) and runs them in its own process."""
    for path in SOLUTIONS:
        ref = Reference(path)
        assert len(ref.exercises) >= 3 and all(e.calls for e in ref.exercises), path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_grader_gives_solutions_full_marks_and_stubs_zero(path):
    """Graded in the sandbox against the reference: the solution earns every point, its student copy none, and
    each of the stub's failures is the check's 'not implemented yet' message."""
    ref = Reference(path)
    grader = Grader(ref, Limits(isolate=can_isolate()), hide=[str(ROOT / "solutions" / "nothing-here")])
    try:
        good = grader.grade(Submission("solution", str(path)))
        stub = grader.grade(Submission("stub", str(ROOT / "exercises" / path.name)))
    finally:
        grader.close()
    assert good.total == good.max_total == ref.max_total > 0, [e for e in good.exercises if not e.passed]
    assert not good.cell_errors, good.cell_errors
    scored = [(e.grade_id, e.points) for e in stub.exercises if e.points]
    assert stub.total == 0 and stub.max_total == ref.max_total, (
        f"exercises/{path.name}: the stub scores {stub.total} points, from {scored}: each of these checks passes "
        "without calling the learner's function (see tests/test_mutations.py::test_a_stub_scores_nothing)"
    )
    for ex in stub.exercises:
        assert "not implemented yet" in ex.message, f"{ex.grade_id}: {ex.message!r}"
