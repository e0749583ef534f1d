"""Every labelled result of the book knows where it is checked.

A *result* is a ``{prf:theorem}``, ``{prf:proposition}``, ``{prf:lemma}`` or ``{prf:corollary}`` with a ``:label:``.
Each one is either checked numerically or listed as proof-only, with a one-line reason, in ``book/proof-only.yml``:

- a notebook's check cell names it: ``checks.checked("prop-scale", f"... {figure} ...")``
  (``minitorch_xf.report.Checks``; the call records the asserted figure in ``<record_dir>/checks/<stem>.json``);
- a unit test names it: ``@pytest.mark.checks("lem-layernorm-backward")``.

Where a result is checked is read from the sources (the label is a string literal in the call or the marker), so it
is known without running anything; the figure comes from the records of the last run. Under every result's box the
book shows where it is checked (the notebook section, or the test, and the figure) or "proof only" and the reason;
``{xf-results}`` lists every result with its status. ``tests/test_results.py`` fails when a result has neither a check
nor a reason, or when a check or a reason names a label the book does not have.

This module's scanning functions import nothing from Sphinx, so the tests use them directly.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULT_KINDS = ("theorem", "proposition", "lemma", "corollary")
CHECK_SOURCES = ("notebooks/*.ipynb", "solutions/*.ipynb", "tests/**/*.py")
PROOF_ONLY = "book/proof-only.yml"
# ```{prf:theorem} Title            (or :::{prf:...})
# :label: thm-strang
_STATEMENT = re.compile(r"^(?:`{3,}|:{3,})\{prf:(\w+)\}([^\n]*)\n(?::\w+:[^\n]*\n)*?:label:\s*([\w-]+)", re.M)
_CHECKED_CALL = re.compile(r"\.checked\(\s*[rR]?([\"'])([^\"'\n]+)\1")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


@dataclass(frozen=True)
class Statement:
    label: str
    kind: str  # theorem, proposition, definition, ...
    page: str  # book/ch01-transformer.md
    title: str = ""  # the statement's title, "Softmax is a smoothed argmax"

    @property
    def is_result(self) -> bool:
        return self.kind in RESULT_KINDS


@dataclass(frozen=True)
class Site:
    """One place that checks a result: a notebook section, or a unit test."""

    path: str  # relative to the repository root: notebooks/ch01-transformer.ipynb, tests/nn/test_x.py
    where: str  # the notebook's section heading, or the test's name
    kind: str  # "notebook" or "test"


def statements(root: Path) -> dict[str, Statement]:
    """Every labelled prf statement of ``book/*.md``, by label."""
    found: dict[str, Statement] = {}
    for page in sorted((root / "book").glob("*.md")):
        for kind, title, label in _STATEMENT.findall(page.read_text(encoding="utf-8")):
            found[label] = Statement(label, kind, page.relative_to(root).as_posix(), title.strip())
    return found


def _files(root: Path, patterns) -> list[Path]:
    paths: dict[Path, None] = {}
    for pattern in patterns:
        for name in sorted(glob.glob(os.path.join(root, pattern), recursive=True)):
            paths.setdefault(Path(name))
    return list(paths)


def notebook_cells(path: Path) -> list[tuple[str, str]]:
    """(cell type, source) of every cell of a notebook."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    return [(c.get("cell_type", ""), "".join(c.get("source", ""))) for c in cells]


def checked_labels(source: str) -> list[str]:
    """The labels that ``checks.checked("label", ...)`` calls in ``source`` name."""
    return [m.group(2) for m in _CHECKED_CALL.finditer(source)]


def marker_labels(tree: ast.AST) -> dict[str, list[str]]:
    """{test name: labels} for every ``@pytest.mark.checks("a", "b")`` decorator (also on classes) of a module."""
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for deco in node.decorator_list:
            if (
                isinstance(deco, ast.Call)
                and isinstance(deco.func, ast.Attribute)
                and deco.func.attr == "checks"
                and ast.unparse(deco.func.value) in ("pytest.mark", "mark")
            ):
                labels = [a.value for a in deco.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                found.setdefault(node.name, []).extend(labels)
    return found


def check_sites(root: Path, patterns=CHECK_SOURCES) -> dict[str, list[Site]]:
    """{label: [Site, ...]}: where each label is named by a ``checked`` call or a ``checks`` marker."""
    sites: dict[str, list[Site]] = {}
    for path in _files(root, patterns):
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".ipynb":
            heading = "top"
            for kind, source in notebook_cells(path):
                if kind == "markdown":
                    titles = _HEADING.findall(source)
                    heading = titles[-1][1] if titles else heading
                elif kind == "code":
                    for label in checked_labels(source):
                        site = Site(rel, heading, "notebook")
                        if site not in sites.setdefault(label, []):
                            sites[label].append(site)
        elif path.suffix == ".py":
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except SyntaxError:
                continue
            for test, labels in marker_labels(tree).items():
                for label in labels:
                    sites.setdefault(label, []).append(Site(rel, test, "test"))
    return sites


def proof_only(root: Path, path: str = PROOF_ONLY) -> dict[str, str]:
    """{label: reason} from ``book/proof-only.yml`` (a mapping of label to a one-line reason)."""
    import yaml

    file = root / path
    if not file.is_file():
        return {}
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"{file}: must map each label to a one-line reason (strings)")
    return {k: " ".join(v.split()) for k, v in data.items()}


def recorded_figures(record_dirs: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """{label: [{"figure", "notebook", "profile", "device", "seed", "created"}, ...]} from ``checks/*.json``: the `ci`
    records first (what ``make test``/``make book`` ran), each profile newest first."""
    records = []
    for folder in record_dirs:
        for path in sorted((folder / "checks").glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and isinstance(data.get("checks"), dict):
                records.append(data)
    records.sort(key=lambda r: str(r.get("created", "")), reverse=True)
    records.sort(key=lambda r: r.get("profile") != "ci")  # stable: the `ci` runs (this build's) first, newest first
    figures: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        for label, texts in record["checks"].items():
            for text in texts if isinstance(texts, list) else []:
                if isinstance(text, str):
                    meta = {k: record.get(k) for k in ("notebook", "profile", "device", "seed", "created")}
                    figures.setdefault(label, []).append({"figure": text, **meta})
    return figures


# --- Sphinx: a line under every result's box, and the index of results --------------------------------------------

from docutils import nodes  # noqa: E402
from sphinx.application import Sphinx  # noqa: E402
from sphinx.util import logging  # noqa: E402

from . import records  # noqa: E402

logger = logging.getLogger(__name__)


def _root(app: Sphinx) -> Path:
    return Path(app.srcdir).resolve()


def _repository(app: Sphinx) -> tuple[str | None, str]:
    """The repository's URL and branch: ``xfbook_repository_url``, else the theme's (Jupyter Book sets it from
    _config.yml's ``repository.url``)."""
    options = app.config.html_theme_options or {}
    url = app.config.xfbook_repository_url or options.get("repository_url") or None
    return (url.rstrip("/") if url else None), options.get("repository_branch") or "main"


def _state(app: Sphinx) -> dict[str, Any]:
    """The sources, read once per build: sites, reasons, and the figures the last runs recorded."""
    cached = getattr(app, "_xf_results", None)
    if cached is None:
        root = _root(app)
        cached = {
            "sites": check_sites(root, app.config.xfbook_check_sources),
            "reasons": proof_only(root, app.config.xfbook_proof_only),
            "figures": recorded_figures(records.record_dirs(app)),
        }
        app._xf_results = cached
    return cached


def _docname(path: str) -> str:
    return re.sub(r"\.(ipynb|md)$", "", path)


def site_link(app: Sphinx, fromdoc: str, site: Site) -> nodes.Node:
    """A link to where a result is checked: the notebook's section in the book, else the file in the repository."""
    env = app.env
    docname = _docname(site.path)
    if site.kind == "notebook" and docname in env.found_docs:
        title = env.titles[docname].astext() if docname in env.titles else Path(site.path).stem
        uri = app.builder.get_relative_uri(fromdoc, docname) + "#" + nodes.make_id(site.where)
        return nodes.reference("", "", nodes.Text(f"{title} § {site.where}"), refuri=uri, internal=True)
    text = f"{site.path} § {site.where}" if site.kind == "notebook" else f"{site.path}::{site.where}"
    repo, branch = _repository(app)
    literal = nodes.literal(text, text)
    return nodes.reference("", "", literal, refuri=f"{repo}/blob/{branch}/{site.path}") if repo else literal


def figure_text(entries: list[dict[str, Any]], site: Site) -> str | None:
    """The newest figure a run recorded at this site's notebook (profile and seed named), or None."""
    for entry in entries:
        if entry.get("notebook") == site.path:
            return f"{entry['figure']} (`{entry.get('profile', '?')}`, seed {entry.get('seed', '?')})"
    return None


def check_note(app: Sphinx, fromdoc: str, label: str) -> nodes.Node:
    """The paragraph under a result's box: where it is checked and what was asserted, or why it is proof only."""
    state = _state(app)
    para = nodes.paragraph(classes=["xf-result-check"])
    sites = state["sites"].get(label, [])
    if sites:
        para += nodes.strong("", "Checked numerically: ")
        for i, site in enumerate(sites):
            if i:
                para += nodes.Text("; ")
            para += nodes.Text("unit test " if site.kind == "test" else "")
            para += site_link(app, fromdoc, site)
            figure = figure_text(state["figures"].get(label, []), site) if site.kind == "notebook" else None
            if figure is not None:
                para += nodes.Text(" — ")
                para += records_inline(figure)
            elif site.kind == "notebook":
                para += nodes.Text(" (no recorded run in this build)")
        para += nodes.Text(".")
    elif label in state["reasons"]:
        para += nodes.strong("", "Proof only: ")
        para += nodes.Text(state["reasons"][label])
    else:
        para += nodes.strong("", "Not checked, and no reason given (tests/test_results.py fails on this).")
    return para


def records_inline(text: str) -> nodes.Node:
    """A figure as plain text with its `code` spans (figures are short: no other markup)."""
    span = nodes.inline()
    for i, part in enumerate(text.split("`")):
        if part:
            span += nodes.literal(part, part) if i % 2 else nodes.Text(part)
    return span


def annotate_results(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Under every labelled result's box, the paragraph of ``check_note``."""
    for node in list(doctree.findall(nodes.Element)):
        if node.get("realtype") in RESULT_KINDS and node.get("label") and node.parent is not None:
            node.parent.insert(node.parent.index(node) + 1, check_note(app, docname, node["label"]))


class ResultsIndex(records.RecordTable):
    """Every labelled result of the book: its chapter, how it is checked (or why not), the figure."""

    def run(self) -> list[nodes.Node]:
        app = self.env.app
        root = _root(app)
        state = _state(app)
        for path in _files(root, app.config.xfbook_check_sources):
            self.env.note_dependency(str(path))
        found = [s for s in statements(root).values() if s.is_result]
        rows, chapter, counts = [], None, {"notebook": 0, "test": 0, "proof only": 0, "none": 0}
        for statement in sorted(found, key=lambda s: s.page):  # stable: in the order of the page
            if statement.page != chapter:
                chapter = statement.page
                docname = _docname(chapter)
                rows.append(f"**{{doc}}`/{docname}`**" if docname in self.env.found_docs else f"**{chapter}**")
            sites = state["sites"].get(statement.label, [])
            result = f"{{prf:ref}}`{statement.label}`" + (f" · {statement.title}" if statement.title else "")
            if sites:
                where = []
                for site in sites:
                    figure = figure_text(state["figures"].get(statement.label, []), site)
                    link = self.site_markup(site)
                    where.append(f"{link}: {figure}" if figure else link)
                counts["notebook" if any(s.kind == "notebook" for s in sites) else "test"] += 1
                rows.append([result, "checked", "; ".join(where)])
            elif statement.label in state["reasons"]:
                counts["proof only"] += 1
                rows.append([result, "proof only", state["reasons"][statement.label]])
            else:
                counts["none"] += 1
                rows.append([result, "**no check**", "–"])
        checked = counts["notebook"] + counts["test"]
        summary = (
            f"{len(found)} labelled results (theorems, propositions, lemmas, corollaries): **{checked} checked "
            f"numerically** ({counts['notebook']} in a notebook, {counts['test']} by unit tests only), "
            f"**{counts['proof only']} proof only**"
            + (f", **{counts['none']} with neither**" if counts["none"] else "")
            + "."
        )
        out = self.paragraph(summary)
        out.append(self.table(["Result", "Status", "Where it is checked, and the figure asserted"], rows, [30, 12, 58]))
        return out

    def site_markup(self, site: Site) -> str:
        docname = _docname(site.path)
        if site.kind == "notebook" and docname in self.env.found_docs:
            return f"{{doc}}`/{docname}` § {site.where}"
        repo, branch = _repository(self.env.app)
        text = f"{site.path} § {site.where}" if site.kind == "notebook" else f"unit test {site.path}::{site.where}"
        return f"[`{text}`]({repo}/blob/{branch}/{site.path})" if repo else f"`{text}`"


def setup(app: Sphinx) -> None:
    app.add_config_value("xfbook_check_sources", list(CHECK_SOURCES), "env")
    app.add_config_value("xfbook_proof_only", PROOF_ONLY, "env")
    app.add_config_value("xfbook_repository_url", None, "env")
    app.add_directive("xf-results", ResultsIndex)
    app.connect("doctree-resolved", annotate_results)
