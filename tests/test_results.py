"""Every labelled result of the book (theorem, proposition, lemma, corollary) is checked numerically somewhere, or
listed in book/proof-only.yml with a reason; every label a check or a reason names exists (book/_ext/xfbook/results.py
reads both, and the book shows them under each result's box)."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from xfbook import results  # noqa: E402

pytestmark = pytest.mark.book
STATEMENTS = results.statements(ROOT)
SITES = results.check_sites(ROOT)
REASONS = results.proof_only(ROOT)


def test_the_book_has_results_to_check():
    assert sum(s.is_result for s in STATEMENTS.values()) >= 40, "the label scan found too few results"


def test_every_result_is_checked_or_proof_only():
    missing = [
        f"{s.page}: {s.kind} {s.label}"
        for s in STATEMENTS.values()
        if s.is_result and s.label not in SITES and s.label not in REASONS
    ]
    assert not missing, (
        "these results have neither a numeric check nor a reason: name them in a check cell "
        "(checks.checked('label', figure)), on a test (@pytest.mark.checks('label')), or give a one-line reason in "
        "book/proof-only.yml:\n  " + "\n  ".join(missing)
    )


def test_every_named_label_exists():
    unknown = [
        f"{site.path} ({site.where}) names {label!r}"
        for label, sites in SITES.items()
        if label not in STATEMENTS
        for site in sites
    ]
    unknown += [f"book/proof-only.yml names {label!r}" for label in REASONS if label not in STATEMENTS]
    assert not unknown, "labels the book does not have:\n  " + "\n  ".join(unknown)


def test_proof_only_means_no_check():
    both = sorted(set(REASONS) & set(SITES))
    assert not both, f"listed as proof only but also checked (drop them from book/proof-only.yml): {both}"
    not_results = [lb for lb in REASONS if lb in STATEMENTS and not STATEMENTS[lb].is_result]
    assert not not_results, f"book/proof-only.yml lists definitions or remarks, which need no reason: {not_results}"


def test_reasons_are_one_line_sentences():
    for label, reason in REASONS.items():
        assert 15 <= len(reason) <= 240, f"{label}: the reason should be one line of words, got {reason!r}"


def cells_that_record_checks() -> list[tuple[str, int, str]]:
    out = []
    for path in sorted([*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("solutions/*.ipynb")]):
        for i, (kind, source) in enumerate(results.notebook_cells(path)):
            if kind == "code" and results.checked_labels(source):
                out.append((path.relative_to(ROOT).as_posix(), i, source))
    return out


def asserts_something(source: str) -> bool:
    """The cell contains an assert statement, or a call to an assert_* / check* function, or raises."""
    try:
        tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert | ast.Raise):
            return True
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name.startswith(("assert_", "check")) and name != "checked":
                return True
    return False


def test_a_cell_that_records_a_check_asserts_it():
    bare = [f"{path} cell {i}" for path, i, source in cells_that_record_checks() if not asserts_something(source)]
    assert not bare, f"these cells record a check but assert nothing (put checked() after the asserts): {bare}"


def test_the_scanners_find_what_they_should(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "ch09-x.md").write_text(
        "```{prf:theorem} T\n:label: thm-x\n\nText.\n```\n\n:::{prf:definition} D\n:class: dropdown\n:label: def-x\n"
        "\nText.\n:::\n"
    )
    (tmp_path / "notebooks").mkdir()
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": ["## Checks\n", "text"]},
            {"cell_type": "code", "source": ["assert x\n", 'checks.checked("thm-x", f"{x}")\n']},
            {"cell_type": "code", "source": ["checks.checked(\n    'def-x', 'y')"]},
        ]
    }
    (tmp_path / "notebooks" / "ch09-x.ipynb").write_text(json.dumps(nb))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "import pytest\n\n@pytest.mark.checks('thm-x', 'lem-y')\ndef test_a():\n    assert 1\n"
    )
    found = results.statements(tmp_path)
    assert {k: (v.kind, v.title, v.is_result) for k, v in found.items()} == {
        "thm-x": ("theorem", "T", True),
        "def-x": ("definition", "D", False),
    }
    sites = results.check_sites(tmp_path)
    assert sites["thm-x"] == [
        results.Site("notebooks/ch09-x.ipynb", "Checks", "notebook"),
        results.Site("tests/test_x.py", "test_a", "test"),
    ]
    assert sites["def-x"] == [results.Site("notebooks/ch09-x.ipynb", "Checks", "notebook")]
    assert sites["lem-y"] == [results.Site("tests/test_x.py", "test_a", "test")]
    assert asserts_something("assert x\nchecks.checked('thm-x', 'f')")
    assert asserts_something("torch.testing.assert_close(a, b)\nchecks.checked('thm-x', 'f')")
    assert not asserts_something("print(x)\nchecks.checked('thm-x', 'f')")
