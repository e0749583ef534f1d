r"""The "paper vs this book" table of an experiment notebook, shown as Markdown and recorded as JSON.

Every experiment notebook ends with one table that sets the paper's claims beside what the notebook measured::

    from minitorch_xf.report import PaperTable

    table = PaperTable("notebooks/ch02-ode-macaron.ipynb", rt, source="Lu et al. (2019)")
    table.add("local error order, Strang splitting", "3 (theory)", f"{slope:.2f}")
    table.add("WMT14 En-De BLEU", "28.9 (reported)", "not reproduced (CPU)")
    table.show()

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
     "rows": [{"claim": "...", "paper": "...", "ours": "..."}]}

Cells are strings; an ``int`` or ``float`` is formatted for you (``format(v, ".4g")``, ints in full); anything
else (None, bool, tensors, lists) is rejected with a ``TypeError`` that names the column, so that a table never
shows ``tensor(0.1234)``. A cell may not contain a line break or an unescaped ``|`` (either would break the pipe
table): write ``\|``, or ``\lvert v\rvert`` inside math.
"""

from __future__ import annotations

import json
import platform
import re
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from . import __version__, runtime

__all__ = ["PaperTable", "device_name"]

COLUMNS = ("claim", "paper", "ours")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def device_name(device: torch.device) -> str:
    """A human name for ``device``: the GPU's name, else the CPU model (from /proc/cpuinfo or ``platform``)."""
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
        if isinstance(chapter, bool) or not isinstance(chapter, int) or chapter < 0:
            raise ValueError(f"chapter={chapter!r} must be a non-negative int")
        self.notebook, self.rt, self.source, self.chapter = notebook, rt, source.strip(), chapter
        self.rows: list[dict[str, str]] = []

    def add(self, claim: str, paper, ours) -> PaperTable:
        """Append one row; returns the table, so calls can be chained."""
        if not isinstance(claim, str) or not claim.strip():
            raise ValueError(f"claim={claim!r} must be a non-empty string saying what is compared")
        row = {"claim": _cell("claim", claim), "paper": _cell("paper", paper), "ours": _cell("ours", ours)}
        self.rows.append(row)
        return self

    def markdown(self) -> str:
        """The table as a Markdown pipe table (the book renders it as MyST: math and code work in cells)."""
        if not self.rows:
            raise ValueError(f"{self.notebook}: the table has no rows; call add(claim, paper, ours) first")
        header = f"| claim | {self.source} | this book (`{self.rt.profile}`, {self.rt.device.type}) |"
        lines = [header, "|---|---|---|"]
        lines += [f"| {r['claim']} | {r['paper']} | {r['ours']} |" for r in self.rows]
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
        }

    def write(self) -> Path | None:
        """Write the record to ``<record_dir>/reproductions/<stem>.json``; None (nothing written) without one."""
        folder = runtime.record_dir()
        if folder is None:
            return None
        out = folder / "reproductions" / f"{PurePosixPath(self.notebook).stem}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(self.record(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(out)  # a reader never sees half a file
        return out

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
