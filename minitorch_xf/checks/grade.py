"""Batch autograder: the instructor's reference decides what is graded; the verdict is computed outside the sandbox.

How one submission is graded:

1. **The reference** (the instructor's notebook, e.g. ``solutions/ch01-transformer.ipynb``) lists the exercises: each
   graded cell (nbgrader metadata ``{"grade": true, "points": n, "grade_id": ...}``) and the check calls in it,
   ``check_attention(attention)``. Nothing in a submission changes which exercises exist or what they are worth:
   every row of the gradebook has the reference's maximum.
2. **The submission's code cells run in a sandbox** (:mod:`minitorch_xf.checks.sandbox`): a forked process in its own
   namespaces, as user ``nobody``, with CPU, memory and output limits, from source (saved outputs and execution
   counts mean nothing). Graded check cells are skipped; a cell that errs, hangs or kills its process costs only
   itself (the sandbox is restarted and the other cells replayed).
3. **The checks run in the grader's own process** on fresh random cases drawn here: each call of the learner's
   function goes over a socket to the sandbox (:mod:`minitorch_xf.checks.wire`, no pickle), and the returned value is
   compared with the reference implementation here. Whatever a notebook patches inside its sandbox (the check
   functions, ``Checker``, IPython's hooks, the random seed), it cannot change the comparison.

Results are written per submission as they finish (``OUT/results/*.json``); the gradebook (``OUT/gradebook.csv``
and ``.json``: one row per submission, points per exercise, total, status) is rewritten atomically after each;
every student gets ``OUT/feedback/<name>.md``. A second run skips what is already graded unless ``--regrade``.

Usage::

    python -m minitorch_xf.checks.grade SUBMISSIONS --chapter ch01 --out grades/
    python -m minitorch_xf.checks.grade SUBMISSIONS.zip --reference solutions/ch01-transformer.ipynb

SUBMISSIONS is a notebook, a folder or a ``.zip``. In a folder each entry is one submission: a notebook, or a
student's folder holding one (a GitHub Classroom export).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import csv
import hashlib
import importlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ._core import CheckFailed
from .sandbox import can_isolate, isolation_problem
from .wire import Endpoint, RemoteError, SandboxLost, sanitize

__all__ = ["Exercise", "Limits", "Reference", "discover", "grade_batch", "grade_one", "graded_cells"]

GRADER_VERSION = "2"
ROOT = Path(__file__).resolve().parents[2]
MAX_NOTEBOOK_BYTES = 20 << 20
MAX_RESTARTS = 4


# ---- the reference ---------------------------------------------------------------------------------------------
def graded_cells(nb) -> list[tuple[int, str, float]]:
    """(cell index, grade_id, points) of each graded cell of a notebook (nbformat node or JSON dict)."""
    out = []
    for i, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("grade"):
            out.append((i, str(meta.get("grade_id", f"cell-{i}")), float(meta.get("points", 0))))
    return out


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


@dataclass
class CheckCall:
    module: str  # minitorch_xf.checks.chNN
    function: str  # check_attention
    names: list[str]  # the learner's functions it receives, in order
    kwargs: dict


@dataclass
class Exercise:
    grade_id: str
    points: float
    calls: list[CheckCall]
    source: str


class Reference:
    """The instructor's notebook: which exercises exist, their points, and the check calls that grade them."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise FileNotFoundError(f"reference notebook {str(path)!r} does not exist")
        raw = self.path.read_bytes()
        self.digest = hashlib.sha256(raw).hexdigest()
        nb = json.loads(raw)
        imports: dict[str, str] = {}
        for cell in nb["cells"]:
            if cell.get("cell_type") != "code":
                continue
            try:
                tree = ast.parse(_source(cell))
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("minitorch_xf.checks."):
                    for alias in node.names:
                        imports[alias.asname or alias.name] = f"{node.module}:{alias.name}"
        self.exercises: list[Exercise] = []
        for i, gid, points in graded_cells(nb):
            src = _source(nb["cells"][i])
            self.exercises.append(Exercise(gid, points, self._parse_checks(src, imports, gid), src))
        if not self.exercises:
            raise ValueError(f"reference {self.path.name} has no graded cells (nbgrader metadata grade: true)")
        ids = [e.grade_id for e in self.exercises]
        if len(set(ids)) != len(ids):
            raise ValueError(f"reference {self.path.name} repeats a grade_id: {ids}")
        self.max_total = sum(e.points for e in self.exercises)
        self.check_sources = {e.source.strip() for e in self.exercises}

    def _parse_checks(self, src: str, imports: dict[str, str], gid: str) -> list[CheckCall]:
        where = f"reference {self.path.name}, graded cell {gid!r}"
        calls = []
        for stmt in ast.parse(src).body:
            call = stmt.value if isinstance(stmt, ast.Expr) else None
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in imports):
                raise ValueError(
                    f"{where}: every statement must be a call of a check imported from minitorch_xf.checks "
                    f"(like `check_attention(attention)`), found {ast.unparse(stmt)[:80]!r}; cells with asserts "
                    "or hidden tests can be graded by nbgrader but not outside the kernel"
                )
            if not all(isinstance(a, ast.Name) for a in call.args):
                raise ValueError(f"{where}: check arguments must be the learner's function names")
            kwargs = {}
            for kw in call.keywords:
                if kw.arg is None or not isinstance(kw.value, ast.Constant):
                    raise ValueError(f"{where}: keyword arguments of a check must be constants")
                if kw.arg != "seed":  # the grader always draws fresh cases
                    kwargs[kw.arg] = kw.value.value
            module, function = imports[call.func.id].split(":")
            calls.append(CheckCall(module, function, [a.id for a in call.args], kwargs))
        if not calls:
            raise ValueError(f"{where}: no check call")
        return calls


def find_reference(chapter: str) -> Path:
    """``ch01`` -> ``solutions/ch01-*.ipynb`` of this repository."""
    if not re.fullmatch(r"ch\d\d", chapter):
        raise ValueError(f"chapter must look like 'ch01', got {chapter!r}")
    found = sorted((ROOT / "solutions").glob(f"{chapter}-*.ipynb"))
    if len(found) != 1:
        raise FileNotFoundError(f"no single solutions/{chapter}-*.ipynb in {ROOT} (found {len(found)})")
    return found[0]


# ---- submissions -----------------------------------------------------------------------------------------------
@dataclass
class Submission:
    name: str  # as shown in the gradebook: the entry's name in the submissions folder
    path: str | None  # the notebook to grade, or None when there is none
    problem: str = ""  # why there is nothing to grade


def _visible(p: Path) -> bool:
    return not p.name.startswith(".") and p.name != "__MACOSX"


def discover(root: Path, reference_name: str) -> list[Submission]:
    """One :class:`Submission` per entry of ``root`` (a notebook file, or a student's folder holding one)."""
    if root.is_file():
        return [_file_submission(root.name, root)]
    subs = []
    for entry in sorted(filter(_visible, root.iterdir()), key=lambda p: p.name):
        if entry.is_symlink():
            subs.append(Submission(entry.name, None, "a symbolic link, not a notebook"))
        elif entry.is_file():
            subs.append(_file_submission(entry.name, entry))
        elif entry.is_dir():
            notebooks = sorted(
                p
                for p in entry.rglob("*.ipynb")
                if p.is_file() and not p.is_symlink() and ".ipynb_checkpoints" not in p.parts and _visible(p)
            )
            named = [p for p in notebooks if p.name == reference_name]
            if len(named) == 1 or len(notebooks) == 1:
                subs.append(Submission(entry.name, str((named or notebooks)[0])))
            elif not notebooks:
                subs.append(Submission(entry.name, None, "no .ipynb notebook in this folder"))
            else:
                listed = ", ".join(p.name for p in notebooks[:5])
                subs.append(Submission(entry.name, None, f"several notebooks ({listed}); none is {reference_name}"))
    return subs


def _file_submission(name: str, path: Path) -> Submission:
    if path.suffix != ".ipynb":
        return Submission(name, None, f"not a notebook: expected a .ipynb file, got {path.suffix or 'no extension'!r}")
    return Submission(name, str(path))


def extract_zip(archive: Path, into: Path, max_bytes: int = 1 << 30, max_files: int = 20_000) -> Path:
    """Unpack an uploaded archive safely (no absolute paths, no ``..``, no links, capped size); return its root."""
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if len(members) > max_files or sum(m.file_size for m in members) > max_bytes:
            raise ValueError(f"{archive.name}: more than {max_files} files or {max_bytes >> 20} MiB unpacked")
        for m in members:
            parts = Path(m.filename).parts
            if m.filename.startswith("/") or ".." in parts or (m.external_attr >> 16) & 0o170000 == 0o120000:
                continue  # skipped: absolute, escaping or a symbolic link
            target = into.joinpath(*parts)
            if m.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    entries = [p for p in into.iterdir() if _visible(p)]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else into


# ---- the sandbox, seen from the grader -------------------------------------------------------------------------
@dataclass
class Limits:
    cell_timeout: float = 60.0  # wall seconds for one cell of the submission
    check_timeout: float = 60.0  # wall seconds for one check call (all its cases)
    total_timeout: float = 600.0  # wall seconds for a whole submission: cells, restarts and checks
    cpu_s: int = 300  # CPU seconds for one sandbox process
    memory_mb: int = 2048  # address space on top of the preloaded interpreter
    file_mb: int = 64  # largest file the submission may write
    tmpfs_mb: int = 128  # its private working folder
    nproc: int = 256  # processes and threads of user nobody
    isolate: bool = True


class Zygote:
    """A clean, preloaded process that forks sandboxes on request (see :mod:`.sandbox`)."""

    def __init__(self, limits: Limits, hide: list[str]):
        self.limits, self.hide = limits, hide
        self.control, theirs = socket.socketpair()
        keep = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "TRITON_INTERPRET", "CUDA_VISIBLE_DEVICES")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "minitorch_xf.checks.sandbox", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        theirs.close()
        self.control.settimeout(120)
        ready = self.control.recv(16)
        if ready != b"ready\n":
            raise RuntimeError(
                f"the sandbox zygote did not start (exit code {self.proc.poll()}); try "
                f"`{sys.executable} -m minitorch_xf.checks.sandbox 1` to see its error"
            )
        self.workroot = Path(tempfile.mkdtemp(prefix="xf-sandbox-"))
        os.chmod(self.workroot, 0o755)
        self.keep = _paths_to_keep()

    def spawn(self) -> Sandbox:
        workdir = tempfile.mkdtemp(dir=self.workroot)
        os.chmod(workdir, 0o755)
        config = {**asdict(self.limits), "hide": self.hide, "keep": self.keep, "workdir": workdir}
        ours, theirs = socket.socketpair()
        try:
            socket.send_fds(self.control, [json.dumps(config).encode()], [theirs.fileno()])
            pid = int(self.control.recv(32).decode().strip())
        except (OSError, ValueError):
            raise RuntimeError(f"the sandbox zygote stopped answering (exit code {self.proc.poll()})") from None
        finally:
            theirs.close()
        return Sandbox(pid, ours, workdir, self.limits)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.control.close()
        with contextlib.suppress(OSError):
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.workroot, ignore_errors=True)


class Sandbox:
    """One running submission: run cells, look up functions; killed as a whole by :meth:`kill`."""

    def __init__(self, pid: int, sock: socket.socket, workdir: str, limits: Limits):
        self.pid, self.workdir, self.limits = pid, workdir, limits
        self.endpoint = Endpoint(sock)

    def _call(self, name: str, timeout: float, *args):
        self.endpoint.deadline = time.monotonic() + timeout
        return self.endpoint.request({"op": "call", "name": name}, args=args, kwargs={})

    def run_cell(self, source: str) -> str:
        return str(self._call("run_cell", self.limits.cell_timeout, source))

    def lookup(self, name: str):
        return self._call("lookup", 30.0, name)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGKILL)  # the keeper; the sandbox and all it started die with it
        with contextlib.suppress(OSError):
            self.endpoint.sock.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


# ---- grading one submission ------------------------------------------------------------------------------------
@dataclass
class ExerciseResult:
    grade_id: str
    points: float
    max_points: float
    passed: bool
    message: str = ""
    cases: list[str] = field(default_factory=list)


@dataclass
class Result:
    submission: str
    path: str | None
    total: float
    max_total: float
    exercises: list[ExerciseResult]
    cell_errors: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    fingerprint: str = ""


def _code_cells(path: str, reference: Reference) -> list[str]:
    """The submission's code cells to run: all but its graded check cells. Raises ValueError if unreadable."""
    size = os.path.getsize(path)
    if size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"the file is {size >> 20} MiB (the limit is {MAX_NOTEBOOK_BYTES >> 20} MiB)")
    try:
        nb = json.loads(Path(path).read_bytes())
    except (ValueError, RecursionError) as err:
        raise ValueError(f"not a valid notebook (JSON error: {sanitize(err, 200)})") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError("not a valid notebook (no list of cells)")
    out = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = _source(cell)
        meta = cell.get("metadata", {})
        nbg = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
        if (
            isinstance(nbg, dict) and nbg.get("grade") and not nbg.get("solution")
        ) or src.strip() in reference.check_sources:
            continue  # a check cell: the grader runs the reference's checks itself
        out.append(src)
    return out


def _check_functions(reference: Reference) -> dict[tuple[str, str], object]:
    out = {}
    for ex in reference.exercises:
        for call in ex.calls:
            out[(call.module, call.function)] = getattr(importlib.import_module(call.module), call.function)
    return out


class Grader:
    """Grades submissions one at a time against one reference, through a zygote of sandboxes."""

    def __init__(self, reference: Reference, limits: Limits, hide: list[str] = ()):
        """``hide``: folders and files beyond the reference, the solutions and the home folder that the
        sandboxes must not see (the submissions, the gradebook)."""
        self.reference, self.limits = reference, limits
        self.checks = _check_functions(reference)
        self.zygote = Zygote(limits, _paths_to_hide(reference, *hide))

    def close(self) -> None:
        self.zygote.close()

    def grade(self, sub: Submission) -> Result:
        start = time.monotonic()
        ref = self.reference
        if sub.path is None:
            return _grader_error(sub, ref, sub.problem)
        try:
            cells = _code_cells(sub.path, ref)
        except (OSError, ValueError) as err:
            return _grader_error(sub, ref, str(err))
        run = _Run(self, cells)
        results = []
        try:
            for ex in ref.exercises:
                results.append(run.grade_exercise(ex))
        finally:
            run.close()
        total = sum(r.points for r in results)
        return Result(
            sub.name, sub.path, total, ref.max_total, results, run.cell_report(), run.error, time.monotonic() - start
        )


class _Run:
    """One submission's sandbox, restarted without the offending cell when a cell hangs or kills it."""

    def __init__(self, grader: Grader, cells: list[str]):
        self.grader, self.cells = grader, cells
        self.cell_errors: dict[int, str] = {}
        self.skip: set[int] = set()
        self.restarts = 0
        self.error = ""
        self.sandbox: Sandbox | None = None
        self.deadline = time.monotonic() + grader.limits.total_timeout
        self._start()

    def _out_of_time(self) -> bool:
        if time.monotonic() < self.deadline:
            return False
        self.error = f"the notebook's total time limit ({self.grader.limits.total_timeout:g} s) was reached"
        return True

    def _start(self) -> None:
        """A fresh sandbox runs every cell not skipped; a cell that hangs or kills it is skipped from then on."""
        self.sandbox = self.grader.zygote.spawn()
        for i, src in enumerate(self.cells):
            if i in self.skip:
                continue
            if self._out_of_time():
                self.cell_errors.setdefault(i, "not run: " + self.error)
                continue
            try:
                err = self.sandbox.run_cell(src)
            except RemoteError as remote:
                if type(remote).__name__ == "SandboxSetupError":
                    raise RuntimeError(f"the sandbox could not be set up: {remote}") from None
                err = f"{type(remote).__name__}: {remote}"
            except SandboxLost as lost:
                self.cell_errors[i] = _lost_message(lost, "this cell", self.grader.limits.cell_timeout)
                self.skip.add(i)
                self._restart()
                return
            if err:
                self.cell_errors[i] = err

    def grade_exercise(self, ex: Exercise) -> ExerciseResult:
        res = ExerciseResult(ex.grade_id, 0.0, ex.points, False)
        if self.sandbox is None or self._out_of_time():
            res.message = self.error or "the sandbox could not start"
            return res
        for call in ex.calls:
            check = self.grader.checks[(call.module, call.function)]
            try:
                args = [self.sandbox.lookup(n) for n in call.names]
            except RemoteError as err:
                res.message = f"{sanitize(err, 300)}{self._hint() if type(err).__name__ == 'NameError' else ''}"
                return res
            except SandboxLost as lost:
                res.message = _lost_message(lost, "looking up your function", 30)
                self._restart()
                return res
            out = io.StringIO()
            self.sandbox.endpoint.deadline = min(time.monotonic() + self.grader.limits.check_timeout, self.deadline)
            try:
                with contextlib.redirect_stdout(out):
                    check(*args, **call.kwargs)
            except CheckFailed as err:
                res.message = sanitize(err, 3000)
                return res
            except SandboxLost as lost:
                res.message = f"✗ {call.function}: " + _lost_message(
                    lost, "your function", self.grader.limits.check_timeout
                )
                self._restart()
                return res
            except Exception as err:  # the learner's value broke the check's own code (an odd type, say)
                res.message = sanitize(
                    f"✗ {call.function}: your function returned a value the check could not use "
                    f"({type(err).__name__}: {err})",
                    3000,
                )
                return res
            finally:
                self.sandbox.endpoint.exported.clear()
            res.cases += [sanitize(line.strip(), 300) for line in out.getvalue().splitlines() if line.strip()][:40]
        res.passed, res.points = True, ex.points
        return res

    def _hint(self) -> str:
        if not self.cell_errors:
            return ""
        first = min(self.cell_errors)
        return f" (a cell of your notebook failed: cell {first + 1}: {self.cell_errors[first].splitlines()[0][:200]})"

    def _restart(self) -> None:
        if self.sandbox is not None:
            self.sandbox.kill()
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            self.error = f"the sandbox was restarted {self.restarts} times; the remaining exercises are not graded"
            self.sandbox = None
            return
        self._start()

    def cell_report(self) -> list[str]:
        return [f"code cell {i + 1}: {msg}" for i, msg in sorted(self.cell_errors.items())]

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.kill()


def _lost_message(lost: SandboxLost, what: str, timeout: float) -> str:
    reason = str(lost)
    if reason == "timed out":
        return f"{what} ran longer than {timeout:g} s and was stopped"
    return f"{what} stopped the sandbox process: {reason}"


# ---- the batch -------------------------------------------------------------------------------------------------
_worker: Grader | None = None


def _init_worker(reference: str, limits: dict, hide: list[str]) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(1)
    _worker = Grader(Reference(reference), Limits(**limits), hide)


def _grade_in_worker(sub: Submission) -> dict:
    assert _worker is not None
    return asdict(_worker.grade(sub))


def _fingerprint(sub: Submission, reference: Reference, limits: Limits) -> str:
    h = hashlib.sha256(f"{GRADER_VERSION}|{reference.digest}|{sub.name}|{sub.problem}|{asdict(limits)}".encode())
    if sub.path is not None:
        with contextlib.suppress(OSError):
            with open(sub.path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


def slug(name: str) -> str:
    """A file name for a submission's feedback and result: readable ASCII plus a short hash (unique)."""
    ascii_ = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60] or "submission"
    return f"{ascii_}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _cell(text: str) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = sanitize(text, 500).replace("\n", " ")
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def write_gradebook(out: Path, reference: Reference, results: list[dict]) -> None:
    results = sorted(results, key=lambda r: r["submission"])
    ids = [e.grade_id for e in reference.exercises]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["submission", *ids, "total", "max_total", "status", "feedback"])
    w.writerow(["(max)", *[e.points for e in reference.exercises], reference.max_total, reference.max_total, "", ""])
    for r in results:
        points = {e["grade_id"]: e["points"] for e in r["exercises"]}
        status = r["error"] or ("all passed" if r["total"] == r["max_total"] else "some checks failed")
        w.writerow(
            [
                _cell(r["submission"]),
                *[points.get(i, 0.0) for i in ids],
                r["total"],
                r["max_total"],
                _cell(status),
                f"feedback/{slug(r['submission'])}.md",
            ]
        )
    _atomic_write(out / "gradebook.csv", buf.getvalue())
    book = {
        "reference": reference.path.name,
        "exercises": [{"grade_id": e.grade_id, "points": e.points} for e in reference.exercises],
        "max_total": reference.max_total,
        "submissions": results,
    }
    _atomic_write(out / "gradebook.json", json.dumps(book, indent=1, ensure_ascii=False))


def _fence(text: str) -> str:
    ticks = max([3, *(len(m) + 1 for m in re.findall(r"`{3,}", text))])
    return f"{'`' * ticks}text\n{text}\n{'`' * ticks}"


def feedback_markdown(r: dict, reference: Reference) -> str:
    name = sanitize(r["submission"], 200).replace("\n", " ")
    name = name.replace("`", "'")
    lines = [f"# Feedback: {reference.path.stem}", "", f"Submission: `{name}`", ""]
    lines.append(f"**Score: {r['total']:g} / {r['max_total']:g}**")
    lines.append("")
    if r["error"]:
        lines += ["Problem with the submission:", "", _fence(sanitize(r["error"])), ""]
    lines += ["| exercise | points | result |", "|---|---|---|"]
    for e in r["exercises"]:
        mark = "passed" if e["passed"] else "failed"
        lines.append(f"| `{e['grade_id']}` | {e['points']:g} / {e['max_points']:g} | {mark} |")
    lines.append("")
    for e in r["exercises"]:
        lines.append(f"## `{e['grade_id']}`: {'passed' if e['passed'] else 'failed'}")
        lines.append("")
        if e["passed"]:
            lines.append(_fence("\n".join(e["cases"]) or "passed"))
        else:
            lines.append(_fence(sanitize(e["message"] or "failed", 4000)))
        lines.append("")
    if r["cell_errors"]:
        lines += ["## Cells of your notebook that raised an error", ""]
        lines.append(_fence("\n".join(sanitize(c, 500) for c in r["cell_errors"][:30])))
        lines.append("")
    lines.append("The checks called your functions on fresh random inputs; rerun a check cell in your notebook to")
    lines.append("see a failing case again (each failure names the seed that replays it).")
    return "\n".join(lines) + "\n"


def _paths_to_keep() -> list[str]:
    """Folders the sandbox must still read: the interpreter, its packages, this package, PYTHONPATH."""
    import site

    paths = [sys.base_prefix, sys.prefix, sys.exec_prefix, *site.getsitepackages(), str(ROOT)]
    paths += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return sorted({str(Path(p).resolve()) for p in paths if Path(p).is_dir()})


def _paths_to_hide(reference: Reference, *extra: str | Path) -> list[str]:
    """What a sandbox must not see: the reference, the solutions, the home folder, and ``extra`` (the
    submissions, the gradebook, the grader's private folder)."""
    hide = [reference.path, ROOT / "solutions", *extra]
    home = Path(os.path.expanduser("~"))
    if home != Path("/"):
        hide.append(home)
    out_paths = []
    for p in hide:
        p = Path(p).resolve()
        if any(Path(k) == p or Path(k) in p.parents for k in (sys.prefix, sys.base_prefix)):
            continue  # never hide the interpreter itself (its parents are handled by binding it back)
        if p.is_dir() and (p == Path(tempfile.gettempdir()).resolve() or p in Path(tempfile.gettempdir()).parents):
            continue  # the sandboxes' working folders live there
        out_paths.append(str(p))
    return sorted(set(out_paths))


def grade_batch(
    submissions: Path,
    reference: Path,
    out: Path,
    limits: Limits | None = None,
    jobs: int | None = None,
    regrade: bool = False,
    log=print,
) -> list[dict]:
    """Grade every submission under ``submissions`` (a notebook, folder or zip); write ``out``; return the rows."""
    limits = limits or Limits()
    ref = Reference(reference)
    out = Path(out).resolve()
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix="xf-grade-"))  # mode 0700: the sandbox's user cannot enter it
    try:
        root = Path(submissions).resolve()
        if not root.exists():
            raise FileNotFoundError(f"submissions path {str(submissions)!r} does not exist")
        if root.is_file() and root.suffix == ".zip":
            unpacked = private / "unzipped"
            unpacked.mkdir()
            root = extract_zip(root, unpacked)
            hidden_root = Path(submissions).resolve()
        else:
            hidden_root = root
        subs = discover(root, ref.path.name)
        if not subs:
            raise ValueError(f"no submissions in {str(submissions)!r} (an empty folder)")
        names = [s.name for s in subs]
        if len(set(names)) != len(names):
            raise ValueError("two submissions have the same name")
        results: dict[str, dict] = {}
        todo = []
        for sub in subs:
            fp = _fingerprint(sub, ref, limits)
            saved = out / "results" / f"{slug(sub.name)}.json"
            if not regrade and saved.exists():
                with contextlib.suppress(ValueError, OSError):
                    old = json.loads(saved.read_text(encoding="utf-8"))
                    if old.get("fingerprint") == fp:
                        results[sub.name] = old
                        continue
            todo.append((sub, fp))
        if todo:
            log(f"grading {len(todo)} submission(s) against {ref.path.name} ({len(results)} already graded)")
        hide = [str(hidden_root), str(out), str(private)]

        def finish(sub: Submission, fp: str, row: dict) -> None:
            row["fingerprint"] = fp
            results[sub.name] = row
            _atomic_write(out / "results" / f"{slug(sub.name)}.json", json.dumps(row, indent=1, ensure_ascii=False))
            _atomic_write(out / "feedback" / f"{slug(sub.name)}.md", feedback_markdown(row, ref))
            write_gradebook(out, ref, list(results.values()))
            log(f"{row['total']:6g} / {row['max_total']:<6g} {row['seconds']:6.1f} s  {sanitize(sub.name, 80)}")

        jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
        attempts: dict[str, int] = {}
        while todo:
            pending = list(todo)
            todo = []
            with ProcessPoolExecutor(
                jobs, mp_context=_spawn(), initializer=_init_worker, initargs=(str(ref.path), asdict(limits), hide)
            ) as pool:
                futures = {pool.submit(_grade_in_worker, sub): (sub, fp) for sub, fp in pending}
                for fut in as_completed(futures):
                    sub, fp = futures[fut]
                    try:
                        finish(sub, fp, fut.result())
                    except BrokenProcessPool:
                        attempts[sub.name] = attempts.get(sub.name, 0) + 1
                        if attempts[sub.name] < 2:
                            todo.append((sub, fp))
                        else:
                            finish(sub, fp, asdict(_grader_error(sub, ref, "the grader's worker process died")))
        write_gradebook(out, ref, list(results.values()))
        return sorted(results.values(), key=lambda r: r["submission"])
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _grader_error(sub: Submission, ref: Reference, why: str) -> Result:
    zeros = [ExerciseResult(e.grade_id, 0.0, e.points, False, f"not graded: {why}") for e in ref.exercises]
    return Result(sub.name, sub.path, 0.0, ref.max_total, zeros, error=why)


def _spawn():
    import multiprocessing

    return multiprocessing.get_context("spawn")


def grade_one(notebook: str | Path, reference: str | Path, limits: Limits | None = None) -> Result:
    """Grade a single notebook in this process (tests, quick checks): same sandbox, no gradebook."""
    limits = limits or Limits()
    ref = Reference(reference)
    with tempfile.TemporaryDirectory(prefix="xf-grade-") as private:
        grader = Grader(ref, limits, [str(Path(notebook).resolve().parent), private])
        try:
            return grader.grade(Submission(Path(notebook).name, str(notebook)))
        finally:
            grader.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, help="a notebook, a folder of submissions, or a .zip of one")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--chapter", help="grade against this repository's solutions/chNN-*.ipynb, e.g. ch01")
    which.add_argument("--reference", type=Path, help="the instructor's notebook (graded cells and points)")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="folder for the gradebook and feedback")
    parser.add_argument("--regrade", action="store_true", help="grade again what is already graded")
    parser.add_argument("--jobs", type=int, default=None, help="parallel sandboxes (default: one per core)")
    parser.add_argument("--cell-timeout", type=float, default=60.0)
    parser.add_argument("--check-timeout", type=float, default=60.0)
    parser.add_argument("--total-timeout", type=float, default=600.0, help="wall seconds for one whole submission")
    parser.add_argument("--memory-mb", type=int, default=2048)
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run submissions without namespaces or a user switch (only for trusted code, or where not root)",
    )
    args = parser.parse_args(argv)
    if not args.no_sandbox and not can_isolate():
        parser.error(f"{isolation_problem()}; grade as root on Linux, or pass --no-sandbox for trusted notebooks")
    if args.no_sandbox:
        print("WARNING: --no-sandbox: submissions run as this user, with limits but without isolation", file=sys.stderr)
    try:
        reference = args.reference or find_reference(args.chapter)
        limits = Limits(
            args.cell_timeout,
            args.check_timeout,
            args.total_timeout,
            memory_mb=args.memory_mb,
            isolate=not args.no_sandbox,
        )
        rows = grade_batch(args.submissions, reference, args.out, limits, args.jobs, args.regrade)
    except (OSError, ValueError, RuntimeError, zipfile.BadZipFile) as err:
        parser.error(sanitize(err, 500))
    full = sum(r["total"] == r["max_total"] for r in rows)
    print(f"{len(rows)} submissions ({full} with full marks); gradebook: {args.out / 'gradebook.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
