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
request carries an ``id`` that its answer must repeat. Everything that *reads* what a peer sent (frames, values,
answers) lives in :mod:`.boundary`, the one file to audit; this module encodes, sends and runs the call loop.
"""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Callable

import numpy as np
import torch

from .boundary import (
    _FRAME,
    _NUMPY_KINDS,
    _TORCH_DTYPES,
    MAX_BLOB,
    MAX_DEPTH,
    MAX_HEADER,
    MAX_ITEMS,
    STALE,
    Opaque,
    RemoteError,
    SandboxLost,
    WireError,
    _identifier,
    decode,
    read_answer,
    read_frame,
    sanitize,
)

__all__ = ["MAX_DEPTH", "Endpoint", "Opaque", "RemoteCallable", "RemoteError", "SandboxLost", "WireError", "sanitize"]


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

    def decode(self, value, blobs: list[memoryview]):
        return decode(value, blobs, self._callable)

    def _callable(self, handle: int, name: str) -> RemoteCallable:
        return RemoteCallable(self, handle, name)

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

    def receive(self) -> tuple[dict, list[memoryview]]:
        """The next frame, read by :func:`~.boundary.read_frame` (anything wrong is :class:`SandboxLost`)."""
        return read_frame(self.sock, self.deadline)

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
            if body.get("op") == "call":
                self.serve_call(body, blobs)
                continue
            value = read_answer(body, blobs, rid, self._callable)
            if value is not STALE:
                return value

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
