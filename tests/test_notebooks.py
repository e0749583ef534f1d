"""Notebook hygiene: committed without outputs, and every notebook follows the book's template."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for d in ("notebooks", "solutions", "exercises") for p in (ROOT / d).glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO = CONFIG["repository"]["url"].rstrip("/")
SLUG = REPO.removeprefix("https://github.com/")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def src(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_without_outputs(path):
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "code":
            fix = "run `make clear-outputs` before committing"
            assert not cell.get("outputs"), f"{path.name} cell {i} has outputs: {fix}"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count: {fix}"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parent.name != "exercises"], ids=lambda p: p.name)
def test_follows_the_template(path):
    nb = load(path)
    rel = path.relative_to(ROOT).as_posix()
    header = src(nb["cells"][0])
    assert header.startswith("# "), f"{rel}: the first cell must be the title"
    # its Colab badge is checked, for every copy, by test_colab_badges_point_at_the_notebook_itself
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


# ---- Notebook text must read right in JupyterLab and Colab, not only in the book ----------------------------------

BOOK_URL = CONFIG["html"]["baseurl"].rstrip("/") + "/"
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^)\s\"'>]+")
MYST_ROLE = re.compile(r"\{[A-Za-z][\w:+-]*\}`")  # {doc}`...`, {cite:t}`...`, {ref}`...`, {eq}`...`
MYST_DIRECTIVE = re.compile(r"^\s*(`{3,}|:{3,})\{", re.M)  # ```{note} or :::{note}
BOOK_LINK = re.compile(re.escape(BOOK_URL) + r"[^)\s\"'>]*")


def markdown_cells(path: Path) -> list[tuple[int, str]]:
    return [(i, src(c)) for i, c in enumerate(load(path)["cells"]) if c["cell_type"] == "markdown"]


def toc_pages() -> set[str]:
    """Every file of the book's table of contents, without extension (book/intro, notebooks/ch01-..., ...)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages, stack = {toc["root"]}, [toc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "file" in node:
                pages.add(node["file"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return {p.removesuffix(".md").removesuffix(".ipynb") for p in pages}


def math_layout_problems(text: str) -> list[str]:
    """Lines that MyST misparses without a warning: `$$` opened after text, and lines starting with `+ `."""
    problems, in_display = [], False
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("+ "):
            problems.append(f"line {lineno} starts with '+ ' (read as a list item): {line!r}")
        if in_display:
            in_display = "$$" not in line
        elif "$$" in line:
            if not stripped.startswith("$$"):
                problems.append(f"line {lineno}: '$$' after text on the same line: {line!r}")
            in_display = line.count("$$") % 2 == 1
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_colab_badges_point_at_the_notebook_itself(path):
    rel = path.relative_to(ROOT).as_posix()
    own = f"https://colab.research.google.com/github/{SLUG}/blob/main/{rel}"
    links = [(i, link) for i, text in markdown_cells(path) for link in COLAB_LINK.findall(text)]
    assert links and links[0][0] == 0, f"{rel}: the title cell has no Colab badge"
    wrong = [f"cell {i}: {link}" for i, link in links if link != own]
    assert not wrong, f"{rel}: Colab links must open this notebook ({own}), found " + "; ".join(wrong)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_myst_syntax_in_notebook_markdown(path):
    rel = path.relative_to(ROOT).as_posix()
    problems = []
    for i, text in markdown_cells(path):
        problems += [f"cell {i}: MyST role {m.group(0)}..." for m in MYST_ROLE.finditer(text)]
        problems += [f"cell {i}: MyST directive {m.group(0).strip()}..." for m in MYST_DIRECTIVE.finditer(text)]
        problems += [f"cell {i}: {p}" for p in math_layout_problems(text)]
    assert not problems, (
        f"{rel} must read right in JupyterLab and Colab: link book pages by URL ({BOOK_URL}book/<page>.html), "
        "cite as 'Author et al. (year)', start display math on its own line. Found: " + "; ".join(problems)
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_links_to_the_book_point_at_pages_in_the_toc(path):
    pages = toc_pages()
    for i, text in markdown_cells(path):
        for link in BOOK_LINK.findall(text):
            page = link.removeprefix(BOOK_URL).split("#", 1)[0]
            assert page.endswith(".html") and page.removesuffix(".html") in pages, (
                f"{path.relative_to(ROOT)} cell {i}: {link} is not a page of the book (_toc.yml)"
            )


def test_the_markdown_checks_catch_what_they_should():
    assert MYST_ROLE.search("see {doc}`../book/ch01-transformer`") and MYST_ROLE.search("{cite:t}`vaswani2017`")
    assert not MYST_ROLE.search("a set $\\{x\\}$ and `code`")
    assert MYST_DIRECTIVE.search("text\n```{note}\nhi\n```")
    assert math_layout_problems("energy $$E = 1$$") and math_layout_problems("$$a\n+ b$$")
    assert not math_layout_problems("text\n\n$$E = 1,$$\n\nmore $x + y$\n$$\na\n\\quad + b\n$$")
    assert "book/ch01-transformer" in toc_pages() and "notebooks/ch04-subleq" in toc_pages()


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_experiment_notebooks_record_a_paper_table(path):
    nb = load(path)
    rel = path.relative_to(ROOT).as_posix()
    code = "\n".join(src(c) for c in nb["cells"] if c["cell_type"] == "code")
    assert re.search(rf'PaperTable\(\s*"{re.escape(rel)}",\s*rt\b', code) and "table.show()" in code, (
        f'{rel}: end with a minitorch_xf.report.PaperTable("{rel}", rt, source=...) and table.show()'
    )
    assert any(text.startswith("## Paper vs this book") for _, text in markdown_cells(path)), (
        f"{rel}: no '## Paper vs this book' section"
    )


# ---- Every seed comes from XF_SEED: no notebook hard-codes one -----------------------------------------------------

SEEDING_CALLS = {"manual_seed", "Random", "default_rng", "seed", "seed_everything", "RandomState", "Generator"}


def literal_seeds(code: str) -> list[str]:
    """Calls in ``code`` that fix a seed with an integer literal: ``manual_seed(0)``, ``f(seed=3)``, ``Random(7)``.

    Arithmetic on a derived seed (``rt.seed + 3``, ``seed + 1000``) is fine: it moves with ``XF_SEED``.
    """
    import ast

    found = []
    for node in ast.walk(ast.parse(code)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        literal = [a for a in node.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, int)]
        if name in SEEDING_CALLS and literal:
            found.append(ast.unparse(node))
        for kw in node.keywords:
            if kw.arg in ("seed", "random_state") and isinstance(kw.value, ast.Constant):
                found.append(ast.unparse(node))
    for node in ast.walk(ast.parse(code)):  # seed = 3, seeds = [0, 1, 2], seeds = rt.pick(ci=[0, 1], full=[...])
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name)
            and t.id.lower().endswith(("seed", "seeds"))
            and not t.id.lower().startswith(("n_", "num_"))  # N_SEEDS = 20 is a count
            for t in node.targets
        ):
            values = [node.value] if isinstance(node.value, ast.Constant) else []
            values += [e for sub in ast.walk(node.value) if isinstance(sub, (ast.List, ast.Tuple)) for e in sub.elts]
            if any(isinstance(v, ast.Constant) and isinstance(v.value, int) for v in values):
                found.append(ast.unparse(node))
    return found


def test_literal_seed_detector_catches_what_it_should():
    bad = "torch.manual_seed(0)\ng = torch.Generator().manual_seed(7)\nt = Task(seed=3)\nr = random.Random(0)\n"
    bad += "seeds = rt.pick(ci=[0, 1, 2], full=list(range(10)))\nEVAL_SEED = 99\n"
    assert len(literal_seeds(bad)) == 6
    ok = "torch.manual_seed(rt.seed + 1)\ng = rt.generator(7)\nt = Task(seed=seed + 1000)\nr = random.Random(rt.seed)\n"
    ok += "seeds = rt.seeds(rt.pick(ci=3, full=10))\nN_SEEDS = 20\n"
    assert literal_seeds(ok) == []


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parent.name != "exercises"], ids=lambda p: p.name)
def test_no_hard_coded_seed(path):
    """XF_SEED=n must move every seed of a notebook: each one is derived from ``rt.seed`` (runtime.setup)."""
    nb = load(path)
    code_cells = [(i, src(c)) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    assert "runtime.setup()" in code_cells[0][1], f"{path.name}: the setup cell must call runtime.setup() (XF_SEED)"
    for i, code in code_cells:
        hits = literal_seeds(code)
        assert not hits, f"{path.name} cell {i} hard-codes a seed: {hits}; derive it from rt.seed (XF_SEED)"
