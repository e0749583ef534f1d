"""What CONTRIBUTING.md promises a new contributor (issue 24): a placeholder paper-vs-book row cannot ship, the
README's chapter table matches the toc, every notebook's CPU budget is within the hard limit, and the commands
CONTRIBUTING names exist in the Makefile."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools.notebook_template import paper_table_cells, placeholder_cells  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def table_rows_in_source(source: str) -> list[tuple[int, dict]]:
    """The ``<table>.add(claim, paper, ours, ...)`` calls of a code cell whose arguments are string literals."""
    try:
        tree = ast.parse("\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines()))
    except SyntaxError:
        return []
    rows = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add":
            values = [a.value if isinstance(a, ast.Constant) else "" for a in node.args[:3]]
            if len(values) == 3:
                rows.append((node.lineno, dict(zip(("claim", "paper", "ours"), values, strict=True))))
    return rows


def placeholder_rows_in_notebook(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for line, row in table_rows_in_source(source):
            bad = placeholder_cells(row)
            if bad:
                found.append(f"{path.relative_to(ROOT)} cell {i} line {line}: {', '.join(bad)} still a placeholder")
    return found


def test_the_template_row_is_caught():
    (_, code) = paper_table_cells("notebooks/ch99-toy.ipynb", "Doe (2030)")[1]
    [(_, row)] = table_rows_in_source(code)
    assert placeholder_cells(row) == ["claim", "paper", "ours"], row


def test_no_notebook_adds_a_placeholder_row():
    found = [f for path in NOTEBOOKS for f in placeholder_rows_in_notebook(path)]
    assert not found, (
        "paper-vs-book rows that still hold the template's placeholder (write the claim, the paper's value with "
        "its table/figure/theorem, and what the notebook measured):\n  " + "\n  ".join(found)
    )


def test_no_recorded_row_is_a_placeholder():
    """The rows the Reproductions page shows: committed ones (results/) and this checkout's last run (_build)."""
    found = []
    for record in sorted(
        [*ROOT.glob("results/*/reproductions/*.json"), *ROOT.glob("_build/records/reproductions/*.json")]
    ):
        data = json.loads(record.read_text(encoding="utf-8"))
        for i, row in enumerate(data.get("rows", [])):
            bad = placeholder_cells(row)
            if bad:
                found.append(f"{record.relative_to(ROOT)} row {i} ({data.get('notebook')}): {', '.join(bad)}")
    assert not found, (
        "recorded paper-vs-book rows that are placeholders; fix the notebook's table.add:\n  " + "\n  ".join(found)
    )


def toc_chapters() -> dict[int, list[str]]:
    """Chapter number -> [book page, its notebooks...] as the toc lists them."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    chapters = {}
    for part in toc["parts"]:
        for ch in part["chapters"]:
            m = re.fullmatch(r"book/ch(\d\d)-[\w-]+", ch["file"])
            if m:
                chapters[int(m.group(1))] = [ch["file"]] + [s["file"] for s in ch.get("sections", [])]
    return chapters


def readme_chapters() -> dict[int, str]:
    rows = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|", line)
        if m:
            rows[int(m.group(1))] = line
    return rows


def test_readme_chapter_table_matches_the_toc():
    toc, readme = toc_chapters(), readme_chapters()
    assert toc, "no chapter found in _toc.yml"
    assert sorted(readme) == sorted(toc), f"README chapters {sorted(readme)} but _toc.yml chapters {sorted(toc)}"
    problems = []
    for n, files in toc.items():
        row = readme[n]
        linked = set(re.findall(r"\]\(([^)]+)\)", row))
        page, notebooks = files[0], files[1:]
        if f"{page}.md" not in linked:
            problems.append(f"README row {n} does not link {page}.md")
        for nb in notebooks:
            if f"{nb}.ipynb" not in linked:
                problems.append(f"README row {n} does not link {nb}.ipynb (listed in _toc.yml)")
        for link in linked:
            if link.startswith("notebooks/") and link.removesuffix(".ipynb") not in notebooks:
                problems.append(f"README row {n} links {link}, which _toc.yml does not list under {page}")
            if not (ROOT / link).exists():
                problems.append(f"README row {n} links {link}, which does not exist")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_budget_is_declared_within_the_hard_limit(path):
    import conftest

    meta = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("minitorch_xf", {})
    budget = meta.get("budget_s", conftest.DEFAULT_BUDGET_S)
    assert 0 < budget <= conftest.HARD_LIMIT_S, (
        f"{path.name}: minitorch_xf.budget_s = {budget}; the ci budget is at most {conftest.HARD_LIMIT_S} s of "
        "kernel CPU (CONTRIBUTING.md, 'The CPU budget'): shrink the ci sizes"
    )


@pytest.mark.slow
def test_a_notebook_that_records_the_placeholder_row_fails(tmp_path):
    """The template's notebook, run as nbval runs it, fails on its last cell and names the row and the fix."""
    import os
    import subprocess

    import nbformat

    from tools.notebook_template import setup_source

    nb = nbformat.v4.new_notebook()
    nb.metadata["minitorch_xf"] = {"budget_s": 60}
    setup = setup_source().replace("rt = runtime.setup()", "rt = runtime.setup(profile='ci')")
    cells = [("code", setup), *paper_table_cells("ch99-toy.ipynb", "Doe (2030)")]
    nb.cells = [
        (nbformat.v4.new_code_cell if k.startswith("code") else nbformat.v4.new_markdown_cell)(s) for k, s in cells
    ]
    nbformat.write(nb, tmp_path / "ch99-toy.ipynb")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XF_RECORD_DIR": str(tmp_path / "records"), "XF_QUIET": "1"}
    env |= {"XF_PROFILE": "ci", "XF_DEVICE": "cpu"}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "conftest",
        "ch99-toy.ipynb",
        "--nbval-lax",
        "--nbval-current-env",
        "-q",
    ]
    run = subprocess.run([*cmd, "-p", "no:cacheprovider"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout + run.stderr
    assert "ch99-toy.ipynb recorded paper-vs-book rows that are still the template's placeholder" in run.stdout, (
        run.stdout
    )
    assert "1 failed" in run.stdout, run.stdout
