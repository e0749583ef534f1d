"""The nbgrader export works with real nbgrader: generate the student copy, autograde a solved and a stub notebook."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minitorch_xf.checks.nbgrader_export import export_course

pytestmark = [pytest.mark.slow, pytest.mark.exercises]


def _nbgrader(course: Path, *args: str) -> None:
    # nbgrader runs `alembic` for its database: the venv's bin must be on PATH, whatever the caller's PATH is
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def test_export_generate_and_autograde(tmp_path):
    pytest.importorskip("nbgrader")
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    (source,) = export_course(course, ["ch01"])
    _nbgrader(course, "generate_assignment", "ch01", "--force")
    release = course / "release" / "ch01" / source.name
    text = release.read_text(encoding="utf-8")
    assert "raise NotImplementedError()" in text and "### BEGIN SOLUTION" not in text
    for student, notebook in (("alice", source), ("bob", release)):
        folder = course / "submitted" / student / "ch01"
        folder.mkdir(parents=True)
        shutil.copy(notebook, folder / source.name)
    _nbgrader(course, "autograde", "ch01", "--force", "--create")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        alice, bob = gb.find_submission("ch01", "alice"), gb.find_submission("ch01", "bob")
        assert alice.max_score == bob.max_score == 10
        assert alice.score == 10, "the solved notebook lost points under nbgrader"
        assert bob.score == 0, "the student copy earned points under nbgrader"


def test_export_rejects_unknown_chapters(tmp_path):
    with pytest.raises(ValueError, match="no solutions notebook"):
        export_course(tmp_path, ["ch99"])
