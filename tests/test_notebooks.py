"""Notebook hygiene: committed without outputs, and every notebook follows the book's template."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for d in ("notebooks", "solutions", "exercises") for p in (ROOT / d).glob("*.ipynb"))
REPO = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")
SLUG = REPO.removeprefix("https://github.com/")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def src(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_without_outputs(path):
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} cell {i} has outputs: clear them before committing"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parent.name != "exercises"], ids=lambda p: p.name)
def test_follows_the_template(path):
    nb = load(path)
    rel = path.relative_to(ROOT).as_posix()
    header = src(nb["cells"][0])
    assert header.startswith("# "), f"{rel}: the first cell must be the title"
    badge = f"https://colab.research.google.com/github/{SLUG}/blob/main/{rel}"
    assert badge in header, f"{rel}: the Colab badge must point at the notebook's own path ({badge})"
    assert re.search(r"\*\*Time budget:\*\*.*CPU", header), f"{rel}: a one-line time budget is missing"
    setup = src(nb["cells"][1])
    assert "runtime.setup(" in setup and f"git+{REPO}" in setup and "google.colab" in setup, (
        f"{rel}: the second cell must be the Colab-safe setup cell"
    )
    budget = nb["metadata"].get("minitorch_xf", {}).get("budget_s")
    assert budget is not None and 0 < budget <= 60, f"{rel}: declare minitorch_xf.budget_s <= 60 in the metadata"


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_experiment_notebooks_assert_their_claims(path):
    code = "\n".join(src(c) for c in load(path)["cells"] if c["cell_type"] == "code")
    assert re.search(r"^\s*(assert |torch\.testing\.assert_close)", code, re.M), f"{path.name} asserts nothing"
    assert "## Checks" in "\n".join(src(c) for c in load(path)["cells"] if c["cell_type"] == "markdown"), (
        f"{path.name}: no '## Checks' section"
    )
