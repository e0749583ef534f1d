"""Project-wide pytest set-up: hypothesis profiles and the per-notebook time budget.

Every notebook declares its CPU budget in its metadata (``minitorch_xf.budget_s``, default 60 s). nbval runs a
notebook as one test item per code cell; here we add up the items' durations per notebook, write them to
``_build/notebook_times.json`` and fail the session if a notebook ran over its budget.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

try:
    from hypothesis import settings

    settings.register_profile("default", deadline=None, max_examples=25)
    settings.register_profile("ci", deadline=None, max_examples=25, derandomize=True)
    settings.load_profile("ci" if os.environ.get("CI") else "default")
except ImportError:  # hypothesis is a test extra; notebooks do not need it
    pass

ROOT = Path(__file__).resolve().parent
DEFAULT_BUDGET_S = 60.0
_times: dict[str, float] = defaultdict(float)


def notebook_budget(path: Path) -> float:
    meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    return float(meta.get("minitorch_xf", {}).get("budget_s", DEFAULT_BUDGET_S))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _times[path] += report.duration


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _times:
        return
    over = []
    lines = []
    for path, seconds in sorted(_times.items()):
        budget = notebook_budget(ROOT / path)
        lines.append(f"  {seconds:6.1f} s / {budget:4.0f} s  {path}")
        if seconds > budget:
            over.append(f"{path}: {seconds:.1f} s > budget {budget:.0f} s")
    out = ROOT / "_build" / "notebook_times.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({p: round(s, 2) for p, s in sorted(_times.items())}, indent=1) + "\n")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "notebook times (nbval, all cells)")
        for line in lines:
            reporter.write_line(line)
        for problem in over:
            reporter.write_line(f"OVER BUDGET: {problem}", red=True)
    if over and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` need CUDA: skip them, with the reason, on machines without it."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (marked gpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
