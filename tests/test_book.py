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
