"""Write a notebook that follows the book's template (title, Colab badge, time budget, setup cell).

Used by authors when they start a notebook; the result is then edited like any notebook.

    from tools.notebook_template import book_url, write_notebook
    write_notebook("notebooks/ch02-splitting.ipynb", "Chapter 2 · Lie–Trotter vs Strang", budget="about 20 s",
                   gpu_budget="about 5 s", chapter=2, cells=[("md", "## ..."), ("code", "x = 1")],
                   paper="Lu et al. (2019)")

Notebook markdown is read in JupyterLab and Colab as well as in the book, so it holds no MyST roles: link a book
page by its published URL (``book_url("ch02-ode-macaron")``; the book's build turns it into a local link) and cite
in plain text, "Lu et al. (2019)".
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]


def repo_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")


def book_url(page: str) -> str:
    """The published URL of the book page ``book/<page>.md`` (``_config.yml``'s ``html.baseurl``)."""
    base = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["baseurl"].rstrip("/")
    return f"{base}/book/{page}.html"


def colab_url(path: str) -> str:
    """The Colab link of a notebook at ``path`` (relative to the repository root)."""
    return f"https://colab.research.google.com/github/{repo_url().removeprefix('https://github.com/')}/blob/main/{path}"


def setup_source() -> str:
    """The setup cell, as ``ruff format`` leaves it at the notebooks' 88 columns (notebooks/ruff.toml)."""
    return f"""# Setup (safe to re-run): on Colab, install the package; then choose device, seed and run profile.
import importlib.util
import subprocess
import sys

if "google.colab" in sys.modules and importlib.util.find_spec("minitorch_xf") is None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "git+{repo_url()}",
        ],
        check=True,
    )

from minitorch_xf import runtime

# XF_SEED=n moves every seed; XF_PROFILE=full for the paper-sized run (on a GPU)
rt = runtime.setup()"""


def budget_sentence(budget_s: float) -> str:
    """The notebook header's budget, from the one definition in conftest.py (``budget_s`` in the metadata)."""
    return (
        f"at most {budget_s:g} s of kernel CPU time (profile `ci`, one thread; `budget_s` in the notebook's metadata, "
        "enforced by `make test`)"
    )


def header_source(path: str, title: str, budget: str | None, gpu_budget: str, budget_s: float = 60) -> str:
    badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(path)})"
    cpu = budget_sentence(budget_s) if budget is None else f"{budget} of CPU time (profile `ci`, one thread)"
    return f"# {title}\n\n{badge}\n\n**Time budget:** {cpu}; {gpu_budget} on a GPU (profile `full`)."


# The template's placeholder row; tests/test_contributing.py and conftest.py reject a row that still holds one.
PLACEHOLDER_CLAIM = "TODO: the claim"
PLACEHOLDER_PAPER = "TODO: the paper's value (Table N)"
PLACEHOLDER_OURS = "TODO: what this notebook measured"
PLACEHOLDER_PATTERN = r"\bTODO\b|\bTBD\b|\bFIXME\b|\bTable N\b|^the claim$|what this notebook measured"


def placeholder_cells(row: dict) -> list[str]:
    """The cells of a recorded paper-vs-book row (``claim``, ``paper``, ``ours``) that still hold a placeholder."""
    import re

    return [k for k in ("claim", "paper", "ours") if re.search(PLACEHOLDER_PATTERN, str(row.get(k, "")), re.I)]


def paper_table_cells(path: str, paper: str) -> list[tuple[str, str]]:
    """The closing "Paper vs this book" section: a ``PaperTable`` to fill with the notebook's claims."""
    code = f"""from minitorch_xf.report import PaperTable

table = PaperTable("{path}", rt, source="{paper}")
table.add("{PLACEHOLDER_CLAIM}", "{PLACEHOLDER_PAPER}", "{PLACEHOLDER_OURS}", status="asserted")
table.show()  # displays the table and records it for the book's Reproductions page"""
    return [("md", "## Paper vs this book"), ("code:remove-input", code)]


def write_notebook(
    path: str,
    title: str,
    budget: str | None,
    gpu_budget: str,
    chapter: int,
    cells,
    budget_s: int = 60,
    paper: str = "",
    root: Path | None = None,
):
    """Create ``path`` with the header, the setup cell, then ``cells`` = [("md"|"code", source), ...]; a cell kind
    "code:tag1,tag2" adds tags, a cell given as (kind, source, metadata) adds metadata (nbgrader's).

    ``budget=None`` writes the header's time budget from ``budget_s``. With ``paper`` (e.g. "Lu et al. (2019)"), end
    with the "Paper vs this book" table every experiment notebook has. ``root``: the repository to write into.
    """
    root = ROOT if root is None else Path(root)
    if paper:
        cells = [*cells, *paper_table_cells(path, paper)]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["minitorch_xf"] = {"chapter": chapter, "budget_s": budget_s}
    nb.cells.append(nbformat.v4.new_markdown_cell(header_source(path, title, budget, gpu_budget, budget_s)))
    nb.cells.append(nbformat.v4.new_code_cell(setup_source(), metadata={"tags": ["setup", "remove-input"]}))
    for kind, source, *meta in cells:
        kind, _, tags = kind.partition(":")
        metadata = dict(meta[0]) if meta else {}
        if tags:
            metadata["tags"] = tags.split(",")
        make = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        nb.cells.append(make(source.strip("\n"), metadata=metadata))
    for cell in nb.cells:
        cell.pop("id", None)
    nb.nbformat_minor = 4
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(root / path))
    return nb
