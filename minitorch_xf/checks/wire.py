"""Messages between the grader and a sandboxed submission: a codec that cannot run code, and calls both ways.

The grader never unpickles anything a submission sends. A message is one frame on a stream socket::

    8-byte length H | 8-byte length B | H bytes of JSON | B bytes of raw array data

Values travel as JSON plus raw bytes: ``None``, ``bool``, ``int``, ``float`` (NaN and infinities included), ``str``,
``list``, ``tuple``, ``dict``, ``torch.Tensor`` and ``numpy.ndarray`` of plain numeric dtypes (shape, dtype and device
named in the JSON, the data in the blob), and callables, sent as a *handle* that the other side calls back through
the same socket. Anything else arrives as an :class:`Opaque` that names the sender's type, so a check can say
"expected a tensor, received Foo". Every length, depth and count is capped before anything is allocated.

:class:`Endpoint` is one side of the conversation. ``request`` sends a message and waits for the answer, serving
the calls the other side makes in the meantime (a learner's ``strang_step`` calling the check's ``flow_f``).
The grader's side waits with a deadline; a silent, dead or garbled peer raises :class:`SandboxLost`, which derives
from ``BaseException`` so that no ``except Exception`` in a check can mistake it for the learner's error. Every
request carries an ``id`` that its answer must repeat: a forged or stray frame is an answer out of turn, which is
:class:`SandboxLost` too. Whatever fails while a received frame is read or decoded (a malformed frame, an
unhashable key, any exception at all) becomes :class:`SandboxLost`: nothing a peer sends escapes as another error.
"""

from __future__ import annotations

import json
import math
import select
import socket
import struct
import time
from collections.abc import Callable

import numpy as np
import torch

__all__ = ["Endpoint", "Opaque", "RemoteCallable", "RemoteError", "SandboxLost", "WireError", "sanitize"]

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


class RemoteCallable:
    """A callable that lives on the other side of an :class:`Endpoint`."""

    def __init__(self, endpoint: Endpoint, handle: int, name: str):
        self._endpoint, self._handle = endpoint, handle
        self.__name__ = _identifier(name, "function")

    def __call__(self, *args, **kwargs):
        return self._endpoint.request({"op": "call", "handle": self._handle}, args=args, kwargs=kwargs)

    def __repr__(self) -> str:
        return f"<remote function {self.__name__}>"


class Endpoint:
    """One side of a framed, bidirectional call protocol over a connected stream socket.

    ``deadline``: a ``time.monotonic()`` value after which waiting raises :class:`SandboxLost` (the grader sets
    one per cell and per check); ``None`` waits forever (the sandbox's side).
    """

    def __init__(self, sock: socket.socket, handlers: dict[str, Callable] | None = None):
        self.sock = sock
        self.handlers = handlers or {}
        self.exported: dict[int, Callable] = {}
        self.deadline: float | None = None
        self._last_id = 0

    # ---- values -----------------------------------------------------------------------------------------------
    def export(self, fn: Callable) -> int:
        handle = len(self.exported) + 1
        self.exported[handle] = fn
        return handle

    def encode(self, value, blobs: list[bytes], depth: int = 0):
        if depth > MAX_DEPTH:
            raise WireError(f"value nested deeper than {MAX_DEPTH} levels")
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int):
            return value if abs(value) < 2**63 else {"__bigint__": str(value)}
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, torch.Tensor):
            return self._encode_tensor(value, blobs)
        if isinstance(value, np.ndarray) and value.dtype.kind in _NUMPY_KINDS:
            arr = np.ascontiguousarray(value)
            blobs.append(arr.tobytes())
            return {"__ndarray__": len(blobs) - 1, "dtype": arr.dtype.str, "shape": list(arr.shape)}
        if isinstance(value, list | tuple):
            if len(value) > MAX_ITEMS:
                raise WireError(f"a sequence of {len(value)} items (at most {MAX_ITEMS})")
            items = [self.encode(v, blobs, depth + 1) for v in value]
            return {"__tuple__": items} if isinstance(value, tuple) else items
        if isinstance(value, dict):
            if len(value) > MAX_ITEMS:
                raise WireError(f"a dict of {len(value)} items (at most {MAX_ITEMS})")
            return {
                "__dict__": [
                    [self.encode(k, blobs, depth + 1), self.encode(v, blobs, depth + 1)] for k, v in value.items()
                ]
            }
        if callable(value) and not isinstance(value, type):
            return {"__callable__": self.export(value), "name": str(getattr(value, "__name__", "function"))[:60]}
        if isinstance(value, np.generic) and value.dtype.kind in _NUMPY_KINDS:
            return self.encode(value.item(), blobs, depth)
        try:
            text = repr(value)[:300]
        except BaseException:  # a learner's __repr__ may raise anything
            text = "<unprintable>"
        return {"__opaque__": type(value).__name__[:60], "repr": text}

    @staticmethod
    def _encode_tensor(t: torch.Tensor, blobs: list[bytes]):
        t = t.detach()
        dtype = str(t.dtype).removeprefix("torch.")
        head = {"dtype": dtype, "shape": list(t.shape), "device": str(t.device)}
        if dtype not in _TORCH_DTYPES or t.layout != torch.strided or t.device.type == "meta":
            return {"__tensor__": None, **head}  # described, without data: the check reports dtype / device
        t = t.cpu().resolve_conj().resolve_neg().contiguous()
        flat = t.reshape(-1)
        data = flat.view(torch.uint8) if flat.numel() else flat
        blobs.append(data.numpy().tobytes() if flat.numel() else b"")
        return {"__tensor__": len(blobs) - 1, **head}

    def decode(self, value, blobs: list[memoryview], depth: int = 0):
        if depth > MAX_DEPTH:
            raise WireError(f"value nested deeper than {MAX_DEPTH} levels")
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list):
            return [self.decode(v, blobs, depth + 1) for v in value]
        if not isinstance(value, dict) or len(value) == 0:
            raise WireError(f"unexpected JSON value of type {type(value).__name__}")
        if "__tuple__" in value:
            return tuple(self.decode(v, blobs, depth + 1) for v in _list(value["__tuple__"]))
        if "__dict__" in value:
            out = {}
            for pair in _list(value["__dict__"]):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise WireError("malformed dict entry")
                key = self.decode(pair[0], blobs, depth + 1)
                if not isinstance(key, str | int | float | bool | tuple | type(None)) or not _hashable(key):
                    raise WireError(f"dict key of type {type(key).__name__} (or a tuple holding an unhashable value)")
                out[key] = self.decode(pair[1], blobs, depth + 1)
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
            return RemoteCallable(self, handle, str(value.get("name", "function")))
        if "__opaque__" in value:
            cls = _named_subclass(Opaque, str(value["__opaque__"]))
            return cls(str(value["__opaque__"])[:60], str(value.get("repr", ""))[:300])
        raise WireError(f"unknown value tag {sorted(value)[:3]}")

    # ---- frames -----------------------------------------------------------------------------------------------
    def send(self, message: dict, **values) -> None:
        blobs: list[bytes] = []
        body = dict(message)
        for key, val in values.items():
            body[key] = self.encode(val, blobs)
        offsets, pos = [], 0
        for b in blobs:
            offsets.append([pos, len(b)])
            pos += len(b)
        body["blobs"] = offsets
        header = json.dumps(body, allow_nan=False).encode()
        if len(header) > MAX_HEADER or pos > MAX_BLOB:
            raise WireError(f"message too large ({len(header)} bytes of JSON, {pos} bytes of data)")
        try:
            self.sock.sendall(_FRAME.pack(len(header), pos) + header)
            for b in blobs:
                self.sock.sendall(b)
        except OSError as err:
            raise SandboxLost(f"the connection closed ({type(err).__name__})") from None

    def _recv_exact(self, n: int) -> bytearray:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            if self.deadline is not None:
                left = self.deadline - time.monotonic()
                if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                    raise SandboxLost("timed out")
            try:
                k = self.sock.recv_into(view[got:], n - got)
            except OSError as err:
                raise SandboxLost(f"the connection failed ({type(err).__name__})") from None
            if k == 0:
                raise SandboxLost("the process ended (it exited or was killed)")
            got += k
        return buf

    def receive(self) -> tuple[dict, list[memoryview]]:
        """The next frame as (JSON body, blobs); anything wrong with it is :class:`SandboxLost`."""
        try:
            return self._receive()
        except SandboxLost:
            raise
        except Exception as err:  # untrusted bytes: no error of any other kind may escape
            raise SandboxLost(f"sent a malformed message ({type(err).__name__})") from None

    def _receive(self) -> tuple[dict, list[memoryview]]:
        n_header, n_blob = _FRAME.unpack(self._recv_exact(_FRAME.size))
        if n_header > MAX_HEADER or n_blob > MAX_BLOB:
            raise SandboxLost(f"sent a message of {n_header + n_blob} bytes (the limit is {MAX_HEADER + MAX_BLOB})")
        try:
            body = json.loads(bytes(self._recv_exact(n_header)))
        except (ValueError, RecursionError):
            raise SandboxLost("sent a malformed message") from None
        data = memoryview(self._recv_exact(n_blob))
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

    # ---- calls ------------------------------------------------------------------------------------------------
    def request(self, message: dict, **values):
        """Send ``message`` and return the peer's answer, serving its calls in the meantime.

        The answer must repeat the request's ``id`` (a late answer to an earlier request is dropped); anything
        else, and any failure to decode the answer, is :class:`SandboxLost`. A remote exception arrives as a
        :class:`RemoteError` named like the remote type (``NotImplementedError`` as itself, so a check can say
        "not implemented yet").
        """
        self._last_id += 1
        rid = self._last_id
        self.send({**message, "id": rid}, **values)
        while True:
            body, blobs = self.receive()
            op = body.get("op")
            if op == "call":
                self.serve_call(body, blobs)
                continue
            if op not in ("return", "raise"):
                raise SandboxLost(f"sent an unexpected message {sanitize(op, 40)!r}")
            answered = body.get("id")
            if type(answered) is int and answered < rid:
                continue  # a late answer to an earlier request, which a forged answer got ahead of: dropped
            if type(answered) is not int or answered != rid:
                raise SandboxLost("sent an answer out of turn (a forged or stray message)")
            try:
                if op == "return":
                    return self.decode(body.get("value"), blobs)
                name, text = str(body.get("type", "Exception"))[:200], sanitize(body.get("message", ""))
            except Exception as err:  # untrusted data: any failure to read it is the peer's
                raise SandboxLost(f"sent a value the grader cannot read: {sanitize(err, 200)}") from None
            if name == "NotImplementedError":
                raise NotImplementedError(text)
            raise _named_subclass(RemoteError, name)(text)

    def serve_call(self, body: dict, blobs: list[memoryview]) -> None:
        """Run one call the peer asked for (a handle we exported, or a named handler) and send the answer."""
        rid = body.get("id") if type(body.get("id")) is int else None
        try:
            handle, name = body.get("handle"), body.get("name")
            if "handle" in body:
                fn = self.exported.get(handle) if type(handle) is int else None
            else:
                fn = self.handlers.get(name) if type(name) is str else None
            if fn is None:
                raise LookupError("no such function on this side")
            args = self.decode(body.get("args", {"__tuple__": []}), blobs)
            kwargs = self.decode(body.get("kwargs", {"__dict__": []}), blobs)
            if (
                not isinstance(args, tuple)
                or not isinstance(kwargs, dict)
                or not all(isinstance(k, str) for k in kwargs)
            ):
                raise WireError("malformed call")
            result = fn(*args, **kwargs)
        except SandboxLost:
            raise
        except BaseException as err:  # the learner's code may raise anything, SystemExit included
            try:
                text = str(err)
            except BaseException:
                text = "<unprintable message>"
            self.send({"op": "raise", "id": rid, "type": type(err).__name__[:60], "message": sanitize(text, 4000)})
            return
        try:
            self.send({"op": "return", "id": rid}, value=result)
        except WireError as err:
            message = f"the result cannot be sent back: {err}"
            self.send({"op": "raise", "id": rid, "type": "WireError", "message": message})


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
