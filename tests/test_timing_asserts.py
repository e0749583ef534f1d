"""No notebook, solution or test asserts on a time measurement: a busy machine would fail it (tools/timing_asserts.py).

Cost claims are asserted on counted work (FLOPs, bytes, memory, kernel launches, state size); timings are measured,
plotted and printed, never asserted. The CPU budgets of notebooks are enforced by conftest.py, not by a cell.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.timing_asserts import default_paths, scan, timing_asserts

ROOT = Path(__file__).resolve().parents[1]


def test_no_assert_depends_on_a_timer():
    hits = scan(default_paths(ROOT))
    assert not hits, (
        "these asserts depend on a timer (a busy machine fails them): assert counted work instead "
        "(FLOPs, bytes, memory) and only print or plot the time:\n  " + "\n  ".join(hits)
    )


PLANTED = {
    "fitted slope of wall times": """
import time
import numpy as np
times = []
for n in (64, 128, 256):
    t0 = time.perf_counter()
    work(n)
    times.append(time.perf_counter() - t0)
slope = np.polyfit(np.log([64, 128, 256]), np.log(times), 1)[0]
assert 1.5 <= slope <= 2.5, slope
""",
    "a helper that times": """
import time
def bench(f):
    start = time.time()
    f()
    return time.time() - start
fast, slow = bench(a), bench(b)
ratio = slow / fast
assert ratio > 2
""",
    "timeit in a comprehension": """
import timeit
best = min(timeit.repeat(f, number=3) for _ in range(2))
assert best < 0.1
""",
    "CPU time and assert_close": """
import time
import torch
c0 = time.process_time()
run()
used = {"cpu": time.process_time() - c0}
torch.testing.assert_close(torch.tensor(used["cpu"]), torch.tensor(1.0), atol=0.5, rtol=0)
""",
    "a loop over zipped timings": """
import time
ts = []
for n in ns:
    t0 = time.perf_counter(); f(n); ts.append(time.perf_counter() - t0)
for n, secs in zip(ns, ts, strict=True):
    assert secs < 1.0, n
""",
    "torch benchmark timer": """
from torch.utils import benchmark
m = benchmark.Timer("f()").blocked_autorange()
assert m.median < 1e-3
""",
}


@pytest.mark.parametrize("name", PLANTED)
def test_a_planted_timing_assert_is_found(name):
    hits = timing_asserts(PLANTED[name], name)
    assert len(hits) == 1, f"{name}: expected one finding, got {hits}"


def test_counted_work_and_deadlines_are_not_findings():
    source = """
import time
from torch.utils.flop_counter import FlopCounterMode
deadline = time.monotonic() + 60
while time.monotonic() < deadline and not done():
    time.sleep(0.1)
with FlopCounterMode(display=False) as counter:
    f()
flops = counter.get_total_flops()
t0 = time.perf_counter(); f(); print(f"{time.perf_counter() - t0:.2f} s (observed in this run)")
assert flops == 24 * n * m**2 + 4 * n**2 * m
ts = [time.perf_counter() for _ in range(3)]
for n, f, secs in zip(ns, fl, ts, strict=True):  # only secs is timed
    print(n, f, secs)
for kind, count, secs in (("a", fl[0], ts[0]), ("b", fl[1], ts[1])):
    print(kind, count, secs)
assert all(f > 0 for f in fl) and count > 0 and n > 0 and kind
"""
    assert timing_asserts(source) == []


def test_a_planted_notebook_fails_the_scan(tmp_path):
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": "## Checks"},
            {"cell_type": "code", "source": "%matplotlib inline\n" + PLANTED["fitted slope of wall times"]},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "ch99-planted.ipynb"
    path.write_text(json.dumps(nb))
    hits = scan([path])
    assert len(hits) == 1 and "slope" in hits[0] and "ch99-planted.ipynb" in hits[0], hits
