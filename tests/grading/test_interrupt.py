"""A grader killed mid-run: the previous gradebook stays whole, and nothing of the run is left on the machine.

The command-line grader runs as a child of this test, which makes itself a *child subreaper*: every process the
grader started that outlives it is re-parented here, so "nothing left" can be checked exactly (other graders on the
same machine are not counted). Its temporary folders go to a TMPDIR of the test's own.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from corpus import code, insert, solution, stub

from minitorch_xf.checks.sandbox import can_isolate

pytestmark = [pytest.mark.slow, pytest.mark.exercises]
PR_SET_CHILD_SUBREAPER = 36
ISOLATE = can_isolate()


def _slow(nb: dict) -> dict:
    return insert(nb, code("import time\ntime.sleep(1.5)\n"))  # so that a kill lands while the batch runs


def _grade(subs: Path, out: Path, tmp: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "minitorch_xf.checks.grade", str(subs), "--chapter", "ch01", "--out", str(out)]
    args += ["--jobs", "2", "--cell-timeout", "60", *extra, *([] if ISOLATE else ["--no-sandbox"])]
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _children(reap: set[int] | None = None) -> dict[int, str]:
    """This process's children, pid -> command line (zombies marked); those in ``reap`` that are zombies are
    reaped and left out (only the grader's: a zombie of another test is not ours to wait for)."""
    out = {}
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat[1]) != me:
            continue
        pid = int(entry)
        if stat[0] == "Z" and reap is not None and pid in reap:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            continue
        out[pid] = ("(zombie) " if stat[0] == "Z" else "") + cmd[:120]
    return out


def _stamps(folder: Path) -> dict[str, int]:
    out = {}
    for p in folder.iterdir():
        try:
            out[p.name] = p.stat().st_mtime_ns
        except FileNotFoundError:  # a temporary file, renamed in the meantime
            pass
    return {name: t for name, t in out.items() if not name.startswith(".")}


def _left(baseline: set[int], tmp: Path, wait_s: float) -> tuple[dict, list]:
    """(processes of the run still alive, files left in its TMPDIR), after waiting up to ``wait_s`` for them."""
    deadline = time.monotonic() + wait_s
    while True:
        ours = {pid for pid in _children() if pid not in baseline}
        procs = {pid: cmd for pid, cmd in _children(reap=ours).items() if pid not in baseline}
        files = list(tmp.iterdir())
        if not (procs or files) or time.monotonic() > deadline:
            return procs, files
        time.sleep(0.5)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A complete run on 4 submissions: its gradebook, and what it left behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0  # undone when this module's tests end
    subs = tmp_path_factory.mktemp("subs")
    for i in range(4):
        nb = _slow(solution() if i % 2 == 0 else stub())
        (subs / f"student-{i}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    out, tmp = tmp_path_factory.mktemp("grades"), tmp_path_factory.mktemp("tmp")
    baseline = set(_children())
    proc = _grade(subs, out, tmp)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    yield subs, out, _left(baseline, tmp, 60)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def test_a_complete_run_leaves_nothing(graded):
    _, out, (procs, files) = graded
    assert (out / "gradebook.csv").read_text(encoding="utf-8").count("\n") == 2 + 4
    assert not procs, f"processes outlived the grader: {procs}"
    assert not files, f"temporary folders left: {files}"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_regrade_keeps_the_gradebook_and_leaves_nothing(graded, sig, tmp_path):
    subs, out, _ = graded
    before = {name: (out / name).read_bytes() for name in ("gradebook.csv", "gradebook.json")}
    feedback = {p.name: p.read_bytes() for p in (out / "feedback").iterdir()}
    baseline = set(_children())
    results = out / "results"
    stamps = _stamps(results)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = _grade(subs, out, tmp, "--regrade", "--jobs", "1")
    deadline = time.monotonic() + 600
    while _stamps(results) == stamps:  # wait until one is regraded (of 4, one at a time)
        assert proc.poll() is None, "the grader ended before it could be interrupted"
        if time.monotonic() > deadline:  # a guard against a hang, not a timing claim
            pytest.fail("no submission was regraded within 10 minutes")
        time.sleep(0.2)
    proc.send_signal(sig)
    proc.wait(120)
    assert {name: (out / name).read_bytes() for name in before} == before, "the gradebook changed"
    assert {p.name: p.read_bytes() for p in (out / "feedback").iterdir()} == feedback
    procs, files = _left(baseline, tmp, 120)
    assert not procs, f"processes outlived the grader: {procs}"
    assert not files, f"temporary folders left: {files}"
