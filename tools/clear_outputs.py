"""Clear every code cell's outputs and execution count in the given notebooks (default: notebooks/ and solutions/).

    make clear-outputs            # what the "has outputs" test asks for before a commit

Rewrites only notebooks that had outputs, keeping nbformat's layout (one-space indent, as committed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def clear(path: Path) -> bool:
    nb = nbformat.read(str(path), as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            cell.outputs, cell.execution_count, changed = [], None, True
    if changed:
        nbformat.write(nb, str(path))
    return changed


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted(
        [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("solutions/*.ipynb")]
    )
    cleared = [p for p in paths if clear(p)]
    print(f"cleared outputs of {len(cleared)} notebook(s)" + "".join(f"\n  {p}" for p in cleared))
