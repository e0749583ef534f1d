"""Numbered statements count per chapter: Definition 4.1, Proposition 4.2, Theorem 4.3.

_config.yml maps every kind of statement to one sphinx-proof counter (``prf_realtyp_to_countertyp``), so the
numbers run in reading order whatever the kind. Sphinx numbers across the whole book; here, after it has assigned
the numbers, every page of chapter NN (``chNN-*``: the derivation and its notebooks) gets ``(NN, k)`` instead,
counted in table-of-contents order. Pages outside a chapter keep Sphinx's numbers.
"""

from __future__ import annotations

import re
from collections import defaultdict

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

CHAPTER = re.compile(r"(?:^|/)ch(\d+)-")


def chapter_of(docname: str) -> int | None:
    match = CHAPTER.search(docname)
    return int(match.group(1)) if match else None


def number_per_chapter(app: Sphinx, env: BuildEnvironment) -> list[str]:
    counters: dict[tuple[int, str], int] = defaultdict(int)
    changed = []
    for docname, figtypes in env.toc_fignumbers.items():  # filled in toctree order
        chapter = chapter_of(docname)
        if chapter is None:
            continue
        for figtype, numbers in figtypes.items():
            for target in numbers:
                counters[chapter, figtype] += 1
                new = (chapter, counters[chapter, figtype])
                if numbers[target] != new:
                    numbers[target] = new
                    changed.append(docname)
    return sorted(set(changed))


def setup(app: Sphinx) -> None:
    # after sphinx.environment.collectors.toctree, which assigns the book-wide numbers on the same event
    app.connect("env-get-updated", number_per_chapter, priority=900)
