"""Every chapter page links its exercise notebook, one click away, from the notebook itself (one source).

For the page ``book/chNN-name`` the box reads ``exercises/chNN-name.ipynb`` (the student copy that ``make exercises``
generates from ``solutions/``): its title, and each exercise's heading with its points. It sits at the end of the
page's introduction, before the first section, with a Colab badge (served from ``_static`` by :mod:`.links`) and a
link to the notebook in the repository. A chapter page without an exercise notebook is a warning, so ``-W`` fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

from .results import _repository, _root

logger = logging.getLogger(__name__)

CHAPTER_PAGE = re.compile(r"book/(ch\d\d-[\w-]+)")
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
POINTS = re.compile(r"\((\d+) points?\)")


def exercise_summary(path: Path) -> tuple[str, list[str]]:
    """The notebook's topic (its title after ``Exercises:``) and the heading of each exercise, in order."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    title = markdown[0].splitlines()[0].lstrip("# ").strip() if markdown else path.stem
    topic = title.split("Exercises:", 1)[1].strip() if "Exercises:" in title else title
    headings = [text.splitlines()[0][3:].strip() for text in markdown if text.startswith("## ")]
    return topic, headings


def _colab_url(repository: str, branch: str, notebook: str) -> str | None:
    match = re.match(r"https://github\.com/([^/]+/[^/]+)", repository)
    return f"https://colab.research.google.com/github/{match[1]}/blob/{branch}/{notebook}" if match else None


def exercise_box(app: Sphinx, stem: str, path: Path) -> nodes.Element:
    topic, headings = exercise_summary(path)
    notebook = f"exercises/{stem}.ipynb"
    box = nodes.admonition(classes=["tip", "xf-exercises"])
    box += nodes.title(text=f"Exercises: {topic}")
    intro = nodes.paragraph()
    repository, branch = _repository(app)
    colab = _colab_url(repository, branch, notebook) if repository else None
    if colab:
        badge = nodes.reference(refuri=colab, classes=["xf-colab"])
        # candidates: what Sphinx's image collector sets on an external image (it ran before this handler)
        badge += nodes.image(uri=COLAB_BADGE, alt="Open the exercises in Colab", candidates={"?": COLAB_BADGE})
        intro += [badge, nodes.Text(" ")]
    if repository:
        intro += nodes.reference("", notebook, refuri=f"{repository}/blob/{branch}/{notebook}")
    else:
        intro += nodes.literal(text=notebook)
    points = sum(int(m[1]) for h in headings for m in [POINTS.search(h)] if m)
    intro += nodes.Text(
        f": {len(headings)} exercise{'s' if len(headings) != 1 else ''}"
        + (f", {points} points" if points else "")
        + ". Each has a check cell that runs your code against a reference and says which case failed."
    )
    box += intro
    items = nodes.bullet_list()
    for heading in headings:
        items += nodes.list_item("", nodes.paragraph(text=heading))
    box += items
    return box


def add_exercise_box(app: Sphinx, doctree: nodes.document) -> None:
    docname = app.env.docname
    match = CHAPTER_PAGE.fullmatch(docname)
    if not match:
        return
    stem = match[1]
    path = _root(app) / "exercises" / f"{stem}.ipynb"
    if not path.is_file():
        logger.warning(
            f"chapter page {docname} has no exercise notebook {path.name}", type="xfbook", subtype="exercises"
        )
        return
    app.env.note_dependency(str(path))
    page = next(iter(doctree.findall(nodes.section)), None)
    if page is None:
        return
    first_section = next((i for i, child in enumerate(page.children) if isinstance(child, nodes.section)), None)
    page.insert(len(page.children) if first_section is None else first_section, exercise_box(app, stem, path))


def setup(app: Sphinx) -> None:
    app.connect("doctree-read", add_exercise_box)
