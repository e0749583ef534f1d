"""Batch autograder: the instructor's reference decides what is graded; the verdict is computed outside the sandbox.

How one submission is graded:

1. **The reference** (:mod:`.reference`; the instructor's notebook, e.g. ``solutions/ch01-transformer.ipynb``)
   lists the exercises, their points and the check calls that grade them. Every row has the reference's maximum.
2. **The submission's code cells run in a sandbox** (:mod:`.zygote` starts it, :mod:`.sandbox` builds it): a forked
   process in its own namespaces and a minimal root, as user ``nobody``, with CPU, memory and output limits, from
   source. Graded check cells are skipped; a cell that errs, hangs or kills its process costs only itself.
3. **The checks run in the grader's own process** (:mod:`.scoring`) on fresh random cases: each call of the
   learner's function goes over a socket to the sandbox (:mod:`.wire`, no pickle), and the value it returns is
   compared with the reference implementation here. Everything that crosses from the submission, its file name,
   its notebook and its sandbox's answers, is read in one place, :mod:`.boundary`.

Submissions are collected by :mod:`.collect` (a folder, a ``.zip``, a GitHub Classroom export), graded in parallel
by :mod:`.batch`, and written by :mod:`.gradebook`: each result as it finishes (``OUT/results/``, what a second run
resumes from), then ``OUT/gradebook.csv``, ``gradebook.json`` and ``feedback/`` published together once the batch
is complete. ``--regrade`` grades again what is already graded.

Usage::

    python -m minitorch_xf.checks.grade SUBMISSIONS --chapter ch01 --out grades/
    python -m minitorch_xf.checks.grade SUBMISSIONS.zip --reference solutions/ch01-transformer.ipynb
"""

from __future__ import annotations

import argparse
import signal
import sys
import zipfile
from pathlib import Path

from .batch import GRADER_VERSION, grade_batch
from .boundary import printable
from .collect import Submission, discover, extract_zip
from .gradebook import feedback_markdown, publish, slug
from .reference import Exercise, Reference, find_reference, graded_cells
from .sandbox import can_isolate, isolation_problem
from .scoring import ExerciseResult, Grader, Result, grade_one
from .zygote import Limits

__all__ = [
    "GRADER_VERSION",
    "Exercise",
    "ExerciseResult",
    "Grader",
    "Limits",
    "Reference",
    "Result",
    "Submission",
    "discover",
    "extract_zip",
    "feedback_markdown",
    "find_reference",
    "grade_batch",
    "grade_one",
    "graded_cells",
    "main",
    "publish",
    "slug",
]


def _end(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: workers killed, private folder removed


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
    if __name__ == "__main__":  # the command line, not a caller's process: end cleanly on SIGTERM and SIGHUP
        signal.signal(signal.SIGTERM, _end)
        signal.signal(signal.SIGHUP, _end)
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
        parser.error(printable(err, 500))
    full = sum(r["total"] == r["max_total"] for r in rows)
    flagged = sum(bool(r.get("notes")) for r in rows)
    print(
        f"{len(rows)} submissions ({full} with full marks, {flagged} with notes); "
        f"gradebook: {printable(args.out / 'gradebook.csv', 300)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
