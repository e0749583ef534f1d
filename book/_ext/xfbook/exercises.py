"""Every chapter page links its exercise notebook, one click away, from the notebook itself (one source).

For the page ``book/chNN-name`` the box reads ``exercises/chNN-name.ipynb`` (the student copy that ``make exercises``
generates from ``solutions/``): its title, and for each exercise (a markdown cell starting ``## ``) its heading with
its points, what it practises and roughly how long it takes (the line ``_Practises: ... · About N minutes._`` under
the heading) and its hints (``<details><summary>Hint</summary> ... </details>`` blocks, collapsible in Jupyter and on
the page). It sits at the end of the page's introduction, before the first section, with a Colab badge (served from
``_static`` by :mod:`.links`) and a link to the notebook in the repository. A chapter page without an exercise
notebook, or an exercise without its practises line or a hint, is a warning, so ``-W`` fails.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

from .results import _repository, _root

logger = logging.getLogger(__name__)

CHAPTER_PAGE = re.compile(r"book/(ch\d\d-[\w-]+)")
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
POINTS = re.compile(r"\((\d+) points?\)")


PRACTISES = re.compile(r"^_Practises: (?P<what>.+?) · About (?P<minutes>\d+) minutes\._$", re.MULTILINE)
HINT = re.compile(r"<details><summary>Hint</summary>\s*(.*?)\s*</details>", re.DOTALL)


@dataclass
class Exercise:
    """One exercise as the box shows it: heading (with points), what it practises, minutes, hints (Markdown)."""

    heading: str
    what: str | None = None
    minutes: int | None = None
    hints: list[str] = field(default_factory=list)


def exercise_summary(path: Path) -> tuple[str, list[Exercise]]:
    """The notebook's topic (its title after ``Exercises:``) and its exercises, in order."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    title = markdown[0].splitlines()[0].lstrip("# ").strip() if markdown else path.stem
    topic = title.split("Exercises:", 1)[1].strip() if "Exercises:" in title else title
    exercises: list[Exercise] = []
    for text in markdown:
        if text.startswith("## "):
            exercises.append(Exercise(text.splitlines()[0][3:].strip()))
        if not exercises:
            continue
        current = exercises[-1]
        match = PRACTISES.search(text)
        if match and current.what is None:
            current.what, current.minutes = match["what"], int(match["minutes"])
        current.hints += HINT.findall(text)
    return topic, exercises


def markdown_to_html(text: str) -> str:
    """The little Markdown a hint uses, as HTML: ``code``, **bold**, *italics*, $math$ (typeset by MathJax)."""
    parts = re.split(r"(`[^`]+`|\$[^$]+\$)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        elif part.startswith("$") and part.endswith("$") and len(part) > 1:
            out.append(f'<span class="math notranslate nohighlight">\\({html.escape(part[1:-1])}\\)</span>')
        else:
            plain = html.escape(part)
            plain = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", plain)
            plain = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", plain)
            out.append(plain)
    return "".join(out).replace("\n\n", "</p><p>")


def _colab_url(repository: str, branch: str, notebook: str) -> str | None:
    match = re.match(r"https://github\.com/([^/]+/[^/]+)", repository)
    return f"https://colab.research.google.com/github/{match[1]}/blob/{branch}/{notebook}" if match else None


def exercise_box(app: Sphinx, stem: str, topic: str, exercises: list[Exercise]) -> nodes.Element:
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
    points = sum(int(m[1]) for e in exercises for m in [POINTS.search(e.heading)] if m)
    minutes = sum(e.minutes or 0 for e in exercises)
    intro += nodes.Text(
        f": {len(exercises)} exercise{'s' if len(exercises) != 1 else ''}"
        + (f", {points} points" if points else "")
        + (f", about {minutes} minutes in all" if minutes else "")
        + ". Each has a check cell that runs your code against a reference and says which case failed."
    )
    box += intro
    items = nodes.bullet_list()
    for exercise in exercises:
        item = nodes.list_item(classes=["xf-exercise"])
        line = nodes.paragraph()
        line += nodes.strong(text=exercise.heading)
        if exercise.what:
            line += nodes.Text(f" — practises {exercise.what}; about {exercise.minutes} minutes.")
        item += line
        for hint in exercise.hints:
            item += nodes.raw(
                "",
                f'<details class="xf-hint"><summary>Hint</summary><p>{markdown_to_html(hint)}</p></details>',
                format="html",
            )
        items += item
    box += items
    return box


def _missing(exercises: list[Exercise]) -> list[str]:
    problems = []
    for e in exercises:
        if e.what is None:
            problems.append(f"{e.heading!r} has no line '_Practises: ... · About N minutes._' under its heading")
        if not e.hints:
            problems.append(f"{e.heading!r} has no <details><summary>Hint</summary> ... </details> block")
    return problems


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
    topic, exercises = exercise_summary(path)
    for problem in _missing(exercises):
        logger.warning(f"{path.name}: {problem}", type="xfbook", subtype="exercises")
    page = next(iter(doctree.findall(nodes.section)), None)
    if page is None:
        return
    first_section = next((i for i, child in enumerate(page.children) if isinstance(child, nodes.section)), None)
    at = len(page.children) if first_section is None else first_section
    page.insert(at, exercise_box(app, stem, topic, exercises))


def setup(app: Sphinx) -> None:
    app.connect("doctree-read", add_exercise_box)
