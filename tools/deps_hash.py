"""Print what `make setup` installs from: pyproject.toml's dependency lists and constraints.txt, one line each.

The Makefile writes this to ``.venv/.deps`` only when it changed, and reinstalls the venv only then: editing
pyproject.toml's ruff or pytest settings reinstalls nothing.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def dependency_lists(root: Path = ROOT) -> dict:
    """The parts of pyproject.toml that decide what gets installed, and the pinned versions."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject.get("project", {})
    return {
        "build-system": pyproject.get("build-system", {}),
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "constraints.txt": (root / "constraints.txt").read_text(encoding="utf-8"),
    }


def digest(root: Path = ROOT) -> str:
    text = json.dumps(dependency_lists(root), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    print(f"sha256 of pyproject.toml's dependency lists and constraints.txt: {digest(root)}")
