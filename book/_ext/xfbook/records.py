"""The generated appendix pages: one Reproductions table and one Execution times table for the whole book.

Notebooks record what they measured while they run, one folder per run (``XF_RECORD_DIR``):

- ``reproductions/<notebook stem>.json``: ``{"notebook", "chapter", "profile", "device", "device_name", "seed",
  "versions", "created", "rows": [{"claim", "paper", "ours"}]}``, written by ``minitorch_xf.report.PaperTable``;
  the row values are MyST inline markup.
- ``times.json``: ``{"profile", "device", "created", "notebooks": {path: {"cpu_s", "wall_s", "budget_s", "profile",
  "threads"}}}``, written by conftest.py when pytest runs the notebooks.

The folders read are ``xfbook_record_dirs`` (globs relative to the book root, or absolute): ``_build/records`` holds
this checkout's runs (``make test``, ``make book``) and ``results/*`` the committed runs of ``make reproduce``. The
pages that hold the directives are re-read on every build and read last, after every notebook of the build has
executed and recorded. A missing folder or file gives a sentence that says how to produce it; a malformed one is a
warning.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


def warn(message: str) -> None:
    logger.warning(message, type="xfbook", subtype="records")


DIRECTIVES = ("xf-reproductions", "xf-execution-times", "xf-results")  # pages re-read last, on every build
PROFILES = ("ci", "long", "full")  # the order rows are listed in
TIME_KEYS = ("cpu_s", "wall_s")


# --- reading ----------------------------------------------------------------------------------------------------


def record_dirs(app: Sphinx) -> list[Path]:
    found: dict[Path, None] = {}
    for pattern in app.config.xfbook_record_dirs:  # relative to the book root, or absolute
        for name in sorted(glob.glob(os.path.join(app.srcdir, pattern))):
            if os.path.isdir(name):
                found.setdefault(Path(name).resolve())
    return list(found)


def label(app: Sphinx, path: Path) -> str:
    try:
        return path.relative_to(Path(app.srcdir).resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _load(path: Path, required: dict[str, type]) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        warn(f"unreadable record {path}: {error}")
        return None
    if not isinstance(data, dict):
        data = {}
    missing = [key for key, kind in required.items() if not isinstance(data.get(key), kind)]
    if missing:
        warn(f"record {path} lacks {', '.join(missing)} (or has the wrong type)")
        return None
    return data


def _valid_rows(path: Path, rows: list) -> bool:
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("claim", "paper", "ours")):
            warn(f"record {path}: row {i} needs string claim, paper and ours")
            return False
    return True


def reproduction_records(app: Sphinx, env: BuildEnvironment) -> list[dict[str, Any]]:
    required = {"notebook": str, "profile": str, "device": str, "rows": list}
    records = []
    for folder in record_dirs(app):
        for path in sorted((folder / "reproductions").glob("*.json")):
            env.note_dependency(str(path))
            data = _load(path, required)
            if data is not None and _valid_rows(path, data["rows"]):
                records.append({**data, "_source": label(app, folder)})
    return records


def time_records(app: Sphinx, env: BuildEnvironment) -> list[dict[str, Any]]:
    records = []
    for folder in record_dirs(app):
        path = folder / "times.json"
        if not path.is_file():
            continue
        env.note_dependency(str(path))
        data = _load(path, {"notebooks": dict})
        if data is None:
            continue
        for notebook, entry in sorted(data["notebooks"].items()):
            if not (isinstance(entry, dict) and all(isinstance(entry.get(k), int | float) for k in TIME_KEYS)):
                warn(f"record {path}: {notebook} needs numbers cpu_s and wall_s")
                continue
            records.append(
                {
                    **entry,
                    "notebook": notebook,
                    "profile": entry.get("profile") or data.get("profile", "?"),
                    "device": entry.get("device") or data.get("device", "?"),
                    "created": entry.get("created") or data.get("created", ""),
                    "_source": label(app, folder),
                }
            )
    timed = {(r["notebook"], r["profile"], r["device"]) for r in records}
    for record in reproduction_records(app, env):  # a book build runs notebooks outside pytest: their own figures
        key = (record["notebook"], record["profile"], record["device"])
        if key in timed or not all(isinstance(record.get(k), int | float) for k in TIME_KEYS):
            continue
        budget = notebook_budget(app, record["notebook"]) if record["profile"] == "ci" else None
        records.append({**record, "budget_s": budget, "_kernel": True})
    return records


def notebook_budget(app: Sphinx, notebook: str) -> float | None:
    """The ``ci`` budget a notebook declares in its metadata (``minitorch_xf.budget_s``), or None."""
    try:
        meta = json.loads((Path(app.srcdir) / notebook).read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return None
    budget = meta.get("minitorch_xf", {}).get("budget_s") if isinstance(meta, dict) else None
    return budget if isinstance(budget, int | float) else None


# --- rendering --------------------------------------------------------------------------------------------------


def chapter_of(record: dict[str, Any]) -> int | None:
    if isinstance(record.get("chapter"), int):
        return record["chapter"]
    match = re.search(r"ch(\d+)-", record["notebook"])
    return int(match.group(1)) if match else None


def newest_first(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: str(r.get("created", "")), reverse=True)


def fmt_seconds(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) else "–"


class RecordTable(SphinxDirective):
    has_content = False

    def notebook_cell(self, record: dict[str, Any]) -> str:
        """Chapter and linked notebook name, and the paper it reproduces when the record names one."""
        notebook = record["notebook"]
        docname = re.sub(r"\.(ipynb|md)$", "", notebook)
        stem = Path(notebook).stem
        chapter = chapter_of(record)
        if docname in self.env.found_docs:  # the page's own title: "Chapter 2 · The ODE view ..."
            cell = f"{{doc}}`/{docname}`"
        else:
            cell = f"{chapter} · `{stem}`" if chapter is not None else f"`{stem}`"
        source = record.get("source")
        return f"{cell} · *{source}*" if isinstance(source, str) and source else cell

    def table(self, headers: list[str], rows: list, widths: list[int], wide: bool = False) -> nodes.Node:
        """A table of the given column widths (percent). A row is a list of cells, a None cell being covered by the
        cell above it (a row span), or a string: a group heading across all columns.

        The widths and xfbook.css (fixed layout, long words and code broken) keep it inside the text column; ``wide``
        lets it grow into the right margin (sphinx-book-theme's full-width, which needs the page to have sections).
        """
        table = nodes.table(classes=["xfbook-table", "colwidths-given"])
        group = nodes.tgroup(cols=len(headers))
        table += group
        group += [nodes.colspec(colwidth=width) for width in widths]
        head, body = nodes.thead(), nodes.tbody()
        group += [head, body]
        head += self.row(headers, [0] * len(headers))
        for i, cells in enumerate(rows):
            if isinstance(cells, str):
                body += self.group_row(cells, len(headers))
                continue
            spans = []
            for j in range(len(cells)):
                below = 0
                while i + below + 1 < len(rows) and not isinstance(rows[i + below + 1], str):
                    if rows[i + below + 1][j] is not None:
                        break
                    below += 1
                spans.append(below)
            body += self.row(cells, spans)
        # a compound, not a container: Bootstrap's .container rules would override the theme's full-width
        return nodes.compound("", table, classes=["full-width"]) if wide else table

    def group_row(self, text: str, columns: int) -> nodes.row:
        entry = nodes.entry(morecols=columns - 1, classes=["xf-group"])
        self.state.nested_parse(StringList([text], source=self.env.docname), self.content_offset, entry)
        return nodes.row("", entry)

    def row(self, cells: list[str | None], spans: list[int]) -> nodes.row:
        row = nodes.row()
        for text, span in zip(cells, spans, strict=True):
            if text is None:
                continue
            entry = nodes.entry(morerows=span) if span else nodes.entry()
            row += entry
            lines = StringList(text.split("\n"), source=self.env.docname)
            self.state.nested_parse(lines, self.content_offset, entry)
        return row

    def paragraph(self, text: str) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList([text], source=self.env.docname), self.content_offset, container)
        return container.children


STATUS_TEXT = {
    "asserted": "asserted ✓",
    "reported": "reported",
    "falls short": "falls short",
    "not run": "not run",
}
UNCHECKED = "†"  # minitorch_xf.report.UNCHECKED: a paper value not checked against the paper's text


def status_summary(statuses: list[str]) -> str:
    """'5 rows: 3 asserted, 1 reported, 1 not run' (statuses in the order of STATUS_TEXT)."""
    counts = {s: statuses.count(s) for s in [*STATUS_TEXT, "unknown"] if statuses.count(s)}
    parts = ", ".join(f"{n} {status}" for status, n in counts.items())
    return f"{len(statuses)} row{'s' if len(statuses) != 1 else ''}: {parts}"


class ReproductionsTable(RecordTable):
    """One row per (notebook, claim), under a heading row per notebook: the paper's value beside ours in the `ci`
    and `full` profiles, and the row's status (what backs it)."""

    def run(self) -> list[nodes.Node]:
        records = reproduction_records(self.env.app, self.env)
        if not records:
            return self.paragraph(
                "No notebook has recorded its checks yet. `make test` and `make book` run every notebook in the "
                "`ci` profile and record the rows in `_build/records/`; `make reproduce` runs the `full` profile "
                "and records them under `results/`."
            )
        by_notebook: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            by_notebook[record["notebook"]].append(record)
        rows, book_statuses, unchecked = [], [], 0
        chapter_rows: dict[int | None, list[str]] = defaultdict(list)
        for notebook in sorted(by_notebook, key=lambda n: (chapter_of(by_notebook[n][0]) or 0, n)):
            runs = newest_first(by_notebook[notebook])
            ci = next((r for r in runs if r["profile"] == "ci"), None)
            larger: dict[str, dict[tuple[str, str], dict[str, Any]]] = {"long": {}, "full": {}}
            for run in runs:
                if run["profile"] in larger:
                    larger[run["profile"]].setdefault((run["device"], run.get("device_name") or ""), run)
            claims: dict[str, dict[str, Any]] = {}  # claim -> its row in the newest run that has it (ci first)
            for run in ([ci] if ci else []) + [r for by_device in larger.values() for r in by_device.values()]:
                for row in run["rows"]:
                    claims.setdefault(row["claim"], row)
            heading = len(rows)
            rows.append("")  # the notebook's heading row, filled in below with its summary
            statuses = []
            for claim, first in claims.items():
                ci_value = next((r["ours"] for r in (ci["rows"] if ci else []) if r["claim"] == claim), "–")
                row = [claim, first["paper"], ci_value]
                for by_device in larger.values():
                    devices = [d for d, _ in by_device]
                    values = []
                    for (device, name), run in by_device.items():
                        where = name if devices.count(device) > 1 and name else device
                        values += [f"{r['ours']} ({where})" for r in run["rows"] if r["claim"] == claim]
                    row.append("; ".join(values) or "not run")
                status = first.get("status") if first.get("status") in STATUS_TEXT else "unknown"
                statuses.append(status)
                if first.get("paper_checked") is False:
                    row[1], unchecked = f"{row[1]} {UNCHECKED}", unchecked + 1
                rows.append([*row, STATUS_TEXT.get(status, "–")])
            rows[heading] = f"**{self.notebook_cell(runs[0])}** — {status_summary(statuses)}"
            chapter_rows[chapter_of(runs[0])] += statuses
            book_statuses += statuses
        headers = ["Claim", "Paper", "Ours (`ci`)", "Ours (`long`)", "Ours (`full`)", "Status"]
        n = len(by_notebook)
        out: list[nodes.Node] = self.paragraph(
            f"**The whole book:** {status_summary(book_statuses)}, over {n} notebook{'s' * (n != 1)}."
        )
        lines = [
            f"- Chapter {chapter}: {status_summary(statuses)}."
            for chapter, statuses in sorted(chapter_rows.items(), key=lambda kv: kv[0] or 0)
        ]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.env.docname), self.content_offset, container)
        out += container.children
        out.append(self.table(headers, rows, [24, 14, 21, 14, 15, 12], wide=True))
        notes = [
            "*Status*: **asserted** — an assert of the notebook checks exactly this row, so the row was written only "
            "because it held; **reported** — measured and shown, not asserted (observed in that run); **falls "
            "short** — measured, and short of the paper's effect (the notebook says why); **not run** — the "
            "paper's number, not reproduced here."
        ]
        if unchecked:
            notes.append(f"{UNCHECKED} A paper value not checked against the paper's text ({unchecked} here).")
        for note in notes:
            out += self.paragraph(note)
        out += self.paragraph("The runs these figures come from:")
        out.append(self.runs_table(records))
        if not any(r["profile"] == "full" for r in records):
            out += self.paragraph(
                "No `full` run has been recorded yet: `make reproduce` runs every experiment notebook in the `full` "
                "profile on the machine it is given and records the figures under `results/`."
            )
        return out

    def runs_table(self, records: list[dict[str, Any]]) -> nodes.Node:
        runs: dict[tuple[str, ...], dict[str, Any]] = {}
        for record in newest_first(records):
            key = (record["_source"], record["profile"], record["device"], str(record.get("device_name", "")))
            runs.setdefault(key, record)
        rows = []
        for (source, profile, device, name), record in sorted(runs.items()):
            versions = record.get("versions") or {}
            versions_text = ", ".join(f"{k} {v}" for k, v in versions.items()) if isinstance(versions, dict) else ""
            rows.append(
                [
                    source_text(source),
                    f"`{profile}`",
                    f"{device}: {name}" if name else device,
                    str(record.get("seed", "–")),
                    versions_text or "–",
                    str(record.get("created", ""))[:10] or "–",
                ]
            )
        headers = ["Run", "Profile", "Device", "Seed", "Versions", "Recorded"]
        return self.table(headers, rows, [20, 11, 22, 8, 25, 14])


def source_text(source: str) -> str:
    """Where a record folder's figures come from, in words: this build's own runs, or a committed run."""
    if source.startswith("results/"):
        return f"committed run `{source}`"
    return "this build (`make test` or `make book`)"


class ExecutionTimesTable(RecordTable):
    """Per notebook and run: CPU and wall seconds, the budget, the device."""

    def run(self) -> list[nodes.Node]:
        records = time_records(self.env.app, self.env)
        if not records:
            return self.paragraph(
                "No notebook times have been recorded yet. `make test` runs every notebook under nbval and records "
                "its CPU and wall time in `_build/records/times.json`; `make reproduce` records the `full` profile's "
                "under `results/`."
            )
        newest: dict[tuple[str, str, str], dict[str, Any]] = {}
        for record in newest_first(records):
            newest.setdefault((record["notebook"], record["profile"], record["device"]), record)

        def order(key: tuple[str, str, str]) -> tuple:
            notebook, profile, device = key
            rank = PROFILES.index(profile) if profile in PROFILES else len(PROFILES)
            return (chapter_of(newest[key]) or 0, notebook, rank, profile, device)

        rows, totals, previous = [], defaultdict(lambda: [0, 0.0, 0.0]), None
        for key in sorted(newest, key=order):
            record = newest[key]
            cpu, budget = record["cpu_s"], record.get("budget_s")
            if record["profile"] == "full":  # full has no budget (older records carry the ci one along)
                budget = None
            over = isinstance(budget, int | float) and cpu > budget
            rows.append(
                [
                    None if record["notebook"] == previous else self.notebook_cell(record),
                    f"`{record['profile']}`",
                    record["device"],
                    (f"**{cpu:.1f}** (over)" if over else fmt_seconds(cpu)) + ("\\*" if record.get("_kernel") else ""),
                    fmt_seconds(record["wall_s"]),
                    fmt_seconds(budget),
                ]
            )
            previous = record["notebook"]
            total = totals[record["profile"], record["device"]]
            total[0] += 1
            total[1] += cpu
            total[2] += record["wall_s"]
        out: list[nodes.Node] = [
            self.table(
                ["Chapter · notebook", "Profile", "Device", "CPU s", "Wall s", "Budget s"],
                rows,
                [30, 14, 14, 14, 14, 14],
            )
        ]
        summary = "; ".join(
            f"`{profile}` on {device}: {n} notebook{'s' * (n != 1)}, {cpu:.0f} s CPU, {wall:.0f} s wall"
            for (profile, device), (n, cpu, wall) in sorted(totals.items())
        )
        sources = ", ".join(sorted({source_text(r["_source"]) for r in newest.values()}))
        out += self.paragraph(f"In all: {summary}. Read from {sources}.")
        if any(r.get("_kernel") for r in newest.values()):
            out += self.paragraph(
                "\\* Measured inside the notebook's kernel by the book build (from the start of its setup cell to its "
                "paper-vs-book table), not by nbval."
            )
        return out


# --- always re-read, and last -----------------------------------------------------------------------------------


def pages_with_tables(env: BuildEnvironment) -> list[str]:
    pages = []
    for docname in sorted(env.found_docs):
        path = Path(env.doc2path(docname))
        if path.suffix == ".md" and path.is_file():
            text = path.read_text(encoding="utf-8")
            if any(f"{{{name}}}" in text for name in DIRECTIVES):
                pages.append(docname)
    return pages


def reread_tables(app: Sphinx, env: BuildEnvironment, added: set, changed: set, removed: set) -> list[str]:
    return [page for page in pages_with_tables(env) if page not in added | changed]


def read_tables_last(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    pages = set(pages_with_tables(env))
    docnames[:] = [d for d in docnames if d not in pages] + [d for d in docnames if d in pages]


def setup(app: Sphinx) -> None:
    app.add_config_value("xfbook_record_dirs", ["_build/records", "results/*"], "env")
    app.add_directive("xf-reproductions", ReproductionsTable)
    app.add_directive("xf-execution-times", ExecutionTimesTable)
    app.connect("env-get-outdated", reread_tables)
    app.connect("env-before-read-docs", read_tables_last)
