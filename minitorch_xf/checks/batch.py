"""A batch: grade every submission in parallel workers, save each result as it comes, publish the gradebook once.

The grader process starts ``jobs`` **workers** (``python -m minitorch_xf.checks.batch``), each with its own
:class:`~.scoring.Grader` and zygote, and hands them submissions one at a time over a socket (pickle, both ends
ours: no submission data is ever unpickled; a worker only ever holds what :mod:`.boundary` decoded). A worker that
dies is replaced and its submission tried once more, then given a row that says so.

Nothing outlives the grader. Workers, zygotes, keepers and sandboxes each die with their parent (a parent-death
signal, checked against a parent that died first); the sandbox is process 1 of its PID namespace, so everything a
submission started dies with it. The grader's private folder (an unpacked ``.zip``, working folders without
isolation) is removed by a tiny **reaper** process in its own session that waits for the grader's end, however it
ends (SIGKILL included). SIGTERM and SIGHUP end the command-line grader like Ctrl-C: workers killed, folder removed,
the previous gradebook untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections import deque
from dataclasses import asdict
from multiprocessing.connection import Connection, wait
from pathlib import Path

from .boundary import printable
from .collect import Submission, discover, extract_zip
from .gradebook import load_result, publish, save_result
from .reference import Reference
from .zygote import Limits

__all__ = ["GRADER_VERSION", "grade_batch"]

GRADER_VERSION = "3"
_REAPER = "import shutil, sys\nsys.stdin.buffer.read()\nshutil.rmtree(sys.argv[1], ignore_errors=True)\n"


def _fingerprint(sub: Submission, reference: Reference, limits: Limits) -> str:
    key = f"{GRADER_VERSION}|{reference.digest}|{sub.name}|{sub.problem}|{sub.notes}|{asdict(limits)}"
    h = hashlib.sha256(key.encode("utf-8", "surrogatepass"))
    if sub.path is not None:
        with contextlib.suppress(OSError):
            with open(sub.path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


class _Worker:
    """One grading worker process and the connection to it."""

    def __init__(self, init: dict):
        ours, theirs = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "minitorch_xf.checks.batch", str(theirs.fileno()), str(os.getpid())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        theirs.close()
        self.conn = Connection(ours.detach())
        self.conn.send(init)
        self.job: tuple[Submission, str] | None = None

    def stop(self, wait_s: float) -> None:
        """Ask it to finish (it closes its zygote), then kill it if it has not after ``wait_s`` seconds."""
        with contextlib.suppress(OSError, ValueError):
            if wait_s > 0:
                self.conn.send(None)
        try:
            self.proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            self.conn.close()


def _reaper(folder: Path) -> subprocess.Popen:
    """A process that removes ``folder`` once this one ends, however it ends (its stdin reaches end of file)."""
    return subprocess.Popen(
        [sys.executable, "-S", "-c", _REAPER, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def grade_batch(
    submissions: Path,
    reference: Path,
    out: Path,
    limits: Limits | None = None,
    jobs: int | None = None,
    regrade: bool = False,
    log=print,
) -> list[dict]:
    """Grade every submission under ``submissions`` (a notebook, folder or zip); publish ``out``; return the rows."""
    limits = limits or Limits()
    ref = Reference(reference)
    out = Path(out).resolve()
    root = Path(submissions).resolve()
    if not root.exists():
        raise FileNotFoundError(f"submissions path {str(submissions)!r} does not exist")
    out.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix="xf-grade-"))  # mode 0700: the sandbox's user cannot enter it
    reaper = _reaper(private)
    try:
        notes: dict[str, str] = {}
        hidden_root = root
        if root.is_file() and root.suffix == ".zip":
            unpacked = private / "unzipped"
            unpacked.mkdir()
            root, notes = extract_zip(root, unpacked)
        subs = discover(root, ref.path.name, notes)
        if not subs:
            raise ValueError(f"no submissions in {str(submissions)!r} (an empty folder)")
        results: dict[str, dict] = {}
        todo = []
        for sub in subs:
            fp = _fingerprint(sub, ref, limits)
            saved = None if regrade else load_result(out, sub.name, fp)
            if saved is not None:
                results[sub.name] = saved
            else:
                todo.append((sub, fp))
        if todo:
            log(f"grading {len(todo)} submission(s) against {ref.path.name} ({len(results)} already graded)")

        def finish(sub: Submission, fp: str, row: dict) -> None:
            row["fingerprint"] = fp
            results[sub.name] = row
            save_result(out, row)
            log(f"{row['total']:6g} / {row['max_total']:<6g} {row['seconds']:6.1f} s  {printable(sub.name, 80)}")

        if todo:
            (private / "work").mkdir()
            init = {
                "reference": str(ref.path),
                "limits": asdict(limits),
                "hide": [str(hidden_root), str(out), str(private)],
                "workroot": str(private / "work"),
            }
            _run_workers(todo, init, max(1, min(jobs or os.cpu_count() or 1, len(todo))), ref, finish)
        publish(out, ref, list(results.values()))
        return sorted(results.values(), key=lambda r: r["submission"])
    finally:
        shutil.rmtree(private, ignore_errors=True)
        with contextlib.suppress(OSError):
            reaper.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            reaper.wait(10)


def _run_workers(todo: list, init: dict, jobs: int, ref: Reference, finish) -> None:
    from .scoring import grader_error

    queue = deque(todo)
    attempts: dict[str, int] = {}
    workers = [_Worker(init) for _ in range(jobs)]
    done = False
    try:
        while queue or any(w.job for w in workers):
            for w in workers:
                if w.job is None and queue:
                    w.job = queue.popleft()
                    w.conn.send(w.job[0])
            busy = {w.conn: w for w in workers if w.job is not None}
            for conn in wait(list(busy)):
                w = busy[conn]
                sub, fp = w.job
                w.job = None
                try:
                    msg = conn.recv()
                except (EOFError, OSError):  # the worker died: replace it, try its submission once more
                    w.stop(0)
                    workers[workers.index(w)] = _Worker(init)
                    attempts[sub.name] = attempts.get(sub.name, 0) + 1
                    if attempts[sub.name] < 2:
                        queue.appendleft((sub, fp))
                    else:
                        finish(sub, fp, asdict(grader_error(sub, ref, "the grader's worker process died")))
                    continue
                if "fatal" in msg:
                    raise RuntimeError(msg["fatal"])
                finish(sub, fp, msg)
        done = True
    finally:
        for w in workers:
            w.stop(30 if done else 0)


def _worker_main(fd: int, parent: int) -> None:
    """A worker: one Grader; a submission in, its row out, until told to stop or the grader is gone."""
    from .boundary import SandboxSetupError
    from .sandbox import _die_with_parent
    from .scoring import Grader, grader_error

    _die_with_parent(parent=parent)
    import torch

    torch.set_num_threads(1)
    conn = Connection(fd)
    init = conn.recv()
    ref = Reference(init["reference"])
    try:
        grader = Grader(ref, Limits(**init["limits"]), init["hide"], init["workroot"])
    except Exception as err:
        conn.send({"fatal": f"the grader could not start its sandboxes: {err}"})
        return
    try:
        while True:
            try:
                sub = conn.recv()
            except (EOFError, OSError):
                return
            if sub is None:
                return
            try:
                row = asdict(grader.grade(sub))
            except SandboxSetupError as err:
                conn.send({"fatal": str(err)})
                return
            except Exception as err:  # never one submission's end of the run
                row = asdict(grader_error(sub, ref, f"the grader failed on this submission ({type(err).__name__})"))
            conn.send(row)
    finally:
        grader.close()


if __name__ == "__main__":
    _worker_main(int(sys.argv[1]), int(sys.argv[2]))
