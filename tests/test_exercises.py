"""The exercise pipeline: one source (solutions/), generated stubs (exercises/), stubs fail, solutions pass."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from minitorch_xf.checks.assign import BEGIN, generate, make_stub_notebook, stub_source
from minitorch_xf.checks.grade import grade_notebook, graded_cells

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


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_stubs_fail_with_the_checks_message(path):
    """Run the student copy: every graded cell fails with CheckFailed ('not implemented yet'), nothing else errs."""
    grade = grade_notebook(ROOT / "exercises" / path.name, cell_timeout=120)
    assert not grade.error, f"the harness failed on the stub: {grade.error}"
    assert grade.max_score > 0
    assert grade.score == 0, f"a stub scored {grade.score} points: {grade.cells}"
    for cell in grade.cells:
        assert cell.error.startswith("CheckFailed") and "not implemented yet" in cell.error, (
            f"{cell.grade_id}: expected the check's 'not implemented yet' failure, got {cell.error!r}"
        )


@pytest.mark.slow
def test_grader_scores_solution_full_and_survives_a_hanging_submission(tmp_path):
    """The autograder gives the reference solution full marks and isolates a submission that hangs."""
    sol = SOLUTIONS[0]
    good = grade_notebook(sol)
    assert good.score == good.max_score > 0, good.cells
    nb = json.loads((ROOT / "exercises" / sol.name).read_text())
    first_solution = next(
        c for c in nb["cells"] if c["cell_type"] == "code" and "raise NotImplementedError()" in "".join(c["source"])
    )
    first_solution["source"] = "import time\nwhile True:\n    time.sleep(0.1)\n"
    hang = tmp_path / "hang.ipynb"
    hang.write_text(json.dumps(nb))
    bad = grade_notebook(hang, cell_timeout=3)
    assert bad.score == 0 and "longer than 3 s" in bad.error, bad
