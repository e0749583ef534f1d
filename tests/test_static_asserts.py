"""Checks that cannot fail are caught before they ship (issue 24): ``tools/static_asserts.py`` over the notebooks,
the solutions and the package's exercise checks, and ruff's comparison-with-itself rules in pyproject.toml."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools import static_asserts  # noqa: E402


def test_no_check_in_the_repository_cannot_fail():
    findings = static_asserts.scan()
    assert not findings, (
        "checks that cannot fail (assert the claim itself: a bound, a match with a reference value):\n  "
        + "\n  ".join(map(str, findings))
    )


@pytest.mark.parametrize(
    "source",
    [
        "worst = 0.1\nassert worst <= worst, worst",
        "assert x.max() >= x.max()",
        "assert f'{err} is small'",
        "assert (err < 1e-3, 'too large')",
        "assert 1",
        "assert err < 1 or True",
        "assert 3 < 5",
    ],
)
def test_tautologies_are_found(source):
    assert static_asserts.scan_tree(ast.parse(source), "nb cell 4", "cell"), source


@pytest.mark.parametrize(
    "source",
    [
        "big = run()\nassert big is not None",
        "assert isinstance(out, dict) and out is not None",
        "def check_x(f):\n    y = f(1)\n    assert y is not None\n",
    ],
)
def test_existence_only_checks_are_found(source):
    unit = "function" if source.startswith("def") else "cell"
    found = static_asserts.scan_tree(ast.parse(source), "nb cell 4", unit)
    assert found and "only says a value exists" in str(found[0]), found


@pytest.mark.parametrize(
    "source",
    [
        "assert worst <= bound, worst",
        "assert big is not None\nassert big.gap > 0.1, big.gap",
        "assert x == x_ref",
        "assert False, 'unreachable'",
        "assert abs(a - b) <= 1e-6 * abs(a)",
    ],
)
def test_real_checks_are_not_flagged(source):
    assert not static_asserts.scan_tree(ast.parse(source), "nb cell 4", "cell"), source


def test_a_notebook_finding_names_the_file_the_cell_and_the_line(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Checks"), nbformat.v4.new_code_cell("%time x = 1\nassert x <= x")]
    path = tmp_path / "notebooks" / "ch99-toy.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, path)
    (finding,) = static_asserts.scan(["notebooks"], root=tmp_path)
    assert str(finding).startswith("notebooks/ch99-toy.ipynb cell 1 line 2:"), finding


def test_ruff_rejects_comparisons_that_cannot_fail():
    select = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]["select"]
    assert {"PLR0124", "PLR0133"} <= set(select), select
