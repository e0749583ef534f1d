"""Book structure: the toc points at files that exist, chapters pair a derivation with notebooks, citations resolve."""

from __future__ import annotations

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
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", path.read_text(encoding="utf-8")):
            cited.update(k.strip() for k in group.split(","))
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
