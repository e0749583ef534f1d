"""The grader's wire format: values round-trip exactly, and nothing a sandbox sends can run code or exhaust memory."""

from __future__ import annotations

import json
import math
import socket
import struct
import time

import numpy as np
import pytest
import torch

from minitorch_xf.checks.wire import MAX_DEPTH, Endpoint, Opaque, RemoteError, SandboxLost, WireError, sanitize


def _deadline_in(endpoint, seconds: float) -> None:
    """A guard against a hang, set on an endpoint: it is never a measured time that a test asserts on."""
    endpoint.deadline = time.monotonic() + seconds


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield Endpoint(a), Endpoint(b)
    a.close()
    b.close()


def roundtrip(pair, value):
    left, right = pair
    left.send({"op": "return"}, value=value)
    body, blobs = right.receive()
    return right.decode(body["value"], blobs)


@pytest.mark.parametrize(
    "value",
    [
        torch.randn(3, 4, dtype=torch.float64),
        torch.arange(6, dtype=torch.int32).reshape(2, 3).T,  # not contiguous
        torch.ones(2, 2).tril().bool(),
        torch.randn(2, 3, dtype=torch.complex64),
        torch.empty(0, 5),
        torch.tensor(3.5),
        torch.randn(4).to(torch.bfloat16),
    ],
    ids=["f64", "int32-T", "bool", "complex", "empty", "scalar", "bf16"],
)
def test_tensors_round_trip_bit_exactly(pair, value):
    got = roundtrip(pair, value)
    assert got.dtype == value.dtype and got.shape == value.shape and torch.equal(got, value)


def test_python_values_round_trip(pair):
    value = {"a": [1, 2.5, None, True, "x"], 3: (float("nan"), float("inf"), -math.inf, 2**80), "n": np.arange(3.0)}
    got = roundtrip(pair, value)
    assert got["a"] == [1, 2.5, None, True, "x"] and isinstance(got[3], tuple) and got[3][3] == 2**80
    assert math.isnan(got[3][0]) and got[3][1] == math.inf and got[3][2] == -math.inf
    np.testing.assert_array_equal(got["n"], np.arange(3.0))


def test_unknown_types_arrive_as_named_opaque_values(pair):
    class Foo:
        def __repr__(self):
            return "Foo()"

    got = roundtrip(pair, Foo())
    assert isinstance(got, Opaque) and type(got).__name__ == "Foo" and repr(got) == "Foo()"
    meta = roundtrip(pair, torch.empty(2, 3, device="meta"))
    assert meta.device.type == "meta" and meta.shape == (2, 3)


def test_calls_go_both_ways_and_errors_keep_their_names(pair):
    left, right = pair
    right.handlers["apply"] = lambda f, x: f(x) * 2  # the "sandbox": calls back a function the "grader" passed
    right.handlers["boom"] = lambda: (_ for _ in ()).throw(ValueError("bad input"))
    import threading

    def serve():
        for _ in range(2):
            body, blobs = right.receive()
            right.serve_call(body, blobs)

    t = threading.Thread(target=serve)
    t.start()
    left.deadline = None
    assert left.request({"op": "call", "name": "apply"}, args=(lambda x: x + 1, torch.tensor(1.0)), kwargs={}) == 4
    with pytest.raises(RemoteError, match="bad input") as err:
        left.request({"op": "call", "name": "boom"}, args=(), kwargs={})
    assert type(err.value).__name__ == "ValueError"
    t.join(5)


def test_deep_nesting_is_refused():
    left = Endpoint(socket.socketpair()[0])
    value: list = []
    for _ in range(MAX_DEPTH + 5):
        value = [value]
    with pytest.raises(WireError, match="deeper"):
        left.encode(value, [])


def _raw(sock, header: bytes, blob: bytes = b"", claim_header=None, claim_blob=None):
    sock.sendall(struct.pack(">QQ", claim_header or len(header), claim_blob or len(blob)) + header + blob)


@pytest.mark.parametrize(
    "frame",
    [
        {"claim_header": 1 << 40},  # a huge length: refused before allocating
        {"header": b"{not json"},
        {
            "header": json.dumps(
                {"op": "return", "value": {"__tensor__": 0, "dtype": "float64", "shape": [1000]}, "blobs": [[0, 8]]}
            ).encode(),
            "blob": b"\0" * 8,
        },  # shape and data disagree
        {"header": json.dumps({"op": "return", "value": {"__pickle__": "..."}, "blobs": []}).encode()},
        {"header": json.dumps({"op": "exec", "blobs": []}).encode()},
    ],
    ids=["huge", "not-json", "short-data", "unknown-tag", "unknown-op"],
)
def test_garbage_from_the_sandbox_is_sandbox_lost(frame):
    a, b = socket.socketpair()
    grader = Endpoint(a)
    header = frame.get("header", b"{}")
    _raw(b, header, frame.get("blob", b""), frame.get("claim_header"))
    b.close()
    grader.deadline = None
    with pytest.raises(SandboxLost):
        grader.request({"op": "call", "name": "x"}, args=(), kwargs={})


def test_silence_is_a_timeout():
    a, b = socket.socketpair()
    grader = Endpoint(a)
    _deadline_in(grader, 0.2)
    with pytest.raises(SandboxLost, match="timed out"):
        grader.request({"op": "call", "name": "x"}, args=(), kwargs={})
    b.close()


def test_sanitize_removes_terminal_escapes_and_caps_length():
    assert sanitize("\x1b[2Jok\x07\nline\t2") == "?[2Jok?\nline\t2"
    assert sanitize("x" * 5000, 10).startswith("x" * 10 + " ... [4990 more")


def _answer(message: dict, blob: bytes = b""):
    """What the grader makes of one raw frame sent in answer to its request (id 1)."""
    a, b = socket.socketpair()
    grader = Endpoint(a)
    _raw(b, json.dumps({**message, "blobs": [[0, len(blob)]] if blob else []}).encode(), blob)
    _deadline_in(grader, 30)
    try:
        return grader.request({"op": "call", "name": "x"}, args=(), kwargs={})
    finally:
        b.close()
        a.close()


@pytest.mark.parametrize(
    "value",
    [
        {"__dict__": [[{"__tuple__": [[1, 2]]}, 1]]},  # a tuple key holding a list: unhashable
        {"__dict__": [[{"__tuple__": [{"__dict__": []}]}, 1]]},
        {"__tensor__": 0, "dtype": "float32", "shape": [2**62, 2**62]},
        {"__ndarray__": 0, "dtype": {"x": 1}, "shape": [1]},
        {"__ndarray__": 0, "dtype": "O", "shape": [1]},
        {"__bigint__": "12x"},
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
    ],
    ids=[
        "unhashable-key",
        "dict-in-tuple-key",
        "huge-shape",
        "dtype-dict",
        "object-dtype",
        "bigint",
        "deep",
    ],
)
def test_any_value_the_grader_cannot_read_is_sandbox_lost(value):
    with pytest.raises(SandboxLost):
        _answer({"op": "return", "id": 1, "value": value})


@pytest.mark.parametrize(
    "message",
    [
        {"op": "raise", "type": "SandboxSetupError", "message": "forged"},  # no id: not an answer to anything
        {"op": "return", "id": 7, "value": 1},  # an id never asked for
        {"op": "return", "id": [1], "value": 1},
        {"op": "return", "id": True, "value": 1},
        {"op": ["return"], "id": 1},
    ],
    ids=["no-id", "future-id", "list-id", "bool-id", "list-op"],
)
def test_an_answer_out_of_turn_is_sandbox_lost(message):
    with pytest.raises(SandboxLost):
        _answer(message)


def test_a_late_answer_to_an_earlier_request_is_dropped():
    a, b = socket.socketpair()
    grader = Endpoint(a)
    grader._last_id = 4
    for message in ({"op": "return", "id": 3, "value": "late"}, {"op": "return", "id": 5, "value": "mine"}):
        _raw(b, json.dumps({**message, "blobs": []}).encode())
    grader.deadline = None
    assert grader.request({"op": "call", "name": "x"}, args=(), kwargs={}) == "mine"
    b.close()


def test_a_remote_error_with_any_name_is_a_remote_error():
    with pytest.raises(RemoteError) as err:
        _answer({"op": "raise", "id": 1, "type": "SandboxSetupError", "message": ["not", "text"]})
    assert type(err.value).__name__ == "SandboxSetupError"  # only a name: the grader gives it no meaning
