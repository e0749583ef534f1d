"""Book structure: the toc points at files that exist, chapters pair a derivation with notebooks, citations resolve."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.book
ROOT = Path(__file__).resolve().parents[1]
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())


def toc_files() -> list[str]:
    files = [TOC["root"]]

    def walk(entries):
        for e in entries:
            if "file" in e:
                files.append(e["file"])
            walk(e.get("sections", []))

    for part in TOC.get("parts", []):
        walk(part.get("chapters", []))
    return files


def resolve(entry: str) -> Path:
    for ext in (".md", ".ipynb"):
        if (ROOT / f"{entry}{ext}").exists():
            return ROOT / f"{entry}{ext}"
    raise FileNotFoundError(entry)


def test_notebook_pages_hide_the_setup_and_table_code():
    """The Colab/pip setup cell and the cell that builds the paper-vs-book table stay in the notebook and show only
    their output on the page (the browser test checks the built page)."""
    import json

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
        for cell in cells:
            tags = cell["metadata"].get("tags", [])
            if "setup" in tags or "PaperTable(" in "".join(cell["source"]):
                assert "remove-input" in tags, f"{path.name}: tag this cell remove-input: {cell['source'][:1]}"
        assert "setup" in cells[0]["metadata"].get("tags", []), f"{path.name}: its first code cell is the setup"


def test_every_toc_entry_exists():
    missing = [f for f in toc_files() if not any((ROOT / f"{f}{e}").exists() for e in (".md", ".ipynb"))]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_notebook_and_chapter_page_is_in_the_toc():
    listed = set(toc_files())
    pages = {p.relative_to(ROOT).with_suffix("").as_posix() for p in (ROOT / "book").glob("ch*.md")}
    notebooks = {p.relative_to(ROOT).with_suffix("").as_posix() for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert not (pages | notebooks) - listed, f"not in _toc.yml: {sorted((pages | notebooks) - listed)}"


def test_each_chapter_has_a_derivation_notebook_and_exercises():
    for page in sorted((ROOT / "book").glob("ch[0-9][0-9]-*.md")):
        nn = page.name[:4]
        assert list((ROOT / "notebooks").glob(f"{nn}-*.ipynb")), f"{page.name}: no notebooks/{nn}-*.ipynb"
        assert list((ROOT / "solutions").glob(f"{nn}-*.ipynb")), f"{page.name}: no solutions/{nn}-*.ipynb"


def test_bibliography_keys_are_unique_and_every_citation_resolves():
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = re.findall(r"@\w+\s*\{\s*([^,\s]+)\s*,", bib)
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    assert not dupes, f"duplicate BibTeX keys: {dupes}"
    sources = [resolve(f) for f in toc_files()]
    cited = set()
    for path in sources:
        text = path.read_text(encoding="utf-8")
        # a page whose bibliography has ``:keyprefix: p`` cites ``p<key>`` (a key another chapter's page also cites)
        prefix = m.group(1) if (m := re.search(r"^:keyprefix:\s*(\S+)", text, re.M)) else ""
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
            cited.update(k.strip().removeprefix(prefix) for k in group.split(","))
    assert not cited - set(keys), f"cited but not in references.bib: {sorted(cited - set(keys))}"


def test_literalincludes_point_at_existing_objects():
    pattern = re.compile(r"```\{literalinclude\}\s+(\S+)\s*\n(?::[^\n]*\n)*?:pyobject:\s*(\S+)")
    for page in (ROOT / "book").glob("*.md"):
        for rel, obj in pattern.findall(page.read_text(encoding="utf-8")):
            target = (page.parent / rel).resolve()
            assert target.exists(), f"{page.name}: literalinclude of missing file {rel}"
            name = obj.split(".")[-1]
            assert re.search(rf"^\s*(def|class) {name}\b", target.read_text(), re.M), (
                f"{page.name}: {obj} not found in {rel}"
            )


# --- Math that MyST misparses without a warning -------------------------------------------------------------------
# A display `$$` that does not start its own block (it follows a line of text) is read as inline math wrapped in
# stray dollars; a line starting with `+ ` or `- ` inside `$...$` starts a list and cuts the math in two. Both build
# without any warning, so we parse every page with the book's own MyST parser and look for dollar signs that came
# out as text. tests/test_browser.py checks the rendered pages as well.


def _myst_parser():
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    extensions = set(config.get("parse", {}).get("myst_enable_extensions", []))
    return create_md_parser(MdParserConfig(enable_extensions=extensions), RendererHTML)


def _markdown_sources() -> list[tuple[str, str]]:
    """(name, MyST text) of every book page and every notebook markdown cell in the toc."""
    import nbformat

    sources = []
    for entry in toc_files():
        path = resolve(entry)
        rel = path.relative_to(ROOT).as_posix()
        if path.suffix == ".md":
            sources.append((rel, path.read_text(encoding="utf-8")))
        else:
            nb = nbformat.read(path, as_version=4)
            for i, cell in enumerate(nb.cells):
                if cell.cell_type == "markdown":
                    sources.append((f"{rel} cell {i}", cell.source))
    return sources


def _directive_body(content: str) -> tuple[str, int]:
    """The markdown body of a ```{directive} block without its leading `:option:` lines, and how many were dropped."""
    lines = content.splitlines()
    n = 0
    while n < len(lines) and re.match(r"^:[\w-]+:", lines[n]):
        n += 1
    return "\n".join(lines[n:]), n


CODE_DIRECTIVES = ("{code-block}", "{code-cell}", "{code}", "{literalinclude}", "{bibliography}", "{math}")


def _stray_dollars(md, text: str, first_line: int = 1) -> list[str]:
    problems = []
    for token in md.parse(text):
        line = first_line + (token.map[0] if token.map else 0)
        info = token.info.strip()
        if token.type in ("fence", "colon_fence") and info.startswith("{") and not info.startswith(CODE_DIRECTIVES):
            body, skipped = _directive_body(token.content)
            problems += _stray_dollars(md, body, line + 1 + skipped)
        for child in token.children or []:
            if child.type == "text" and "$" in child.content:
                problems.append(f"line {line}: {child.content.strip()[:70]!r}")
    return problems


def test_display_math_and_inline_math_parse_as_math():
    md = _myst_parser()
    problems = []
    for name, text in _markdown_sources():
        problems += [f"{name}, {p}" for p in _stray_dollars(md, text)]
    assert not problems, (
        "dollar signs left as text (display $$ must open its own block, after a blank line; a line inside $...$ "
        "must not start with '+ ' or '- '):\n" + "\n".join(problems)
    )


def test_display_math_delimiters_stand_alone():
    """House style for book pages, which rules the misparse out by construction: `$$` alone on its line, opening
    after a blank line (or a directive's first line)."""
    problems = []
    for page in sorted((ROOT / "book").glob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        fences: list[tuple[str, bool]] = []  # open ``` fences: (marker, is code)
        inside = False
        for i, line in enumerate(lines):
            stripped = line.strip()
            fence = re.match(r"^(`{3,}|~{3,}|:{3,})(.*)$", stripped)
            if fence:
                marker, rest = fence.groups()
                if fences and fences[-1][0] == marker and not rest.strip():
                    fences.pop()
                else:
                    is_code = not rest.strip().startswith("{") or rest.strip().startswith(CODE_DIRECTIVES)
                    fences.append((marker, is_code))
                continue
            if (fences and fences[-1][1]) or "$$" not in line:
                continue
            where = f"{page.name} line {i + 1}"
            if not re.fullmatch(r"\$\$(\s*\([\w-]+\))?", stripped):
                problems.append(f"{where}: {stripped[:70]!r}")
                continue
            before = lines[i - 1].strip() if i else ""
            if not inside and before and not re.match(r"^(:[\w-]+:|`{3,}|:{3,})", before):
                problems.append(f"{where}: opening $$ directly after a line of text")
            inside = not inside
    assert not problems, "display math must be a block of its own:\n" + "\n".join(problems)


def test_chapter_sections_are_numbered_in_order():
    """Chapter NN's sections read `## NN.1 ...`, `## NN.2 ...` in order; only exercise sections go unnumbered."""
    for page in sorted((ROOT / "book").glob("ch[0-9][0-9]-*.md")):
        chapter = int(page.name[2:4])
        text = re.sub(r"^(`{3,}|:{3,}).*?^\1\s*$", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
        title = re.search(r"^# (.*)$", text, re.M)
        assert title and title.group(1).startswith(f"{chapter}. "), f"{page.name}: title must start with '{chapter}. '"
        sections = re.findall(r"^## (.*)$", text, re.M)
        numbered = [s for s in sections if not s.startswith("Exercises")]
        expected = [f"{chapter}.{k}" for k in range(1, len(numbered) + 1)]
        assert [s.split(" ")[0] for s in numbered] == expected, f"{page.name}: sections {numbered}, want {expected}"


# --- The book's Sphinx extension (book/_ext/xfbook), on a small project of its own -------------------------------

BASEURL = "https://example.org/published/"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _json(path: Path, data: dict) -> None:
    import json

    _write(path, json.dumps(data))


def _mini_book(root: Path) -> None:
    _write(
        root / "conf.py",
        f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
        "extensions = ['myst_parser', 'sphinx_proof', 'sphinxcontrib.bibtex', 'xfbook']\n"
        "myst_enable_extensions = ['dollarmath', 'amsmath']\n"
        f"html_baseurl = {BASEURL!r}\n"
        "bibtex_bibfiles = ['refs.bib']\nbibtex_reference_style = 'author_year'\n"
        "bibtex_default_style = 'xf_author_year'\n"
        "prf_realtyp_to_countertyp = {'definition': 'theorem', 'proposition': 'theorem'}\n"
        "exclude_patterns = ['_build', 'records', 'checks', 'tests', 'exercises']\n"
        "xfbook_record_dirs = ['records/*']\n"
        "xfbook_check_sources = ['checks/*.ipynb', 'tests/*.py']\n"
        "xfbook_proof_only = 'proof-only.yml'\n"
        "xfbook_repository_url = 'https://example.org/repo'\n",
    )
    _write(
        root / "refs.bib",
        "@article{lu2019, author = {Lu, Yiping and Li, Zhuohan and He, Di}, title = {A}, journal = {J}, year = 2019}\n"
        "@article{two2020, author = {Zhang, Biao and R{\\'e}, Chris}, title = {B}, journal = {J}, year = 2020}\n",
    )
    _write(
        root / "index.md",
        "# Mini\n\n```{toctree}\nbook/ch07-a\nbook/ch09-b\nnotebooks/ch09-b\nrepro\ntimes\nresults\n```\n",
    )
    _write(root / "results.md", "# Results\n\n```{xf-results}\n```\n")
    _write(root / "proof-only.yml", "prop-b: an asymptotic statement, checked by no finite run\n")
    _write(root / "tests/test_b.py", "import pytest\n\n\n@pytest.mark.checks('thm-b')\ndef test_b():\n    pass\n")
    cells = [
        {"cell_type": "markdown", "source": "## Checks"},
        {"cell_type": "code", "source": "assert ok\nchecks.checked('thm-b', f'{x}')"},
    ]
    _json(root / "checks/ch09-b.ipynb", {"cells": cells})
    statement = "```{{prf:{kind}}} {title}\n:label: {label}\n\nText $x$.\n```\n\n"
    _write(
        root / "pkg/thing.py",
        "def thing(x, scale=1.0):\n"
        '    """Scale x: the one line a reader needs.\n\n    Details nobody reads on the page.\n    """\n'
        "    if not isinstance(scale, float):\n"
        '        raise TypeError(f"scale must be a float, got {scale!r}; this message is long enough to overflow")\n'
        "    check_finite('x', x)\n"
        "    return [scale * v for v in x]  # a trailing comment long enough to push this line past 88\n",
    )
    _write(
        root / "book/ch07-a.md",
        "# 7. A\n\n## 7.1 S\n\n"
        + statement.format(kind="theorem", title="T", label="thm-a")
        + "```{literalinclude} ../pkg/thing.py\n:pyobject: thing\n```\n",
    )
    _write(
        root / "book/ch09-b.md",
        "# 9. B\n\n## 9.1 First\n\n"
        + statement.format(kind="definition", title="D", label="def-b")
        + statement.format(kind="theorem", title="T", label="thm-b")
        + statement.format(kind="proposition", title="P", label="prop-b")
        + "See {prf:ref}`thm-a`, {cite:t}`lu2019` and {cite:p}`two2020`.\n\n"
        "```{bibliography}\n```\n",
    )
    _write(
        root / "notebooks/ch09-b.md",
        "# Notebook 9\n\n"
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.example/x)\n\n"
        f"Read [chapter 9]({BASEURL}book/ch09-b.html#first) and [the front page]({BASEURL}).\n",
    )
    _write(root / "repro.md", "# Reproductions\n\n```{xf-reproductions}\n```\n")
    _write(root / "times.md", "# Times\n\n```{xf-execution-times}\n```\n")
    for stem, title, headings in (
        ("ch07-a", "Chapter 7 · Exercises: the A things", ["## 1. A loop"]),
        (
            "ch09-b",
            "Chapter 9 · Exercises: the B things",
            ["## Exercise 1 (2 points): a step", "## Exercise 2 (3 points): b"],
        ),
    ):
        cells = [{"cell_type": "markdown", "source": f"# {title}\n\nBudget."}]
        cells += [
            {
                "cell_type": "markdown",
                "source": f"{h}\n_Practises: step {i} · About {10 * i} minutes._\n\nText.\n\n"
                f"<details><summary>Hint</summary>\n\nUse `x.max(-1)` and $e^{{x-m}} < 1$.\n\n</details>",
            }
            for i, h in enumerate(headings, start=1)
        ]
        cells += [{"cell_type": "code", "source": "raise NotImplementedError()"}]
        _json(root / f"exercises/{stem}.ipynb", {"cells": cells})


def _sphinx_build(root: Path) -> tuple[int, str]:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(root), str(root / "_build")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return out.returncode, out.stdout + out.stderr


def _page(root: Path, name: str) -> str:
    return (root / "_build" / name).read_text(encoding="utf-8")


def _text(html_text: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", html_text)).replace("\u2019", "'")  # Sphinx's smart quotes


@pytest.fixture(scope="module")
def mini_book(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini_book")
    _mini_book(root)
    repro = {
        "notebook": "notebooks/ch09-b.ipynb",
        "chapter": 9,
        "device": "cpu",
        "device_name": "Test CPU",
        "seed": 0,
        "versions": {"python": "3.11.7", "torch": "2.13.0"},
        "source": "Lu et al. (2019)",
    }
    rows_ci = [
        {
            "claim": "Error order of $S_h$",
            "paper": "2",
            "ours": "**1.98**",
            "status": "asserted",
            "paper_checked": True,
        },
        {"claim": "only ci", "paper": "p", "ours": "x", "status": "reported", "paper_checked": False},
    ]
    rows_full = [{"claim": "Error order of $S_h$", "paper": "2", "ours": "2.01", "status": "asserted"}]
    rows_long = [{"claim": "Error order of $S_h$", "paper": "2", "ours": "2.00", "status": "asserted"}]
    figure = {"notebook": "checks/ch09-b.ipynb", "profile": "ci", "device": "cpu", "seed": 4}
    _json(
        root / "records/local/checks/ch09-b.json",
        {**figure, "created": "2026-11-25T10:00:00Z", "checks": {"thm-b": ["order 1.98, within 0.05 of 2"]}},
    )
    _json(
        root / "records/local/reproductions/ch09-b.json",
        {**repro, "profile": "ci", "created": "2026-11-25T10:00:00Z", "rows": rows_ci},
    )
    _json(
        root / "records/long-cpu/reproductions/ch09-b.json",
        {**repro, "profile": "long", "created": "2026-11-24T12:00:00Z", "rows": rows_long, "cpu_s": 900.0},
    )
    _json(
        root / "records/full-cuda/reproductions/ch09-b.json",
        {
            **repro,
            "profile": "full",
            "device": "cuda",
            "device_name": "H100",
            "created": "2026-11-24T10:00:00Z",
            "rows": rows_full,
            "cpu_s": 312.5,
            "wall_s": 320.0,
        },
    )
    times = {
        "profile": "ci",
        "device": "cpu",
        "created": "2026-11-25T10:00:00Z",
        "notebooks": {
            "notebooks/ch09-b.ipynb": {"cpu_s": 27.25, "wall_s": 41.0, "budget_s": 60, "profile": "ci", "threads": 1},
            "notebooks/ch09-slow.ipynb": {"cpu_s": 70.0, "wall_s": 75.0, "budget_s": 60, "profile": "ci", "threads": 1},
        },
    }
    _json(root / "records/local/times.json", times)
    full_times = {  # as `make reproduce` writes them: the notebook's ci budget rides along, but does not apply
        "profile": "full",
        "device": "cpu",
        "created": "2026-11-25T10:00:00Z",
        "notebooks": {
            "notebooks/ch09-slow.ipynb": {"cpu_s": 90.0, "wall_s": 95.0, "budget_s": 60, "profile": "full"},
        },
    }
    _json(root / "records/full-cpu/times.json", full_times)
    code, log = _sphinx_build(root)
    assert code == 0, log
    return root


def test_statements_are_numbered_per_chapter_with_one_counter(mini_book):
    ch09 = _text(_page(mini_book, "book/ch09-b.html"))
    for expected in ("Definition 9.1", "Theorem 9.2", "Proposition 9.3", "See Theorem 7.1"):
        assert expected in ch09, f"{expected!r} not in chapter 9's page"
    assert "Theorem 7.1" in _text(_page(mini_book, "book/ch07-a.html"))


def test_each_chapter_page_links_its_exercises(mini_book):
    """The box at the end of a chapter's introduction, read from exercises/<page>.ipynb: topic, link, each heading."""
    page = _page(mini_book, "book/ch09-b.html")
    text = _text(page)
    assert "Exercises: the B things" in text and "2 exercises, 5 points" in text, text[:600]
    assert "Exercise 1 (2 points): a step" in text and "Exercise 2 (3 points): b" in text
    assert 'href="https://example.org/repo/blob/main/exercises/ch09-b.ipynb"' in page
    assert text.index("Exercises: the B things") < text.index("9.1 First"), "the box comes before the first section"
    assert "1 exercises" not in _text(_page(mini_book, "book/ch07-a.html"))
    assert "about 30 minutes in all" in text and "practises step 2; about 20 minutes" in text, text[:800]
    hints = re.findall(r'<details class="xf-hint"><summary>Hint</summary><p>(.*?)</p></details>', page)
    assert len(hints) == 2, page
    assert "<code>x.max(-1)</code>" in hints[0] and r"\(e^{x-m} &lt; 1\)" in hints[0], hints[0]


def test_package_code_shows_its_teaching_part_within_88_columns(mini_book):
    """An included function without its argument checks, formatted at 88 columns, linked to its full source."""
    page = _page(mini_book, "book/ch07-a.html")
    block = re.search(r'<div class="literal-block-wrapper[^"]*xf-excerpt-wrapper.*?</pre>', page, re.DOTALL)
    assert block, page
    code = html.unescape(re.sub(r"<[^>]+>", "", block[0]))
    assert "raise TypeError" not in code and "check_finite" not in code, code
    assert "argument checks left out" in code and "return [scale * v for v in x]" in code, code
    assert "Details nobody reads" not in code and "Scale x: the one line" in code, code
    assert 'href="https://example.org/repo/blob/main/pkg/thing.py#L1-L9"' in block[0], block[0]
    lines = code.split("full source", 1)[1].splitlines()
    assert max(len(line) for line in lines) <= 88, lines


def test_bibliography_labels_match_author_year_citations(mini_book):
    ch09 = _text(_page(mini_book, "book/ch09-b.html"))
    assert "Lu et al. [2019]" in ch09 and "[Zhang and Ré, 2020]" in ch09  # the citations in the text
    labels = re.findall(
        r'class="label"><span class="fn-bracket">\[</span>(?:<a [^>]*>)?([^<]+)', _page(mini_book, "book/ch09-b.html")
    )
    assert sorted(labels) == ["Lu et al., 2019", "Zhang and Ré, 2020"], labels


def test_links_to_the_published_book_become_local(mini_book):
    page = _page(mini_book, "notebooks/ch09-b.html")
    assert 'href="../book/ch09-b.html#first"' in page
    assert 'href="../index.html"' in page
    assert BASEURL not in re.sub(r'<link rel="canonical"[^>]*>', "", page)
    assert 'src="../_static/xfbook-colab-badge.svg"' in page
    assert (mini_book / "_build/_static/xfbook-colab-badge.svg").is_file()


def test_pages_load_nothing_from_elsewhere_and_no_script_twice(mini_book):
    for path in (mini_book / "_build").rglob("*.html"):
        page = path.read_text(encoding="utf-8")
        name = path.relative_to(mini_book / "_build")
        external = re.findall(r'<(?:script|img|iframe)\b[^>]*\bsrc="(?:https?:)?//[^"]*"', page)
        external += [
            t
            for t in re.findall(r"<link\b[^>]*>", page)
            if re.search(r'href="(?:https?:)?//', t) and "canonical" not in t
        ]
        assert not external, f"{name} loads from elsewhere: {external}"
        inline = [s for s in re.findall(r"<script>(.*?)</script>", page, re.S) if s.strip()]
        assert len(inline) == len(set(inline)), f"{name}: an inline script appears twice"
        assert "THEBE_JS_URL" not in page
    page = _page(mini_book, "book/ch09-b.html")
    assert re.search(r'<script defer="defer" src="../_static/mathjax/tex-mml-chtml.js">', page)
    mathjax = mini_book / "_build/_static/mathjax"
    assert (mathjax / "tex-mml-chtml.js").is_file()
    assert list((mathjax / "output/chtml/fonts/woff-v2").glob("*.woff")), "MathJax fonts not copied"
    assert (mathjax / "input/tex/extensions/physics.js").is_file(), "MathJax TeX extensions not copied"


def test_reproductions_table_from_records(mini_book):
    page = _page(mini_book, "repro.html")
    text = _text(page)
    row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*Error order(?:(?!</tr>).)*</tr>", page, re.S)
    assert row, "no row for the claim"
    cells = [_text(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)]
    assert cells[1:] == ["2", "1.98", "2.00 (cpu)", "2.01 (cuda)", "asserted ✓"], cells
    assert '<span class="math notranslate nohighlight">' in row.group(0), "MyST math in a claim must render as math"
    group = re.search(r'<td[^>]*colspan="6"[^>]*>(.*?)</td>', page, re.S)
    assert group, "a heading row across the table names the notebook"
    assert _text(group.group(1)).split() == (
        "Notebook 9 · Lu et al. (2019) — 2 rows: 1 asserted, 1 reported".split()
    ), group.group(1)  # the page's title, not its file name
    assert 'href="notebooks/ch09-b.html"' in group.group(1)
    assert "<strong>1.98</strong>" in row.group(0)
    only_ci = re.search(r"<tr[^>]*>(?:(?!</tr>).)*only ci(?:(?!</tr>).)*</tr>", page, re.S).group(0)
    expected = ["only", "ci", "p", "†", "x", "not", "run", "not", "run", "reported"]
    assert _text(only_ci).split() == expected, _text(only_ci)
    assert "The whole book: 2 rows: 1 asserted, 1 reported, over 1 notebook." in text
    assert "Chapter 9: 2 rows: 1 asserted, 1 reported." in text
    assert "† A paper value not checked against the paper's text (1 here)." in text
    assert "committed run" not in text and "records/" not in text, "record folders are local paths, not for readers"
    assert "this build (make test or make book)" in text and "cuda: H100" in text and "torch 2.13.0" in text


def test_execution_times_table_from_records(mini_book):
    page = _page(mini_book, "times.html")
    text = _text(page)
    assert "41.0" in text and "60.0" in text
    assert "70.0 (over)" in text, "a notebook over its CPU budget must be marked"
    assert "9 · ch09-slow" in text, "a notebook the book does not have is listed as plain text"
    assert "312.5*" in text and "320.0" in text, "a book build's kernel-measured time is listed, and marked"
    full_row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*95\.0(?:(?!</tr>).)*</tr>", page, re.S).group(0)
    cells = [_text(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", full_row, re.S)]
    assert cells[-3:] == ["90.0", "95.0", "–"], f"the ci budget is not a full run's: {cells}"
    assert "Measured inside the notebook's kernel by the book build" in text
    assert (
        "In all: ci on cpu: 2 notebooks, 97 s CPU, 116 s wall; full on cpu: 1 notebook, 90 s CPU, 95 s wall; "
        "full on cuda: 1 notebook, 312 s CPU"
    ) in text


def test_each_result_box_says_where_it_is_checked(mini_book):
    page = _page(mini_book, "book/ch09-b.html")
    notes = [_text(n).split() for n in re.findall(r'<p class="xf-result-check">(.*?)</p>', page, re.S)]
    assert notes == [
        "Checked numerically: checks/ch09-b.ipynb § Checks — order 1.98, within 0.05 of 2 (ci, seed 4); "
        "unit test tests/test_b.py::test_b.".split(),
        "Proof only: an asymptotic statement, checked by no finite run".split(),
    ], notes  # a definition gets no note; the theorem and the proposition each get one
    assert 'href="https://example.org/repo/blob/main/tests/test_b.py"' in page
    unchecked = _text(_page(mini_book, "book/ch07-a.html"))
    assert "Not checked, and no reason given" in unchecked


def test_the_index_of_results_counts_them(mini_book):
    text = " ".join(_text(_page(mini_book, "results.html")).split())
    assert "3 labelled results (theorems, propositions, lemmas, corollaries): 1 checked numerically" in text, text
    assert "1 proof only, 1 with neither." in text
    for cell in ("Theorem 9.2", "Proposition 9.3", "Theorem 7.1", "no check", "order 1.98, within 0.05 of 2"):
        assert cell in text, cell


def test_tables_without_records_say_how_to_make_them(tmp_path):
    _mini_book(tmp_path)
    code, log = _sphinx_build(tmp_path)
    assert code == 0, log
    assert "No notebook has recorded its checks yet" in _text(_page(tmp_path, "repro.html"))
    assert "No notebook times have been recorded yet" in _text(_page(tmp_path, "times.html"))


def test_bad_records_and_links_to_missing_pages_fail_the_build(tmp_path):
    _mini_book(tmp_path)
    _write(tmp_path / "records/x/times.json", "{not json")
    _json(tmp_path / "records/x/reproductions/ch09-b.json", {"notebook": "notebooks/ch09-b.ipynb", "rows": []})
    _write(tmp_path / "notebooks/ch09-b.md", f"# N\n\n[gone]({BASEURL}book/ch99-gone.html)\n")
    code, log = _sphinx_build(tmp_path)
    assert code != 0
    assert re.search(r"unreadable record \S*times\.json", log), log
    assert re.search(r"record \S*ch09-b\.json lacks profile, device", log), log
    assert f"link to a page the book does not have: {BASEURL}book/ch99-gone.html" in log, log
