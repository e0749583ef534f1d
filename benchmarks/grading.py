"""Time the grader on a class of chapter 1 submissions (the course kit's performance target: 30 in <= 60 s).

Builds N submissions from the one source (a third solved, a third stubs, a third with one broken function),
grades them with the OS sandbox (root) in ``--jobs`` parallel sandboxes, and prints wall and CPU seconds.
Usage: ``python benchmarks/grading.py [--n 30] [--jobs 2]`` (needs root for the sandbox; ``--no-sandbox`` otherwise).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "grading"))

from corpus import FLOAT_MASK, NAN_LAYER_NORM, REFERENCE, set_answer, solution, stub  # noqa: E402

from minitorch_xf.checks.grade import Limits, grade_batch  # noqa: E402
from minitorch_xf.checks.sandbox import can_isolate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-sandbox", action="store_true")
    args = parser.parse_args()
    broken = [
        lambda: set_answer(solution(), "layer_norm", NAN_LAYER_NORM),
        lambda: set_answer(solution(), "causal_mask", FLOAT_MASK),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        subs, out = Path(tmp) / "subs", Path(tmp) / "out"
        subs.mkdir()
        for i in range(args.n):
            kind = i % 3
            nb = solution() if kind == 0 else stub() if kind == 1 else broken[i % 2]()
            (subs / f"student-{i:03d}.ipynb").write_text(json.dumps(nb))
        limits = Limits(isolate=can_isolate() and not args.no_sandbox)
        start = time.monotonic()
        rows = grade_batch(subs, REFERENCE, out, limits, jobs=args.jobs, log=lambda *_: None)
        wall = time.monotonic() - start
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    cpu = child.ru_utime + child.ru_stime + me.ru_utime + me.ru_stime
    totals = sorted({r["total"] for r in rows})
    print(
        f"graded {len(rows)} submissions in {wall:.1f} s wall, {cpu:.1f} s CPU (grader, workers and zygotes; the "
        f"sandboxes are reaped by the kernel and not counted), jobs={args.jobs}, "
        f"sandbox={'on' if limits.isolate else 'off'}; distinct totals {totals}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
