"""What a submission can see from inside the sandbox: a minimal root, no repository, no history, no solutions.

One sandbox runs a probe cell that lists the root, runs ``git show`` on the checkout, and walks the whole file system
for notebooks; the tests read its findings. Needs the OS sandbox (Linux, root).
"""

from __future__ import annotations

import json
import time

import pytest
from corpus import REFERENCE, ROOT

from minitorch_xf.checks.sandbox import can_isolate
from minitorch_xf.checks.zygote import Limits, Zygote, paths_to_keep

pytestmark = [
    pytest.mark.slow,
    pytest.mark.exercises,
    pytest.mark.skipif(not can_isolate(), reason="needs the OS sandbox (Linux, root)"),
]

PROBE = f"""
import json, os, subprocess, sys
_root = {str(ROOT)!r}
_seen = {{"top": sorted(os.listdir("/")), "uid": os.getuid()}}
_seen["repo"] = sorted(os.listdir(_root)) if os.path.isdir(_root) else None
_seen["exists"] = {{p: os.path.exists(p) for p in (_root + "/.git", _root + "/solutions", {str(REFERENCE)!r})}}
try:
    _git = subprocess.run(["git", "show", "HEAD:solutions/" + {REFERENCE.name!r}], cwd=_root, capture_output=True)
    _seen["git"] = [_git.returncode, _git.stdout[:200].decode(errors="replace")]
except Exception as err:
    _seen["git"] = [-1, type(err).__name__]
_seen["notebooks"] = {{}}
for top, dirs, files in os.walk("/"):
    if top == "/proc":
        dirs[:] = []
        continue
    for f in files:
        if f.endswith(".ipynb"):
            try:
                _seen["notebooks"][os.path.join(top, f)] = open(os.path.join(top, f), errors="replace").read()
            except OSError as err:
                _seen["notebooks"][os.path.join(top, f)] = type(err).__name__
import minitorch_xf
_seen["package"] = minitorch_xf.__file__
def probe():
    return json.dumps(_seen)
"""


def _deadline_in(endpoint, seconds: float) -> None:
    """A guard against a hang, set on an endpoint: it is never a measured time that a test asserts on."""
    endpoint.deadline = time.monotonic() + seconds


def _solution_lines() -> list[str]:
    """Lines of the reference's answers (between the solution markers), long enough to be its own."""
    nb = json.loads(REFERENCE.read_text(encoding="utf-8"))
    lines, inside = [], False
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for line in src.splitlines():
            inside = (inside or "### BEGIN SOLUTION" in line) and "### END SOLUTION" not in line
            if inside and len(line.strip()) > 30 and "SOLUTION" not in line:
                lines.append(line.strip())
    assert len(lines) >= 5
    return lines


@pytest.fixture(scope="module")
def seen() -> dict:
    zygote = Zygote(Limits(cell_timeout=600))
    sandbox = zygote.spawn()
    try:
        assert sandbox.run_cell(PROBE) == ""
        probe = sandbox.lookup("probe")
        _deadline_in(sandbox.endpoint, 120)
        return json.loads(probe())
    finally:
        sandbox.kill()
        zygote.close()


def test_the_root_holds_only_the_interpreter_the_package_and_the_libraries(seen):
    keep, links = paths_to_keep()
    allowed = {"dev", "etc", "proc", "tmp", "xf-work"} | {p.split("/")[1] for p in keep}
    allowed |= {link.strip("/") for link, _ in links}
    assert set(seen["top"]) <= allowed, seen["top"]
    assert seen["uid"] == 65534
    assert seen["package"].startswith(str(ROOT / "minitorch_xf"))


def test_the_repository_its_history_and_the_solutions_are_not_there(seen):
    assert not any(seen["exists"].values()), seen["exists"]
    assert set(seen["repo"]) <= {"minitorch_xf", ".venv"}, seen["repo"]  # the package's folder, not the checkout
    code, out = seen["git"]
    assert code != 0 and "BEGIN SOLUTION" not in out, seen["git"]


def test_walking_the_whole_disk_finds_no_solution(seen):
    lines = _solution_lines()
    for path, text in seen["notebooks"].items():
        assert not path.startswith(str(ROOT / "solutions")), path
        leaked = [line for line in lines if line in text]
        assert not leaked, f"{path} holds the reference's answers: {leaked[:3]}"
