"""Project-wide pytest set-up: hypothesis profiles, the record folder, and the per-notebook CPU budget.

Every notebook declares its CPU budget for the ``ci`` profile in its metadata (``minitorch_xf.budget_s``, default
60 s). nbval runs a notebook in one kernel, one test item per code cell. After each cell we sample the CPU time of
the kernel process (user + system, its child processes included, start-up included); the last sample before the
kernel shuts down is what the notebook cost. Wall time (the items' summed durations) is reported beside it but not
enforced: on a busy machine wall time grows with everyone else's work, CPU time does not.

At the end of the session both figures are merged, per notebook, into ``$XF_RECORD_DIR/times.json`` (the book's
execution-times page reads it). Under the ``ci`` profile a notebook over its budget fails the session; under
``long`` the budget is 30 minutes of CPU (``runtime.LONG_BUDGET_S``) for every notebook; under ``full``
(``make reproduce`` on a GPU) the times are recorded and no budget is enforced.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

try:
    from hypothesis import settings

    settings.register_profile("default", deadline=None, max_examples=25)
    settings.register_profile("ci", deadline=None, max_examples=25, derandomize=True)
    settings.load_profile("ci" if os.environ.get("CI") else "default")
except ImportError:  # hypothesis is a test extra; notebooks do not need it
    pass

ROOT = Path(__file__).resolve().parent
# The CPU budget, defined once (CONTRIBUTING.md's "The CPU budget" and tools/notebook_template.py read these):
# what counts is the kernel's CPU time (user + system, its children and its start-up included) under the ci profile;
# a notebook declares its own target as metadata minitorch_xf.budget_s (default below), never above the hard limit.
DEFAULT_BUDGET_S = 60
HARD_LIMIT_S = 60
# Set before nbval starts any kernel, so that every kernel (and the notebooks' PaperTable) inherits it.
os.environ.setdefault("XF_RECORD_DIR", str(ROOT / "_build" / "records"))


@dataclass
class NotebookTime:
    """What one notebook cost: its budget, summed item durations, and the last CPU sample of each kernel it used."""

    budget_s: float | None = None
    wall_s: float = 0.0
    cpu_by_pid: dict[int, float] = field(default_factory=dict)  # nbval may restart a kernel: one entry per process

    @property
    def cpu_s(self) -> float | None:
        return sum(self.cpu_by_pid.values()) if self.cpu_by_pid else None


_notebooks: dict[str, NotebookTime] = {}


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` and its children (live ones and those it has reaped)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:  # a child that exited between listing and sampling
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _kernel_pid(item: pytest.Item) -> int | None:
    """The pid of the kernel nbval started for this cell's notebook (None when it is not running)."""
    kernel = getattr(item.parent, "kernel", None)
    km = getattr(kernel, "km", None)
    return getattr(getattr(km, "provisioner", None), "pid", None)


def _entry(nodeid: str) -> NotebookTime | None:
    path = nodeid.split("::", 1)[0]
    return _notebooks.setdefault(path, NotebookTime()) if path.endswith(".ipynb") else None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Sample the kernel's CPU after each cell, before pytest tears down (and, after the last cell, stops) it."""
    entry = _entry(item.nodeid)
    pid = _kernel_pid(item)
    if entry is None or pid is None:
        return
    if entry.budget_s is None:
        meta = getattr(item.parent, "nb", {}).get("metadata", {})
        entry.budget_s = meta.get("minitorch_xf", {}).get("budget_s", DEFAULT_BUDGET_S)
    seconds = process_cpu_seconds(pid)
    if seconds is not None:
        entry.cpu_by_pid[pid] = seconds


def figure_alt_problem(alt: str | None) -> str | None:
    """What is wrong with a figure, read from the alt text ``minitorch_xf.plot`` attaches to it (``runtime.setup``
    turns it on; the book shows it as the image's alt attribute), or None. One rule for nbval (here) and for the
    browser test: text that does not start with ``Figure`` did not go through the book's style, and
    ``plot.describe_figure`` writes ``unlabelled`` for an axis or colour bar without its label."""
    if not alt or not alt.startswith("Figure"):
        return f"a figure without the book's alt text naming its axes (runtime.setup() or plot.use_style()): {alt!r}"
    if "unlabelled" in alt:
        return f"a figure with an unlabelled axis (set_xlabel / set_ylabel on every panel): {alt}"
    return None


def unlabelled_figures(outputs: list) -> list[str]:
    """The problems (:func:`figure_alt_problem`) of the figures among a cell's outputs."""
    problems = []
    for out in outputs:
        if out.get("output_type") not in ("display_data", "execute_result") or "image/png" not in out.get("data", {}):
            continue
        problem = figure_alt_problem((out.get("metadata") or {}).get("image/png", {}).get("alt"))
        if problem:
            problems.append(problem)
    return problems


# The nodeids of each notebook's last cell in this session: the cell whose report carries the budget verdict.
_last_cells: set[str] = set()


def pytest_collection_finish(session: pytest.Session) -> None:
    last = {}
    for item in session.items:
        if item.nodeid.split("::", 1)[0].endswith(".ipynb"):
            last[item.nodeid.split("::", 1)[0]] = item.nodeid
    _last_cells.clear()
    _last_cells.update(last.values())


def over_budget(item: pytest.Item) -> str | None:
    """Under the ``ci`` profile, after a notebook's last cell: why the notebook is over its CPU budget, or None."""
    entry = _entry(item.nodeid)
    pid = _kernel_pid(item)
    if entry is None or pid is None or item.nodeid not in _last_cells:
        return None
    from minitorch_xf import runtime

    if runtime.get_profile() != "ci":
        return None
    meta = getattr(item.parent, "nb", {}).get("metadata", {})
    budget = meta.get("minitorch_xf", {}).get("budget_s", DEFAULT_BUDGET_S)
    seconds = process_cpu_seconds(pid)
    others = sum(cpu for p, cpu in entry.cpu_by_pid.items() if p != pid)
    cpu = None if seconds is None else seconds + others
    if cpu is None or cpu <= budget:
        return None
    path = item.nodeid.split("::", 1)[0]
    return (
        f"{path} is over its CPU budget: {cpu:.1f} s of kernel CPU (user+system, start-up included) > budget_s = "
        f"{budget} s (profile ci).\n  Fix: shrink the ci sizes (rt.pick(ci=...), rt.steps(ci=...)) or, if the "
        f"claim needs it, raise minitorch_xf.budget_s in the notebook's metadata (at most {HARD_LIMIT_S} s; see "
        f"CONTRIBUTING.md, 'The CPU budget')."
    )


_SESSION_START = datetime.now(UTC).timestamp()


def placeholder_rows(item: pytest.Item) -> str | None:
    """After a notebook's last cell: the paper-vs-book rows it recorded in this session that still hold the
    template's placeholder (tools/notebook_template.py), or None."""
    if item.nodeid not in _last_cells:
        return None
    path = item.nodeid.split("::", 1)[0]
    folder = os.environ.get("XF_RECORD_DIR")
    record = Path(folder) / "reproductions" / f"{Path(path).stem}.json" if folder else None
    if record is None or not record.exists() or record.stat().st_mtime < _SESSION_START:
        return None
    import sys

    sys.path.insert(0, str(ROOT))
    from tools.notebook_template import placeholder_cells

    rows = json.loads(record.read_text(encoding="utf-8")).get("rows", [])
    bad = [f"row {i} ({', '.join(placeholder_cells(r))}): {r.get('claim')!r}" for i, r in enumerate(rows)]
    bad = [b for b, r in zip(bad, rows, strict=True) if placeholder_cells(r)]
    if not bad:
        return None
    return (
        f"{path} recorded paper-vs-book rows that are still the template's placeholder: {'; '.join(bad)}.\n  Fix: "
        "in its table.add(claim, paper, ours, status=...) write the claim, the paper's value (with its table, "
        "figure or theorem) and what the notebook measured."
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A notebook cell that draws a figure with an unlabelled axis fails, naming the figure; a notebook over its
    CPU budget fails on its last cell, naming the notebook, the figures and the fix."""
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or not report.passed:
        return
    outputs = getattr(item, "test_outputs", None)
    problems = unlabelled_figures(outputs) if outputs else []
    problems += [p for p in (over_budget(item), placeholder_rows(item)) if p]
    if problems:
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid}:\n  " + "\n  ".join(problems)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _entry(report.nodeid)
    if entry is not None:
        entry.wall_s += report.duration  # setup (kernel start), call and teardown of every cell


def write_times(folder: Path, rows: dict[str, dict], profile: str, device: str) -> Path:
    """Merge ``rows`` into ``folder/times.json``: notebooks not in this run keep their rows."""
    out = folder / "times.json"
    try:
        notebooks = json.loads(out.read_text(encoding="utf-8")).get("notebooks", {})
    except (OSError, ValueError):
        notebooks = {}
    notebooks.update(rows)
    data = {
        "profile": profile,
        "device": device,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "notebooks": dict(sorted(notebooks.items())),
    }
    folder.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out)  # a run killed mid-write leaves the old file whole
    return out


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


# Under pytest-xdist (`make test` runs `-n 2 --dist loadfile`: each notebook's cells stay together, in order, in one
# worker) the kernels' CPU samples live in the workers. Each worker hands its samples to the controller, which
# merges them and prints (and, with XF_RECORD_DIR, writes) the one table below; the controller's own entries carry
# only the wall time it summed from the reports.
_WORKER_KEY = "xf_notebook_cpu"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    for path, row in getattr(node, "workeroutput", {}).get(_WORKER_KEY, {}).items():
        entry = _notebooks.setdefault(path, NotebookTime())
        entry.budget_s = row["budget_s"] if row["budget_s"] is not None else entry.budget_s
        entry.cpu_by_pid.update({int(pid): cpu for pid, cpu in row["cpu_by_pid"].items()})


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _is_xdist_worker(session.config):
        session.config.workeroutput[_WORKER_KEY] = {
            path: {"budget_s": t.budget_s, "cpu_by_pid": {str(pid): cpu for pid, cpu in t.cpu_by_pid.items()}}
            for path, t in _notebooks.items()
        }
        return
    if not _notebooks:
        return
    from minitorch_xf import runtime

    profile = runtime.get_profile()
    device = runtime.choose_device().type
    threads = runtime.cpu_threads(profile)
    enforce = profile in ("ci", "long")
    rows, lines, over = {}, [], []
    for path, t in sorted(_notebooks.items()):
        budget = DEFAULT_BUDGET_S if t.budget_s is None else t.budget_s
        if profile != "ci":  # the notebook declares its ci budget; long has one for all, full none
            budget = runtime.LONG_BUDGET_S if profile == "long" else None
        cpu = t.cpu_s
        cpu_text = "   n/a" if cpu is None else f"{cpu:6.1f}"
        budget_text = "   –" if budget is None else f"{budget:>4}"
        lines.append(f"  cpu {cpu_text} s  wall {t.wall_s:6.1f} s  budget {budget_text} s  {path}")
        if enforce and cpu is not None and cpu > budget:
            over.append(f"{path}: {cpu:.1f} s of CPU > budget {budget} s")
        rows[path] = {
            "cpu_s": None if cpu is None else round(cpu, 2),
            "wall_s": round(t.wall_s, 2),
            "budget_s": budget,
            "profile": profile,
            "threads": threads,
        }
    folder = runtime.record_dir()  # None when XF_RECORD_DIR is empty: nothing recorded
    out = write_times(folder, rows, profile, device) if folder is not None else None
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        enforced = "enforced on CPU" if enforce else f"not enforced under profile {profile}"
        reporter.write_sep("=", f"notebook times: kernel CPU (user+system) and wall; budgets {enforced}")
        for line in lines:
            reporter.write_line(line)
        reporter.write_line(f"  written to {out}" if out else "  not written: XF_RECORD_DIR is empty")
        for problem in over:
            reporter.write_line(f"OVER BUDGET: {problem}", red=True)
    if over and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# nbval waits only 5 s for a cell's output messages once the kernel has replied; on a loaded machine (or a slow
# laptop) the output can lag that long and a healthy notebook fails with "Timeout ... waiting for output".
NBVAL_OUTPUT_TIMEOUT_S = 60
# nbval gives a starting kernel 60 s to answer kernel_info; on CI's two cores, beside the other seed's kernel training
# at full speed, one kernel missed that (all its cells errored before the first ran). A slow start is not a failure
# of the notebook: wait longer, unless the command line says otherwise.
NBVAL_KERNEL_STARTUP_TIMEOUT_S = 300.0


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "nbval_kernel_startup_timeout", None) == 60:  # nbval's default: not set by the user
        config.option.nbval_kernel_startup_timeout = NBVAL_KERNEL_STARTUP_TIMEOUT_S
    # Registered here, not in pyproject.toml: a new chapter's tests can say `pytest.mark.chNN` with no edit anywhere.
    for n in range(1, 100):
        config.addinivalue_line("markers", f"ch{n:02d}: chapter {n} (its unit tests; `make test-chapter NN={n:02d}`)")
    config.addinivalue_line(
        "markers",
        "checks(*labels): the labelled results of the book (prf labels, e.g. 'lem-layernorm-backward') that this "
        "test checks numerically; the book shows the test under each result's box",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give nbval cells a longer output timeout; tests marked ``gpu`` need CUDA: skip them, with the reason,
    on machines without it."""
    for item in items:
        if hasattr(item, "output_timeout"):  # nbval's IPyNbCell
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT_S
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    import torch  # only when needed: a run of notebooks alone does not pay the import here

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (marked gpu)")
    for item in gpu_items:
        item.add_marker(skip)
