"""What CONTRIBUTING.md promises a new contributor (issue 24): a placeholder paper-vs-book row cannot ship, the
README's chapter table matches the toc, every notebook's CPU budget is within the hard limit, and the commands
CONTRIBUTING names exist in the Makefile."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
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


def _run(cmd: list[str], cwd: Path, **env) -> subprocess.CompletedProcess:
    import os

    full_env = {**os.environ, "PYTHONPATH": str(cwd), "XF_RECORD_DIR": str(cwd / "_build" / "records"), **env}
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        full_env.pop(var, None)
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True)


@pytest.mark.slow
def test_make_chapter_writes_a_chapter_that_passes_and_catches_the_planted_mistakes(tmp_path):
    """`make chapter` in a scratch clone: the new chapter's files pass lint and the fast tests once its content is
    written (here: the paper-vs-book row), and the planted mistakes of issue 24 each fail naming the file and the fix.
    The notebooks under nbval and the grader's run are left to `make test-chapter` (CONTRIBUTING.md)."""
    import shutil

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout to clone")
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    for name in ("new_chapter.py", "notebook_template.py", "static_asserts.py"):  # this checkout's tools, under test
        shutil.copy(ROOT / "tools" / name, clone / "tools" / name)
    py = sys.executable
    made = _run(
        [py, str(ROOT / "tools" / "new_chapter.py"), "98", "toy-pool", "--title", "Mean pooling", "--root", str(clone)],
        clone,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    nb_path, sol_path = "notebooks/ch98-toy-pool.ipynb", "solutions/ch98-toy-pool.ipynb"
    new = [
        nb_path,
        sol_path,
        "minitorch_xf/theory/toy_pool.py",
        "minitorch_xf/checks/ch98.py",
        "tests/mutations/ch98.py",
        "tests/theory/test_toy_pool.py",
        "tests/theory/test_toy_pool_bad_inputs.py",
        "minitorch_xf/theory/__init__.py",
    ]
    for cmd in (["ruff", "check", *new], ["ruff", "format", "--check", *new]):
        lint = _run([py, "-m", *cmd], clone)
        assert lint.returncode == 0, f"the generated chapter fails `{' '.join(cmd[:2])}`: {lint.stdout}"

    tests = [
        "tests/theory/test_toy_pool.py",
        "tests/theory/test_toy_pool_bad_inputs.py",
        "tests/test_mutations.py",
        "tests/test_exercises.py",
        "tests/test_book.py",
        "tests/test_contributing.py",
        "tests/test_results.py",
    ]
    pytest_cmd = [py, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "not slow", "-x"]
    # As generated, the paper-vs-book row is the template's placeholder: the one failure, naming the notebook.
    first = _run([*pytest_cmd, *tests], clone)
    assert first.returncode != 0 and f"{nb_path} cell" in first.stdout and "still a placeholder" in first.stdout, (
        first.stdout[-3000:]
    )
    # The content: the notebook's row says what it compares.
    nb = nbformat.read(clone / nb_path, as_version=4)
    (cell,) = [c for c in nb.cells if "table.add(" in c.source]
    cell.source = re.sub(
        r"table\.add\((.|\n)*?status=",
        'table.add("invariance", "exact (Prop. 1)", f"{worst:.1e}", status=',
        cell.source,
    )
    nbformat.write(nb, clone / nb_path)
    _run([py, "-m", "ruff", "format", nb_path], clone)
    passed = _run([*pytest_cmd, *tests], clone)
    assert passed.returncode == 0, passed.stdout[-4000:]

    # Planted: an experiment check that cannot fail.
    nb = nbformat.read(clone / nb_path, as_version=4)
    (i, cell) = next((i, c) for i, c in enumerate(nb.cells) if "assert worst < 1e-12" in c.source)
    cell.source = cell.source.replace("assert worst < 1e-12", "assert worst <= worst")
    nbformat.write(nb, clone / nb_path)
    static = _run([py, "tools/static_asserts.py", "notebooks"], clone)
    assert static.returncode == 1 and f"{nb_path} cell {i} line" in static.stdout, static.stdout
    assert "compares worst with itself" in static.stdout, static.stdout
    # Planted: an exercise check that never calls the learner's function.
    checks = clone / "minitorch_xf" / "checks" / "ch98.py"
    checks.write_text(checks.read_text().replace("c.call(mean_pool, x)", "_loop_mean(x)"))
    stub = _run([*pytest_cmd, "tests/test_mutations.py", "-k", "ch98-toy-pool and mean_pool"], clone)
    assert stub.returncode != 0, stub.stdout
    assert "solutions/ch98-toy-pool.ipynb, exercise 'check-mean_pool', check_mean_pool(mean_pool)" in stub.stdout
    assert "passes this check, so a learner who writes nothing scores 1 points" in stub.stdout, stub.stdout


def test_every_make_command_in_contributing_is_a_target():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z][\w-]*)", (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")))
    assert named and not named - targets, f"CONTRIBUTING.md names make targets the Makefile lacks: {named - targets}"


def test_contributing_states_the_budget_the_harness_enforces():
    import conftest

    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert f"default {conftest.DEFAULT_BUDGET_S} s" in text and f"{conftest.HARD_LIMIT_S} s is the hard limit" in text


@pytest.mark.slow
def test_an_over_budget_notebook_is_a_failed_test_naming_the_fix(tmp_path):
    """Not only a red line under "N passed": the notebook's last cell fails, with its CPU, its budget and the fix."""
    import test_budgets

    test_budgets.write_notebook(tmp_path, budget_s=0.3, burn_s=0.8)
    run = test_budgets.finish(test_budgets.start_pytest(tmp_path, "ci"), tmp_path)
    assert run.rc == pytest.ExitCode.TESTS_FAILED and "1 failed" in run.output, run.output
    assert "burn.ipynb is over its CPU budget" in run.output and "budget_s = 0.3 s" in run.output, run.output
    assert "Fix: shrink the ci sizes" in run.output, run.output
