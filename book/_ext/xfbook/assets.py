"""Page assets: MathJax from the built site, no duplicate inline scripts, no unused sphinx-thebe.

MathJax 3.2.2 comes from the PyPI package ``django-static-mathjax`` (the [book] extra; it does not need Django):
the combined ``tex-mml-chtml.js`` plus what it loads on demand (TeX extensions, CHTML fonts, the menu and its
accessibility tools) is copied to ``_static/mathjax/`` and ``mathjax_path`` points there instead of a CDN.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

logger = logging.getLogger(__name__)

MATHJAX_DIST = "django-static-mathjax"
MATHJAX_ENTRY = "tex-mml-chtml.js"
# The combined component loads these lazily: \require'd and autoloaded TeX extensions, the CHTML web fonts, the
# SVG output and the accessibility explorer (speech rule engine) that the right-click menu can switch on.
MATHJAX_PARTS = (MATHJAX_ENTRY, "input", "output", "ui", "a11y", "sre", "adaptors")
STATIC_DIR = Path(__file__).parent / "static"


def mathjax_source() -> Path | None:
    """The folder holding MathJax's es5 build inside the installed package, or None when it is missing."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        es5 = Path(location) / "static" / "mathjax" / "es5"
        if (es5 / MATHJAX_ENTRY).is_file():
            return es5
    return None


def use_local_mathjax(app: Sphinx, config: Config) -> None:
    if mathjax_source() is None:
        logger.warning(
            f"{MATHJAX_DIST} is not installed (pip install -e '.[book]'): the pages will load MathJax from a CDN",
            type="xfbook",
            subtype="mathjax",
        )
        return
    config.mathjax_path = f"mathjax/{MATHJAX_ENTRY}"  # relative to _static/


def first_visit_defaults(app: Sphinx, config: Config) -> None:
    """What a reader's first visit needs: a theme mode and a favicon.

    Without ``default_mode`` (a template variable of pydata-sphinx-theme, not a theme option) the theme's script
    reads an empty mode on a first visit (nothing in localStorage yet) and logs "Got invalid theme mode" to the
    console before falling back to ``auto``; ``auto`` follows the reader's system setting. Without ``html_favicon``
    the browser asks the server for ``/favicon.ico`` and gets a 404.
    """
    config.html_context = {"default_mode": "auto", **(config.html_context or {})}
    if not config.html_favicon:
        config.html_favicon = str(STATIC_DIR / "xfbook-favicon.svg")


def copy_mathjax(app: Sphinx, exc: Exception | None) -> None:
    source = mathjax_source()
    if exc is not None or source is None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    stamp = target / ".xfbook-version"
    version = importlib.metadata.version(MATHJAX_DIST)
    if stamp.is_file() and stamp.read_text() == version:
        return
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)
    stamp.write_text(version)


def add_static_path(app: Sphinx) -> None:
    app.config.html_static_path.append(str(STATIC_DIR))
    app.add_css_file("xfbook.css")


def _thebe_enabled(app: Sphinx) -> bool:
    return bool((app.config.html_theme_options or {}).get("launch_buttons", {}).get("thebe"))


def _is_thebe(asset: Any) -> bool:
    return "sphinx-thebe" in str(asset.filename or "") or "THEBE_JS_URL" in asset.attributes.get("body", "")


def dedupe_page_assets(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Each script and stylesheet once per page.

    Jupyter Book 1.0.4 with sphinx-book-theme registers sphinx-thebe's and sphinx-togglebutton's inline scripts
    twice (once with ``filename=None``, once with ``""``), and the repeated ``const THEBE_JS_URL`` is a
    SyntaxError on every page. Runs late (priority 900), after the handlers that add page assets, and edits the
    lists in place because later handlers append to the same list objects.
    """
    thebe = _thebe_enabled(app)
    for key in ("script_files", "css_files"):
        assets = context.get(key)
        if not isinstance(assets, list):
            continue
        seen, kept = set(), []
        for asset in assets:
            ident = (str(asset.filename or ""), tuple(sorted(asset.attributes.items())))
            if ident in seen or (not thebe and _is_thebe(asset)):
                continue
            seen.add(ident)
            kept.append(asset)
        assets[:] = kept


def drop_thebe_config(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """sphinx-thebe appends its Binder configuration to every page; without a thebe button nothing reads it."""
    if _thebe_enabled(app):
        return
    for raw in list(doctree.findall(nodes.raw)):
        if "text/x-thebe-config" in raw.astext() or raw.astext().startswith("<script>kernelName ="):
            raw.parent.remove(raw)


def setup(app: Sphinx) -> None:
    app.connect("config-inited", use_local_mathjax)
    app.connect("config-inited", first_visit_defaults)
    app.connect("builder-inited", add_static_path)
    app.connect("build-finished", copy_mathjax)
    app.connect("html-page-context", dedupe_page_assets, priority=900)
    app.connect("doctree-resolved", drop_thebe_config, priority=900)
