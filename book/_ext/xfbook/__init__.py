"""The book's own Sphinx extension: what Jupyter Book 1 does not do for us.

- ``assets``: MathJax served from the built site (offline reading), each page's scripts de-duplicated, sphinx-thebe's
  assets dropped when no thebe button is configured.
- ``links``: absolute links to the published book (``html_baseurl``) become relative links, and the Colab badge
  image is served locally, so the built book never leaves the site.
- ``numbering``: numbered statements (definitions, lemmas, propositions, theorems) count per chapter: Theorem 4.3.
- ``bibstyle``: bibliography labels in the author-year form the text cites them in ("Vaswani et al., 2017").
- ``records``: the generated Reproductions and Execution times tables, read from the JSON the notebooks record.
- ``results``: under every labelled result's box, where it is checked (and the figure asserted) or why it is proof
  only; the index of results.
- ``excerpts``: package code on a page (``literalinclude`` with ``:pyobject:``) shown as its teaching part: argument
  checks left out, at most 88 columns, with a link to the full source.
- ``figures``: a notebook figure's alt text (its axes, from ``minitorch_xf.plot``) reaches the page's image.
- ``exercises``: on every chapter page, a box linking its exercise notebook (Colab and repository) and listing its
  exercises, read from the notebook.

Loaded through ``sphinx.local_extensions`` in _config.yml.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx

from . import assets, bibstyle, excerpts, exercises, figures, links, numbering, records, results

__version__ = "0.1.0"


def setup(app: Sphinx) -> dict[str, Any]:
    for module in (assets, bibstyle, excerpts, exercises, figures, links, numbering, records, results):
        module.setup(app)
    return {"version": __version__, "parallel_read_safe": False, "parallel_write_safe": True}
