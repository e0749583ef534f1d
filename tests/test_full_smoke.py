"""Every notebook's paper-sized ``full`` configuration runs (chapter 13 aside, see SKIP): its sizes and shapes, for a
step or two, on a CPU.

Nobody runs the ``full`` profile in CI (it is sized for a GPU), so a GPU user would be the first to find that it
crashes: a shape that only ``full`` builds, a setting only ``full`` reads, a branch on ``rt.profile == "full"``. This
test runs each notebook top to bottom under nbval with ``XF_PROFILE=full`` and ``XF_SMOKE=1`` (every step count a
notebook reads through ``rt.steps`` is cut to ``runtime.SMOKE_STEPS``, every evaluation size read through ``rt.evals``
to ``SMOKE_EVALS`` and every training batch read through ``rt.batch`` to ``SMOKE_BATCH``; the other sizes stay
paper-sized), on the CPU. Its claims cannot hold after two
steps, so the kernel runs with ``PYTHONOPTIMIZE=1``, which drops ``assert`` statements: what this test catches is a
crash (an exception other than a failed check), which is what a broken configuration raises. The records it writes go
to a temporary folder and the test checks that they parse and say ``full``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from test_seeds import _finish, kernel_never_started, nbval_command

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
# Chapter 13's full profile differs from ci in sizes alone (the same kernels at (1024, 4096) and sequence length 1024
# instead of (16, 100) and 48); on a CPU the Triton interpreter runs those sizes for many minutes, and the kernels'
# GPU path is what `pytest -m gpu` checks on a GPU machine.
SKIP = {"ch13-triton"}
EXPERIMENTS = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if p.stem not in SKIP)


def _start(notebook: Path, tmp_path: Path, attempt: int = 1):
    folder = tmp_path / notebook.stem
    folder.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "XF_PROFILE": "full",
        "XF_SMOKE": "1",
        "XF_DEVICE": "cpu",
        "XF_THREADS": "1",
        "PYTHONOPTIMIZE": "1",
        "XF_RECORD_DIR": str(folder / "records"),
        "IPYTHONDIR": str(folder / "ipython"),
    }
    log = (folder / f"log-{attempt}.txt").open("w+")
    return subprocess.Popen(nbval_command(notebook), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log


def _failure(notebook: Path, proc, log, tmp_path: Path) -> str | None:
    returncode, text = _finish(proc, log)  # waits at most 900 s, as the seed runs do
    if returncode != 0 and kernel_never_started(text):  # no cell ran: says nothing about the notebook (see test_seeds)
        print(f"{notebook.name}: the kernel did not start; starting it once more")
        returncode, text = _finish(*_start(notebook, tmp_path, attempt=2))
    if returncode != 0:
        return f"{notebook.name} crashes in its full configuration (exit {returncode}):\n{text[-4000:]}"
    record = tmp_path / notebook.stem / "records" / "reproductions" / f"{notebook.stem}.json"
    if record.exists() and json.loads(record.read_text())["profile"] != "full":  # a paper-vs-book table was written
        return f"{notebook.name}: its record does not say profile full"
    return None


def test_every_full_configuration_runs_for_a_step(tmp_path):
    """Two notebooks at a time (a kernel per core, as CI has two); every crash is reported, not only the first."""
    failures, running = [], []
    for notebook in EXPERIMENTS:
        running.append((notebook, *_start(notebook, tmp_path)))
        if len(running) == 2:
            failures.append(_failure(*running.pop(0), tmp_path))
    failures += [_failure(*run, tmp_path) for run in running]
    failures = [f for f in failures if f]
    assert not failures, "\n\n".join(failures)
