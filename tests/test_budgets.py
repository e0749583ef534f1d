"""Notebook budgets are enforced on the kernel's CPU time, which other processes on the machine cannot inflate.

Each test runs pytest + nbval in a subprocess on a tiny generated notebook, with the repository's conftest.py
loaded as a plugin (``-p conftest``), and reads the ``times.json`` that the conftest writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "burn.ipynb"

BURN = """import time
t0 = time.process_time()
while time.process_time() - t0 < {seconds}:
    pass  # pure-Python CPU work, no torch: the kernel's CPU time is start-up + {seconds} s
"""


@dataclass
class Run:
    rc: int
    output: str
    row: dict | None  # this notebook's row in times.json


def write_notebook(folder: Path, budget_s: float, burn_s: float, done_file: Path | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pytest.ini").write_text("[pytest]\n")  # rootdir = folder, whatever lies above it
    nb = nbformat.v4.new_notebook()
    nb.metadata["minitorch_xf"] = {"budget_s": budget_s}
    cells = [BURN.format(seconds=burn_s)]
    if done_file is not None:
        cells.append(f"open({str(done_file)!r}, 'w').close()  # tells the test that the work is done")
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, folder / NOTEBOOK)


def start_pytest(folder: Path, profile: str, cpu: int | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "XF_RECORD_DIR": str(folder / "records"),
        "XF_PROFILE": profile,
        "XF_DEVICE": "cpu",
    }
    cmd = [sys.executable, "-m", "pytest", "-p", "conftest", NOTEBOOK, "--nbval-lax", "--nbval-current-env"]
    cmd += ["-p", "no:cacheprovider", "-q"]
    pin = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))  # the kernel inherits the affinity
    return subprocess.Popen(
        cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=pin
    )


def finish(proc: subprocess.Popen, folder: Path) -> Run:
    output, _ = proc.communicate(timeout=300)
    times = folder / "records" / "times.json"
    row = json.loads(times.read_text())["notebooks"].get(NOTEBOOK) if times.exists() else None
    return Run(proc.returncode, output, row)


def run_pinned(folder: Path, cpu: int, busy_loops: int, budget_s: float, burn_s: float) -> Run:
    """Run the notebook on core ``cpu`` while ``busy_loops`` pure-Python loops compete for that same core."""
    done = folder / "done"
    write_notebook(folder, budget_s, burn_s, done_file=done)
    # Each loop gets its own session: with the kernel scheduler's autogroups, loops that shared one session would
    # share one slice of the core, and the competition would depend on how the loops were started.
    loops = [
        subprocess.Popen(
            [sys.executable, "-c", "while True: pass"],
            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
            start_new_session=True,
        )
        for _ in range(busy_loops)
    ]
    try:
        proc = start_pytest(folder, "ci", cpu=cpu)
        deadline = time.monotonic() + 300
        while not done.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:  # the notebook's work is over: stop competing, so the session's own wrap-up is not slowed
        for loop in loops:
            loop.kill()
            loop.wait()
    return finish(proc, folder)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="pinning to one core needs os.sched_setaffinity")
def test_cpu_figure_holds_while_busy_loops_inflate_the_wall_figure(tmp_path):
    budget_s = 4.0
    cpu = min(os.sched_getaffinity(0))
    alone = run_pinned(tmp_path / "alone", cpu, busy_loops=0, budget_s=budget_s, burn_s=1.2)
    loaded = run_pinned(tmp_path / "loaded", cpu, busy_loops=3, budget_s=budget_s, burn_s=1.2)
    figures = f"alone {alone.row}, with 3 busy loops on the same core {loaded.row}"
    print(figures)
    assert alone.rc == 0, alone.output
    assert loaded.rc == 0, f"a busy machine failed the session although the CPU figure is in budget: {loaded.output}"
    a, b = alone.row, loaded.row
    assert b["wall_s"] >= 1.6 * a["wall_s"], f"the busy loops did not slow the notebook down: {figures}"
    assert b["wall_s"] > budget_s, f"the loaded wall time should exceed the {budget_s} s budget: {figures}"
    assert max(a["cpu_s"], b["cpu_s"]) <= budget_s, figures
    assert abs(b["cpu_s"] - a["cpu_s"]) <= 0.2 * a["cpu_s"], f"the CPU figure moved with the load: {figures}"
    assert "OVER BUDGET" not in loaded.output


@pytest.mark.parametrize("profile", ["ci", "full"])
def test_notebook_over_its_cpu_budget_fails_under_ci_only(tmp_path, profile):
    """0.8 s of CPU against a 0.3 s budget: the ``ci`` session fails; ``full`` records the time and passes."""
    records = tmp_path / "records"
    records.mkdir()
    other = {"other.ipynb": {"cpu_s": 1.0, "wall_s": 1.0, "budget_s": 60, "profile": "ci", "threads": 1}}
    (records / "times.json").write_text(json.dumps({"notebooks": other}))
    write_notebook(tmp_path, budget_s=0.3, burn_s=0.8)
    run = finish(start_pytest(tmp_path, profile), tmp_path)
    assert run.row is not None and run.row["cpu_s"] > 0.8, run.output
    assert run.row["profile"] == profile and run.row["budget_s"] == 0.3
    kept = json.loads((records / "times.json").read_text())["notebooks"]
    assert kept["other.ipynb"] == other["other.ipynb"], "a partial run must keep the other notebooks' rows"
    if profile == "ci":
        assert run.rc == pytest.ExitCode.TESTS_FAILED, run.output
        assert "OVER BUDGET: burn.ipynb" in run.output, run.output
    else:
        assert run.rc == 0, run.output
        assert "OVER BUDGET" not in run.output and "not enforced under profile full" in run.output
