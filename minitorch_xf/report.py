r"""The "paper vs this book" table of an experiment notebook, shown as Markdown and recorded as JSON.

Every experiment notebook ends with one table that sets the paper's claims beside what the notebook measured::

    from minitorch_xf.report import PaperTable

    table = PaperTable("notebooks/ch02-ode-macaron.ipynb", rt, source="Lu et al. (2019)")
    table.add("local error order, Strang splitting", "3 (theory)", f"{slope:.2f}", status="asserted")
    table.add("WMT14 En-De BLEU", "28.9 (Table 3)", "not reproduced (CPU)", status="not run")
    table.show()

Every row says what backs it (``status``, required): ``"asserted"`` (an assert of this notebook checks exactly
this row, so the row exists only if it held), ``"reported"`` (measured and shown, not asserted: observed in this
run), ``"not run"`` (the paper's number, not reproduced here) or ``"falls short"`` (measured, and short of the
paper's effect). ``paper_checked=False`` marks a paper value that was not checked against the paper's text.

``show()`` displays a pipe table (``| claim | Lu et al. (2019) | this book (`ci`, cpu) |``) and, when
``runtime.record_dir()`` names a folder (``$XF_RECORD_DIR``: set by pytest, ``make book`` and ``make reproduce``),
writes the same rows to ``<record_dir>/reproductions/<notebook stem>.json``, which the book's Reproductions page
gathers into one table. Opened by hand (JupyterLab, Colab) a notebook writes nothing.

The record (every row value a string; MyST inline markup such as ``$d=3$`` is allowed)::

    {"notebook": "notebooks/ch02-ode-macaron.ipynb",   # path from the repository root
     "chapter": 2,                                      # from the file name chNN-..., or the chapter argument
     "source": "Lu et al. (2019)",                      # whose claims the "paper" column quotes
     "profile": "ci", "device": "cpu", "seed": 0,       # from the Runtime
     "device_name": "AMD EPYC 7B13",                    # torch.cuda.get_device_name, else the CPU model
     "versions": {"python": "3.11.7", "torch": "2.13.0", "numpy": "2.3.1", "minitorch_xf": "0.1.0"},
     "created": "2026-11-25T13:00:00Z",                 # UTC
     "rows": [{"claim": "...", "paper": "...", "ours": "...", "status": "asserted", "paper_checked": true}],
     "cpu_s": 12.3, "wall_s": 15.0}                     # the kernel's CPU and wall seconds when the table was shown

Cells are strings; an ``int`` or ``float`` is formatted for you (``format(v, ".4g")``, ints in full); anything
else (None, bool, tensors, lists) is rejected with a ``TypeError`` that names the column, so that a table never
shows ``tensor(0.1234)``. A cell may not contain a line break or an unescaped ``|`` (either would break the pipe
table): write ``\|``, or ``\lvert v\rvert`` inside math.
"""

from __future__ import annotations

import json
import numbers
import os
import platform
import re
import time
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from . import __version__, runtime

__all__ = ["STATUSES", "UNCHECKED", "Checks", "PaperTable", "device_name", "kernel_seconds"]

COLUMNS = ("claim", "paper", "ours")
# What backs a row of a paper-vs-book table, strongest first.
STATUSES = ("asserted", "reported", "falls short", "not run")
UNCHECKED = "†"  # the mark on a paper value that was not checked against the paper's text
_LABEL = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)+")  # a book label: thm-strang, prop-softmax-argmax
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def device_name(device: torch.device) -> str:
    """A human name for ``device`` (a ``torch.device`` or its name, e.g. ``"cpu"``): the GPU's name, else the CPU
    model (from /proc/cpuinfo or ``platform``)."""
    if isinstance(device, str):
        try:
            device = torch.device(device)
        except RuntimeError:
            raise ValueError(f"device={device!r} is not a device name torch knows (e.g. 'cpu', 'cuda')") from None
    if not isinstance(device, torch.device):
        raise TypeError(f"device must be a torch.device or its name, got {device!r} ({type(device).__name__})")
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return f"Apple MPS ({platform.machine()})"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _cell(column: str, value) -> str:
    """One table cell as a string; numbers are formatted, other non-strings rejected."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)  # numpy ints too
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = float(value)  # numpy floats too
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(
            f"{column}={value!r} ({type(value).__name__}): a cell must be a str, int or float; "
            "format other values yourself, e.g. f'{x:.3f}'"
        )
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = format(value, ".4g")
    else:
        text = value.strip()
    if "\n" in text or "\r" in text:
        raise ValueError(f"{column}={value!r} contains a line break, which would end the table row")
    if _UNESCAPED_PIPE.search(text):
        raise ValueError(
            f"{column}={value!r} contains '|', which would split the table's cell: escape it as '\\|' "
            "(or write \\lvert ... \\rvert inside math)"
        )
    return text


class PaperTable:
    """Rows of (claim, the paper's value, ours) for one notebook; ``show()`` displays and records them."""

    def __init__(self, notebook: str, rt: runtime.Runtime, source: str, chapter: int | None = None):
        if not isinstance(notebook, str) or not notebook.endswith(".ipynb"):
            raise ValueError(f"notebook={notebook!r} must be the notebook's path, e.g. 'notebooks/ch02-ode.ipynb'")
        path = PurePosixPath(notebook)
        if path.is_absolute() or ".." in path.parts or "\\" in notebook:
            raise ValueError(f"notebook={notebook!r} must be relative to the repository root, with '/' separators")
        if not isinstance(rt, runtime.Runtime):
            raise TypeError(f"rt must be the Runtime returned by runtime.setup(), got {type(rt).__name__}")
        if not isinstance(source, str) or not source.strip():
            raise ValueError(f"source={source!r} must name the paper, e.g. 'Lu et al. (2019)'")
        if chapter is None:
            match = re.match(r"ch(\d+)-", path.name)
            if match is None:
                raise ValueError(f"notebook={notebook!r} is not named chNN-...: pass chapter= explicitly")
            chapter = int(match.group(1))
        if isinstance(chapter, bool) or not isinstance(chapter, numbers.Integral) or chapter < 0:
            raise ValueError(f"chapter={chapter!r} must be a non-negative int")
        chapter = int(chapter)
        self.notebook, self.rt, self.source, self.chapter = notebook, rt, source.strip(), chapter
        self.rows: list[dict[str, str]] = []

    def add(self, claim: str, paper, ours, *, status: str, paper_checked: bool = True) -> PaperTable:
        """Append one row; returns the table, so calls can be chained.

        ``status`` says what backs ``ours`` (one of ``STATUSES``): "asserted" only when an assert of the notebook
        checks exactly this row. ``paper_checked=False`` marks a paper value not checked against the paper's text.
        """
        if not isinstance(claim, str) or not claim.strip():
            raise ValueError(f"claim={claim!r} must be a non-empty string saying what is compared")
        if status not in STATUSES:
            raise ValueError(f"status={status!r} for claim {claim!r}: must be one of {', '.join(STATUSES)}")
        if not isinstance(paper_checked, bool):
            raise TypeError(f"paper_checked={paper_checked!r} must be True or False")
        row = {"claim": _cell("claim", claim), "paper": _cell("paper", paper), "ours": _cell("ours", ours)}
        row |= {"status": status, "paper_checked": paper_checked}
        self.rows.append(row)
        return self

    def markdown(self) -> str:
        """The table as a Markdown pipe table (the book renders it as MyST: math and code work in cells)."""
        if not self.rows:
            raise ValueError(f"{self.notebook}: the table has no rows; call add(claim, paper, ours) first")
        header = f"| claim | {self.source} | this book (`{self.rt.profile}`, {self.rt.device.type}) | status |"
        lines = [header, "|---|---|---|---|"]
        for r in self.rows:
            paper = r["paper"] if r["paper_checked"] else f"{r['paper']} {UNCHECKED}"
            lines.append(f"| {r['claim']} | {paper} | {r['ours']} | {r['status']} |")
        if not all(r["paper_checked"] for r in self.rows):
            lines += ["", f"{UNCHECKED} not checked against the paper's text."]
        return "\n".join(lines)

    def record(self) -> dict:
        """The JSON record of this table (see the module docstring for the schema)."""
        if not self.rows:
            raise ValueError(f"{self.notebook}: the table has no rows; call add(claim, paper, ours) first")
        return {
            "notebook": self.notebook,
            "chapter": self.chapter,
            "source": self.source,
            "profile": self.rt.profile,
            "device": self.rt.device.type,
            "device_name": device_name(self.rt.device),
            "seed": self.rt.seed,
            "versions": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "numpy": np.__version__,
                "minitorch_xf": __version__,
            },
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "rows": [dict(r) for r in self.rows],
            **kernel_seconds(),
        }

    def write(self) -> Path | None:
        """Write the record to ``<record_dir>/reproductions/<stem>.json``; None (nothing written) without one."""
        folder = runtime.record_dir()
        if folder is None:
            return None
        return _write_json(folder / "reproductions" / f"{PurePosixPath(self.notebook).stem}.json", self.record())

    def show(self) -> None:
        """Display the table (Markdown in a notebook, plain text elsewhere) and write the record if asked to."""
        text = self.markdown()
        try:
            from IPython import get_ipython
            from IPython.display import Markdown, display
        except ImportError:  # plain Python without IPython
            get_ipython = None
        if get_ipython is not None and get_ipython() is not None:
            display(Markdown(text))
        else:  # a script: IPython's display() would print the object's repr, not the table
            print(text)
        self.write()


def _write_json(out: Path, data: dict) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out)  # a reader never sees half a file
    return out


def kernel_seconds() -> dict[str, float]:
    """CPU seconds (user + system, reaped children included) and wall seconds of this process since
    ``minitorch_xf.runtime`` was imported: what a notebook has cost so far, recorded with its table so that a book
    build (which runs notebooks outside pytest) has execution times too."""
    t = os.times()
    cpu = t.user + t.system + t.children_user + t.children_system
    return {"cpu_s": round(cpu, 2), "wall_s": round(time.monotonic() - runtime.STARTED, 2)}


class Checks:
    r"""Which labelled results of the book a notebook checks, and the figure each check asserted.

    In the first code cell under "## Checks"::

        checks = Checks("notebooks/ch01-transformer.ipynb", rt)

    then, in the cell whose asserts test a result, after them::

        assert worst <= bound, f"..."
        checks.checked("prop-softmax-argmax", f"1 - pi_max within the bound at 500 cases; worst ratio {r:.2f}")

    With a record folder (``$XF_RECORD_DIR``) each call merges ``{label: [figure, ...]}`` into
    ``<record_dir>/checks/<notebook stem>.json``; the book shows the figure under the theorem box of ``label``.
    Where the check lives is read from the notebook's source (the call names its label literally), so a
    ``checked`` call must name its label as a string literal.
    """

    def __init__(self, notebook: str, rt: runtime.Runtime):
        PaperTable(notebook, rt, source="checks")  # the same validation of the path and the runtime
        self.notebook, self.rt = notebook, rt
        self.figures: dict[str, list[str]] = {}

    def checked(self, label: str, figure: str) -> None:
        """Record that the asserts just above passed for result ``label``, with the figure they asserted."""
        if not isinstance(label, str) or not _LABEL.fullmatch(label):
            raise ValueError(f"label={label!r} must be a book label such as 'prop-softmax-argmax'")
        text = _cell("figure", figure)
        if not text:
            raise ValueError(f"figure for {label!r} is empty: say what was asserted, with its number")
        figures = self.figures.setdefault(label, [])
        if text not in figures:
            figures.append(text)
        folder = runtime.record_dir()
        if folder is None:
            return
        _write_json(
            folder / "checks" / f"{PurePosixPath(self.notebook).stem}.json",
            {
                "notebook": self.notebook,
                "profile": self.rt.profile,
                "device": self.rt.device.type,
                "seed": self.rt.seed,
                "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "checks": self.figures,
            },
        )
