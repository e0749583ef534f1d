"""Bibliography labels in the author-year form of the citations: [Vaswani et al., 2017].

sphinxcontrib-bibtex's ``author_year`` reference style cites "Vaswani et al. [2017]" and "[Zhang and Sennrich,
2019]", but its default formatting style labels the list entries "[VSP+17]". The formatting style ``xf_author_year``
(set as ``bibtex_default_style``) is pybtex's ``unsrt`` with a label style that writes the same names and year as
the citations (one author, two joined by "and", three or more as "et al."), sorted by author, year and title.
Equal labels get a, b, ... after the year.
"""

from __future__ import annotations

import codecs
import string
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator

import latexcodec  # noqa: F401  (registers the "ulatex" codec; a dependency of pybtex)
from pybtex.database import Entry, Person
from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx

STYLE = "xf_author_year"


def plain(text: str) -> str:
    """LaTeX name text as Unicode: Sch{\\"a}fl -> Schäfl, R{\\'e} -> Ré."""
    return codecs.decode(text, "ulatex").replace("{", "").replace("}", "")


def surname(person: Person) -> str:
    return plain(" ".join(person.prelast_names + person.last_names))


def author_year(entry: Entry) -> str:
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [surname(p) for p in persons]
    if not names:
        who = plain(entry.fields.get("title", entry.key))
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries: Iterable[Entry]) -> Iterator[str]:
        labels = [author_year(entry) for entry in sorted_entries]
        repeated = {label for label, n in Counter(labels).items() if n > 1}
        seen: dict[str, int] = defaultdict(int)
        for label in labels:
            if label in repeated:
                suffix = string.ascii_lowercase[seen[label]]
                seen[label] += 1
                yield label + suffix
            else:
                yield label


class AuthorYearStyle(UnsrtStyle):
    default_label_style = STYLE
    default_sorting_style = "author_year_title"


register_plugin("pybtex.style.labels", STYLE, AuthorYearLabels, force=True)
register_plugin("pybtex.style.formatting", STYLE, AuthorYearStyle, force=True)


def setup(app: Sphinx) -> None:
    """The plugins are registered on import; nothing to connect."""
