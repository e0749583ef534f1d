"""Scoring one submission: run its cells in a sandbox, then the reference's checks in this process.

:class:`Grader` holds one reference and one :class:`~.zygote.Zygote`. For a submission it runs the notebook's code
cells in a fresh sandbox (graded check cells skipped; a cell that hangs or kills its process is skipped and the
sandbox restarted with the others), then, for each exercise of the reference, looks up the learner's functions and
calls the reference's check function here, on fresh random cases: the learner's function is called over the wire,
the value it returns compared here. Every exercise scores its points or zero, with the check's message.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from ._core import CheckFailed
from .boundary import Cell, Sandbox, SandboxSetupError, display_name, printable, read_cells
from .collect import Submission
from .reference import ROOT, Exercise, Reference
from .wire import RemoteError, SandboxLost, sanitize
from .zygote import Limits, Zygote

__all__ = ["ExerciseResult", "Grader", "Result", "grade_one", "grader_error"]

MAX_RESTARTS = 4


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
    submission: str  # the name shown in the gradebook
    path: str | None  # the file graded (display form: valid text)
    total: float
    max_total: float
    exercises: list[ExerciseResult]
    cell_errors: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    fingerprint: str = ""
    notes: list[str] = field(default_factory=list)  # about the submission itself (its name), not its code


def _check_functions(reference: Reference) -> dict[tuple[str, str], object]:
    out = {}
    for ex in reference.exercises:
        for call in ex.calls:
            out[(call.module, call.function)] = getattr(importlib.import_module(call.module), call.function)
    return out


class Grader:
    """Grades submissions one at a time against one reference, through a zygote of sandboxes."""

    def __init__(self, reference: Reference, limits: Limits, hide: list[str] = (), workroot: str | None = None):
        """``hide``: paths beyond the reference and the solutions that the sandboxes must not see (the submissions,
        the gradebook); ``workroot``: where working folders go without isolation."""
        self.reference, self.limits = reference, limits
        self.checks = _check_functions(reference)
        hidden = [str(reference.path), str(ROOT / "solutions"), *hide]
        self.zygote = Zygote(limits, hidden, workroot)

    def close(self) -> None:
        self.zygote.close()

    def grade(self, sub: Submission) -> Result:
        """Grade one submission; whatever it holds or its sandbox sends, a :class:`Result` with a reason comes back
        (only :class:`~.boundary.SandboxSetupError`, the grader's own failure, propagates)."""
        start = time.monotonic()
        try:
            result = self._grade(sub)
        except SandboxSetupError:
            raise
        except Exception as err:  # a bug of the grader met by this submission: its row says so, the run goes on
            why = f"the grader failed on this submission ({type(err).__name__}: {printable(err, 300)})"
            result = grader_error(sub, self.reference, why)
        result.seconds = time.monotonic() - start
        return result

    def _grade(self, sub: Submission) -> Result:
        ref = self.reference
        if self.zygote.proc.poll() is not None:  # it died (killed from outside, out of memory): start another
            self.zygote.close()
            workroot = None if self.zygote.own_workroot else self.zygote.workroot
            self.zygote = Zygote(self.limits, self.zygote.hide, workroot)
        if sub.path is None:
            return grader_error(sub, ref, sub.problem)
        try:
            cells = read_cells(sub.path, ref.check_sources)
        except (OSError, ValueError) as err:
            return grader_error(sub, ref, printable(err, 500))
        run = _Run(self, cells)
        results = []
        try:
            for ex in ref.exercises:
                results.append(run.grade_exercise(ex))
        finally:
            run.close()
        total = sum(r.points for r in results)
        shown = display_name(sub.path)[0]
        return Result(sub.name, shown, total, ref.max_total, results, run.cell_report(), run.error, notes=sub.notes)


class _Run:
    """One submission's sandbox, restarted without the offending cell when a cell hangs or kills it."""

    def __init__(self, grader: Grader, cells: list[Cell]):
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
        for i, cell in enumerate(self.cells):
            if i in self.skip:
                continue
            if cell.source is None:
                self.cell_errors[i] = cell.problem
                continue
            if self._out_of_time():
                self.cell_errors.setdefault(i, "not run: " + self.error)
                continue
            try:
                err = self.sandbox.run_cell(cell.source)
            except RemoteError as remote:
                err = f"{type(remote).__name__}: {sanitize(remote, 2000)}"
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
            except NotImplementedError as err:  # the lookup handler never raises it: a stray answer
                res.message = f"looking up your function failed ({sanitize(err, 300)})"
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
        line = (self.cell_errors[first].splitlines() or [""])[0][:200]
        return f" (a cell of your notebook failed: code cell {first + 1}: {line})"

    def _restart(self) -> None:
        if self.sandbox is not None:
            self.sandbox.kill()
        self.sandbox = None
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


def grader_error(sub: Submission, ref: Reference, why: str) -> Result:
    zeros = [ExerciseResult(e.grade_id, 0.0, e.points, False, f"not graded: {why}") for e in ref.exercises]
    path = display_name(sub.path)[0] if sub.path else None
    return Result(sub.name, path, 0.0, ref.max_total, zeros, error=why, notes=list(sub.notes))


def grade_one(notebook: str | Path, reference: str | Path, limits: Limits | None = None) -> Result:
    """Grade a single notebook in this process (tests, quick checks): same sandbox, no gradebook."""
    limits = limits or Limits()
    ref = Reference(reference)
    grader = Grader(ref, limits, [str(Path(notebook).resolve().parent)])
    try:
        return grader.grade(Submission(display_name(Path(notebook).name)[0], str(notebook)))
    finally:
        grader.close()
