"""The security boundary: everything that reaches the grader from a submission, and how it is read.

Three things cross into the grader's process. Each is untrusted data at every decoding step, and each failure to
read it is an error *of that submission* (a row with a reason), never an exception that stops the run:

1. **Its name** (:func:`display_name`): a file name may be any bytes. Not valid UTF-8 is shown with U+FFFD and
   flagged; control characters never reach a terminal (:func:`printable`).
2. **Its notebook file** (:func:`read_cells`): at most ``MAX_NOTEBOOK_BYTES``, parsed as JSON; each code cell's
   source must be text (a string or a list of strings) of at most ``MAX_CELL_BYTES``, or that cell is not run and
   says why. Graded check cells are dropped: the grader runs the reference's checks itself.
3. **The sandbox's messages**: a frame (:func:`read_frame`: two lengths, capped before anything is allocated, then
   JSON and raw array bytes; never pickle), its values (:func:`decode`: ``None``, numbers, text, lists, tuples,
   dicts with hashable keys, tensors and arrays of plain dtypes whose bytes match their shape, function handles,
   and :class:`Opaque` stand-ins naming any other type; at most ``MAX_DEPTH`` deep), and its place in the
   conversation (:func:`read_answer`: an answer must repeat its request's ``id``). Whatever goes wrong while
   reading one is :class:`SandboxLost`, which costs the cell or the check it happened in; :class:`Sandbox` also
   checks that each answer has the type it must have (a cell's error text, a function handle). The one message
   trusted as such is the sandbox's first (``ready`` or ``setup-failed``), sent before any submission code runs.

Encoding, sending and the call loop live in :mod:`.wire`; they produce nothing the grader has to trust.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import shutil
import signal
import socket
import struct
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "MAX_CELL_BYTES",
    "MAX_DEPTH",
    "MAX_NOTEBOOK_BYTES",
    "Cell",
    "Opaque",
    "RemoteError",
    "Sandbox",
    "SandboxLost",
    "SandboxSetupError",
    "WireError",
    "decode",
    "display_name",
    "printable",
    "read_answer",
    "read_cells",
    "read_frame",
    "sanitize",
]

# ---- limits: what is accepted at all ----------------------------------------------------------------------------
MAX_HEADER = 8 << 20  # JSON part of one frame
MAX_BLOB = 64 << 20  # raw array bytes of one frame
MAX_DEPTH = 32
MAX_ITEMS = 100_000
MAX_DIMS = 16
_FRAME = struct.Struct(">QQ")

_TORCH_DTYPES = {
    str(d).removeprefix("torch."): d
    for d in (
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.complex64,
        torch.complex128,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.uint8,
        torch.bool,
    )
}
_NUMPY_KINDS = "biufc"  # bool, signed, unsigned, float, complex
MAX_NOTEBOOK_BYTES = 20 << 20
MAX_CELL_BYTES = 1 << 20  # far below the wire's 8 MiB message cap, far above any hand-written cell
MAX_CELLS = 5000


# ---- errors ----------------------------------------------------------------------------------------------------
class WireError(ValueError):
    """A message that breaks the protocol (too big, too deep, an unknown type, a malformed tensor)."""


class SandboxLost(BaseException):
    """The sandbox did not answer in time, died, or sent garbage; the grader restarts it."""


class RemoteError(Exception):
    """An exception raised on the other side; ``type(err).__name__`` is the remote type's name."""


class Opaque:
    """A value of a type the wire does not carry; ``type(x).__name__`` is the sender's type name."""

    def __init__(self, type_name: str, text: str):
        self.type_name, self.text = type_name, text

    def __repr__(self) -> str:
        return self.text


class SandboxSetupError(RuntimeError):
    """The sandbox could not be set up (before any submission code ran): the grader itself cannot work here."""


# ---- text and names --------------------------------------------------------------------------------------------
def sanitize(text: str, limit: int = 2000) -> str:
    """Text from a submission, safe for a terminal, a CSV cell or a Markdown code block: control characters
    (ANSI escapes included) become ``?``, newlines and tabs stay, and the length is capped."""
    text = str(text)
    cleaned = "".join(ch if (ch in "\n\t" or (ch.isprintable() and ch not in "\x1b\x9b")) else "?" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + f" ... [{len(cleaned) - limit} more characters]"


def _identifier(name: str, fallback: str) -> str:
    name = "".join(ch for ch in str(name)[:60] if ch.isalnum() or ch == "_")
    return name if name.isidentifier() else fallback


_remote_types: dict[tuple[type, str], type] = {}
MAX_REMOTE_TYPES = 1000  # a peer that names endless distinct types does not grow this cache without bound


def _named_subclass(base: type, name: str) -> type:
    """A subclass of ``base`` whose ``__name__`` is the remote type's, so messages read naturally."""
    key = (base, _identifier(name, base.__name__))
    if key in _remote_types:
        return _remote_types[key]
    cls = type(key[1], (base,), {})
    if len(_remote_types) < MAX_REMOTE_TYPES:
        _remote_types[key] = cls
    return cls


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


# ---- frames and values -----------------------------------------------------------------------------------------
def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                raise SandboxLost("timed out")
        try:
            k = sock.recv_into(view[got:], n - got)
        except OSError as err:
            raise SandboxLost(f"the connection failed ({type(err).__name__})") from None
        if k == 0:
            raise SandboxLost("the process ended (it exited or was killed)")
        got += k
    return buf


def read_frame(sock: socket.socket, deadline: float | None) -> tuple[dict, list[memoryview]]:
    """The next frame on ``sock`` as (JSON body, blobs), waiting until ``deadline`` (``time.monotonic()``; None:
    forever). Anything wrong with it, of any kind, is :class:`SandboxLost`."""
    try:
        return _read_frame(sock, deadline)
    except SandboxLost:
        raise
    except Exception as err:  # untrusted bytes: no error of any other kind may escape
        raise SandboxLost(f"sent a malformed message ({type(err).__name__})") from None


def _read_frame(sock: socket.socket, deadline: float | None) -> tuple[dict, list[memoryview]]:
    n_header, n_blob = _FRAME.unpack(_recv_exact(sock, _FRAME.size, deadline))
    if n_header > MAX_HEADER or n_blob > MAX_BLOB:
        raise SandboxLost(f"sent a message of {n_header + n_blob} bytes (the limit is {MAX_HEADER + MAX_BLOB})")
    try:
        body = json.loads(bytes(_recv_exact(sock, n_header, deadline)))
    except (ValueError, RecursionError):
        raise SandboxLost("sent a malformed message") from None
    data = memoryview(_recv_exact(sock, n_blob, deadline))
    offsets = body.pop("blobs", []) if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(offsets, list) or len(offsets) > MAX_ITEMS:
        raise SandboxLost("sent a malformed message")
    blobs = []
    for item in offsets:
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(v, int) and v >= 0 for v in item)):
            raise SandboxLost("sent a malformed message")
        start, size = item
        if start + size > n_blob:
            raise SandboxLost("sent a malformed message")
        blobs.append(data[start : start + size])
    return body, blobs


def decode(value, blobs: list[memoryview], make_callable: Callable, depth: int = 0):
    """A value from its JSON form and the frame's blobs; a function handle becomes ``make_callable(handle, name)``.
    Raises :class:`WireError` for anything malformed."""
    if depth > MAX_DEPTH:
        raise WireError(f"value nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [decode(v, blobs, make_callable, depth + 1) for v in value]
    if not isinstance(value, dict) or len(value) == 0:
        raise WireError(f"unexpected JSON value of type {type(value).__name__}")
    if "__tuple__" in value:
        return tuple(decode(v, blobs, make_callable, depth + 1) for v in _list(value["__tuple__"]))
    if "__dict__" in value:
        out = {}
        for pair in _list(value["__dict__"]):
            if not isinstance(pair, list) or len(pair) != 2:
                raise WireError("malformed dict entry")
            key = decode(pair[0], blobs, make_callable, depth + 1)
            if not isinstance(key, str | int | float | bool | tuple | type(None)) or not _hashable(key):
                raise WireError(f"dict key of type {type(key).__name__} (or a tuple holding an unhashable value)")
            out[key] = decode(pair[1], blobs, make_callable, depth + 1)
        return out
    if "__float__" in value:
        text = value["__float__"]
        if text not in ("nan", "inf", "-inf"):
            raise WireError(f"bad float {text!r}")
        return float(text)
    if "__bigint__" in value:
        text = str(value["__bigint__"])
        if len(text) > 4000:
            raise WireError("integer with more than 4000 digits")
        return int(text)
    if "__tensor__" in value:
        return _decode_tensor(value, blobs)
    if "__ndarray__" in value:
        return _decode_ndarray(value, blobs)
    if "__callable__" in value:
        handle = value["__callable__"]
        if not isinstance(handle, int):
            raise WireError("bad callable handle")
        return make_callable(handle, str(value.get("name", "function")))
    if "__opaque__" in value:
        cls = _named_subclass(Opaque, str(value["__opaque__"]))
        return cls(str(value["__opaque__"])[:60], str(value.get("repr", ""))[:300])
    raise WireError(f"unknown value tag {sorted(value)[:3]}")


STALE = object()  # what read_answer returns for a late answer to an earlier request


def read_answer(body: dict, blobs: list[memoryview], rid: int, make_callable: Callable):
    """The value answering request ``rid`` (a ``return`` frame), or :data:`STALE` for a late answer to an earlier
    one. A ``raise`` frame raises :class:`RemoteError` named like the remote type (``NotImplementedError`` as
    itself); an answer out of turn, or one that cannot be decoded, raises :class:`SandboxLost`."""
    op, answered = body.get("op"), body.get("id")
    if op not in ("return", "raise"):
        raise SandboxLost(f"sent an unexpected message {sanitize(op, 40)!r}")
    if type(answered) is int and answered < rid:
        return STALE  # a forged answer got ahead of the real one: the real one is dropped
    if type(answered) is not int or answered != rid:
        raise SandboxLost("sent an answer out of turn (a forged or stray message)")
    try:
        if op == "return":
            return decode(body.get("value"), blobs, make_callable)
        name, text = str(body.get("type", "Exception"))[:200], sanitize(body.get("message", ""))
    except Exception as err:  # untrusted data: any failure to read it is the peer's
        raise SandboxLost(f"sent a value the grader cannot read: {sanitize(err, 200)}") from None
    if name == "NotImplementedError":
        raise NotImplementedError(text)
    raise _named_subclass(RemoteError, name)(text)


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _list(value) -> list:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise WireError("malformed sequence")
    return value


def _shape(value) -> tuple[int, ...]:
    shape = value.get("shape")
    if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise WireError(f"bad shape {str(shape)[:80]}")
    return tuple(shape)


def _blob(value, key: str, blobs: list[memoryview], nbytes: int) -> memoryview:
    index = value[key]
    if not isinstance(index, int) or not 0 <= index < len(blobs) or len(blobs[index]) != nbytes:
        raise WireError("array data does not match its shape and dtype")
    return blobs[index]


def _decode_tensor(value, blobs) -> torch.Tensor:
    shape, dtype_name, device = _shape(value), str(value.get("dtype")), str(value.get("device", "cpu"))[:40]
    if value["__tensor__"] is None or dtype_name not in _TORCH_DTYPES:
        # a tensor we cannot carry (meta device, sparse, an exotic dtype): an empty stand-in that names them
        meta = torch.empty(shape, device="meta") if math.prod(shape) < 2**40 else torch.empty(0, device="meta")
        return meta
    dtype = _TORCH_DTYPES[dtype_name]
    numel = math.prod(shape)
    itemsize = torch.empty((), dtype=dtype).element_size()
    data = _blob(value, "__tensor__", blobs, numel * itemsize)
    if numel == 0:
        out = torch.empty(shape, dtype=dtype)
    else:
        raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        # a bool byte other than 0 or 1 is undefined behaviour in torch: read any nonzero byte as True
        out = (raw != 0).reshape(shape) if dtype == torch.bool else raw.view(dtype).reshape(shape)
    if device != "cpu":
        try:
            out = out.to(device)
        except (RuntimeError, ValueError):  # a device this process lacks: keep it on CPU
            pass
    return out


def _decode_ndarray(value, blobs) -> np.ndarray:
    shape = _shape(value)
    try:
        dtype = np.dtype(str(value.get("dtype")))
    except TypeError:
        raise WireError("bad numpy dtype") from None
    if dtype.kind not in _NUMPY_KINDS:
        raise WireError(f"numpy dtype {dtype} is not carried")
    data = _blob(value, "__ndarray__", blobs, math.prod(shape) * dtype.itemsize)
    return np.frombuffer(bytearray(data), dtype=dtype).reshape(shape)


# ---- the sandbox, seen from the grader -------------------------------------------------------------------------
class Sandbox:
    """One running submission seen from the grader: run cells, look up functions; killed as a whole by :meth:`kill`.

    ``pid`` is the keeper's (see :mod:`.sandbox`); ``workdir`` a host folder to remove (only without isolation)."""

    def __init__(self, pid: int, sock: socket.socket, workdir: str | None, cell_timeout: float):
        from .wire import Endpoint

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

    def lookup(self, name: str):
        """A handle on the submission's function ``name`` (RemoteError NameError/TypeError when there is none)."""
        from .wire import RemoteCallable

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
