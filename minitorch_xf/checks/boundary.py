"""The security boundary: everything that reaches the grader from a submission, and how it is read.

Three things cross into the grader's process. Each is untrusted data at every decoding step, and each failure to
read it is an error *of that submission* (a row with a reason), never an exception that stops the run:

1. **Its name** (:func:`display_name`): a file name may be any bytes. Not valid UTF-8 is shown with U+FFFD and
   flagged; control characters never reach a terminal (:func:`printable`).
2. **Its notebook file** (:func:`read_cells`): at most ``MAX_NOTEBOOK_BYTES``, parsed as JSON; each code cell's
   source must be text (a string or a list of strings) of at most ``MAX_CELL_BYTES``, or that cell is not run and
   says why. Graded check cells are dropped: the grader runs the reference's checks itself.
3. **The sandbox's answers** (:class:`Sandbox`): frames decoded by :mod:`.wire` (JSON plus raw array bytes, no
   pickle, every length capped, every request's ``id`` repeated by its answer). Whatever goes wrong while reading
   one is :class:`~.wire.SandboxLost`, which costs the cell or the check it happened in; here each answer is also
   checked for the type it must have (a cell's error text, a function handle). The one message trusted as such is
   the sandbox's first (``ready`` or ``setup-failed``), sent before any of the submission's code has run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import time
import unicodedata
from dataclasses import dataclass

from .wire import Endpoint, RemoteCallable, SandboxLost, WireError, sanitize

__all__ = [
    "MAX_CELL_BYTES",
    "MAX_NOTEBOOK_BYTES",
    "Cell",
    "Sandbox",
    "SandboxSetupError",
    "display_name",
    "printable",
    "read_cells",
]

MAX_NOTEBOOK_BYTES = 20 << 20
MAX_CELL_BYTES = 1 << 20  # far below the wire's 8 MiB message cap, far above any hand-written cell
MAX_CELLS = 5000


def printable(text, limit: int = 200) -> str:
    """One line of text safe for a terminal: every control, format or separator character (newline, escape,
    bidirectional override, surrogate) becomes ``?``; capped at ``limit`` characters."""
    return sanitize(text, limit).replace("\n", "?").replace("\t", " ")


def display_name(raw: str) -> tuple[str, list[str]]:
    """A file name as the gradebook shows it (NFC-normalised text), with a note when it is not valid UTF-8.

    ``raw`` is the name as Python read it from the file system (undecodable bytes as surrogate escapes)."""
    data = raw.encode("utf-8", "surrogateescape")
    try:
        text, notes = data.decode("utf-8"), []
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")
        notes = [f"the file name is not valid UTF-8 (bytes {printable(repr(data), 120)}; shown with U+FFFD)"]
    return unicodedata.normalize("NFC", text), notes


@dataclass
class Cell:
    source: str | None  # the code to run, or None when the cell cannot be run
    problem: str = ""  # why it cannot


def read_cells(path: str, check_sources: set[str]) -> list[Cell]:
    """The submission's code cells to run, all but its graded check cells. Raises ValueError for a file that is not
    a notebook; a cell whose source is not text, or too large, comes back with its problem instead."""
    size = os.path.getsize(path)
    if size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"the file is {size >> 20} MiB (the limit is {MAX_NOTEBOOK_BYTES >> 20} MiB)")
    with open(path, "rb") as f:
        data = f.read(MAX_NOTEBOOK_BYTES + 1)
    try:
        nb = json.loads(data)
    except (ValueError, RecursionError) as err:
        raise ValueError(f"not a valid notebook (JSON error: {printable(err, 200)})") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError("not a valid notebook (no list of cells)")
    if len(cells) > MAX_CELLS:
        raise ValueError(f"the notebook has {len(cells)} cells (the limit is {MAX_CELLS})")
    out = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        if isinstance(src, list) and all(isinstance(line, str) for line in src):
            src = "".join(src)
        if not isinstance(src, str):
            out.append(Cell(None, "not run: its source is not text (a string or a list of strings)"))
            continue
        if len(src) > MAX_CELL_BYTES:
            out.append(
                Cell(None, f"not run: the cell holds {len(src) >> 10} KiB (the limit is {MAX_CELL_BYTES >> 10})")
            )
            continue
        meta = cell.get("metadata")
        nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
        graded = isinstance(nbg, dict) and nbg.get("grade") is True and not nbg.get("solution")
        if graded or src.strip() in check_sources:
            continue  # a check cell: the grader runs the reference's checks itself
        out.append(Cell(src))
    return out


class SandboxSetupError(RuntimeError):
    """The sandbox could not be set up (before any submission code ran): the grader itself cannot work here."""


class Sandbox:
    """One running submission seen from the grader: run cells, look up functions; killed as a whole by :meth:`kill`.

    ``pid`` is the keeper's (see :mod:`.sandbox`); ``workdir`` a host folder to remove (only without isolation)."""

    def __init__(self, pid: int, sock: socket.socket, workdir: str | None, cell_timeout: float):
        self.pid, self.workdir, self.cell_timeout = pid, workdir, cell_timeout
        self.endpoint = Endpoint(sock)

    def wait_ready(self, timeout: float) -> None:
        """The sandbox's first frame: ``ready``, or the reason it could not be set up."""
        self.endpoint.deadline = time.monotonic() + timeout
        try:
            body, _ = self.endpoint.receive()
        except SandboxLost as lost:
            raise SandboxSetupError(f"the sandbox did not start: {lost}") from None
        if body.get("op") != "ready":
            raise SandboxSetupError(f"the sandbox could not be set up: {printable(body.get('message', body), 1000)}")

    def _call(self, name: str, timeout: float, *args):
        self.endpoint.deadline = time.monotonic() + timeout
        try:
            return self.endpoint.request({"op": "call", "name": name}, args=args, kwargs={})
        except WireError as err:  # our own request could not be encoded (too large)
            raise SandboxLost(f"could not be sent this request ({err})") from None

    def run_cell(self, source: str) -> str:
        """The cell's error text ("" when it ran); a remote error is returned as text too."""
        answer = self._call("run_cell", self.cell_timeout, source)
        if not isinstance(answer, str):
            raise SandboxLost(f"answered a cell with a {type(answer).__name__}, not text")
        return sanitize(answer, 2000)

    def lookup(self, name: str) -> RemoteCallable:
        """A handle on the submission's function ``name`` (RemoteError NameError/TypeError when there is none)."""
        answer = self._call("lookup", 30.0, name)
        if not isinstance(answer, RemoteCallable):
            raise SandboxLost(f"answered a lookup with a {type(answer).__name__}, not a function")
        return answer

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGKILL)  # the keeper; the sandbox and all it started die with it
        with contextlib.suppress(OSError):
            self.endpoint.sock.close()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
