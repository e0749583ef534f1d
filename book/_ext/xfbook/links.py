"""Links to the published book become local links, so the offline book stays offline.

Notebook markdown links to a book page by its published URL (it has to work in JupyterLab and Colab too), e.g.
``https://transformer-theory.github.io/transformer-theory-from-scratch/book/ch02-ode-macaron.html#anchor``. Here
every reference that starts with ``html_baseurl`` is rewritten into a link relative to the current page; one that
names a page the book does not have is a warning (so ``-W`` fails). The Colab badge image is served from
``_static`` as well.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

# External images that have a local copy in static/ (our own drawing of the badge, same size and wording).
LOCAL_IMAGES = {"https://colab.research.google.com/assets/colab-badge.svg": "xfbook-colab-badge.svg"}


def _base(app: Sphinx) -> str:
    base = app.config.html_baseurl or ""
    return base.rstrip("/") + "/" if base else ""


def local_uri(app: Sphinx, docname: str, uri: str) -> str | None:
    """The relative URI for an absolute link into the published book, or None if the page does not exist."""
    path, _, anchor = uri[len(_base(app)) :].partition("#")
    path = path.split("?")[0]
    if path in ("", "index.html"):
        target = app.config.root_doc
    elif path.endswith(".html"):
        target = path[: -len(".html")]
    else:
        target = path.rstrip("/") + "/index" if path.endswith("/") else path
    if target in app.env.all_docs:
        relative = app.builder.get_relative_uri(docname, target)
    elif (Path(app.outdir) / path).is_file() or (Path(app.srcdir) / path).is_file():
        relative = posixpath.relpath(path, posixpath.dirname(docname) or ".")
    else:
        return None
    return relative + (f"#{anchor}" if anchor else "")


def rewrite_links(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    base = _base(app)
    if app.builder.format != "html":
        return
    for image in doctree.findall(nodes.image):
        if image.get("uri") in LOCAL_IMAGES:
            static = f"_static/{LOCAL_IMAGES[image['uri']]}"
            image["uri"] = posixpath.relpath(static, posixpath.dirname(docname) or ".")
    if not base:
        return
    for ref in doctree.findall(nodes.reference):
        uri = ref.get("refuri", "")
        if not (uri.startswith(base) or uri == base.rstrip("/")):
            continue
        new = local_uri(app, docname, uri if uri.startswith(base) else base)
        if new is None:
            logger.warning(f"link to a page the book does not have: {uri}", location=ref, type="xfbook", subtype="link")
            continue
        ref["refuri"] = new
        ref["internal"] = True
        ref["classes"] = [c for c in ref.get("classes", []) if c != "external"] + ["internal"]
    pattern = re.compile(r'(href|src)="(' + re.escape(base) + r'[^"]*)"')
    for raw in doctree.findall(nodes.raw):
        if raw.get("format") == "html" and base in raw.astext():
            text = pattern.sub(lambda m: f'{m[1]}="{local_uri(app, docname, m[2]) or m[2]}"', raw.astext())
            raw.parent.replace(raw, nodes.raw(raw.rawsource, text, format="html"))


def setup(app: Sphinx) -> None:
    app.connect("doctree-resolved", rewrite_links)
