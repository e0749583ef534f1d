r"""Generate student copies of exercise notebooks from their single source in ``solutions/``.

In a solution notebook, code between nbgrader-style markers is the answer::

    def attention(q, k, v):
        ### BEGIN SOLUTION
        return ...
        ### END SOLUTION

The student copy keeps everything else and replaces each marked region by ``raise NotImplementedError()`` at
the marker's indentation; regions between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` are removed.
Markdown between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` becomes "YOUR ANSWER HERE".
A Colab badge that opens the solution notebook is pointed at the student copy's own path (a student who clicks it
must not get the answers). Outputs and execution counts are dropped. nbgrader's own ``generate_assignment``
understands the same markers.

Usage: ``python -m minitorch_xf.checks.assign solutions exercises`` (``--check`` only reports stale files).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

__all__ = ["generate", "make_stub_notebook", "rebadge", "stub_source"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
MD_SOLUTION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->", re.DOTALL)
COLAB_PREFIX = r"https://colab\.research\.google\.com/github/[^/\s()]+/[^/\s()]+/blob/[^/\s()]+/"
# What the student reads first; where the notebook comes from is for maintainers, in the cell's metadata.
BANNER = (
    "> **Your turn.** Replace each `raise NotImplementedError()` with your code, then run the check cell below it: "
    "it tells you what is wrong, or that the exercise passes."
)


def stub_source(source: str, where: str = "cell") -> str:
    """Replace solution regions of one code cell's source by ``raise NotImplementedError()``."""
    out, inside, hidden = [], False, False
    for lineno, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped == HIDDEN_BEGIN:
            hidden = True
        elif stripped == HIDDEN_END:
            hidden = False
        elif hidden:
            continue
        elif stripped == BEGIN:
            if inside:
                raise ValueError(f"{where}, line {lineno}: nested '{BEGIN}'")
            inside = True
            out.append(line[: len(line) - len(line.lstrip())] + "raise NotImplementedError()")
        elif stripped == END:
            if not inside:
                raise ValueError(f"{where}, line {lineno}: '{END}' without '{BEGIN}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside or hidden:
        raise ValueError(f"{where}: a '{BEGIN if inside else HIDDEN_BEGIN}' marker is never closed")
    return "\n".join(out)


def rebadge(source: str, src_name: str, dst_name: str) -> str:
    """Point every Colab link to ``src_name`` (a path from the repository root) at ``dst_name`` instead."""
    pattern = re.compile(f"({COLAB_PREFIX}){re.escape(src_name)}(?![\\w./-])")
    return pattern.sub(lambda m: m.group(1) + dst_name, source)


def make_stub_notebook(nb: dict, src_name: str, dst_name: str | None = None) -> dict:
    """The student copy of a solution notebook (a JSON dict in nbformat 4).

    ``src_name`` and ``dst_name`` are the two notebooks' paths from the repository root
    (``solutions/ch01-transformer.ipynb``, ``exercises/ch01-transformer.ipynb``); with ``dst_name``, Colab badges
    that open ``src_name`` open ``dst_name`` instead.
    """
    nb = json.loads(json.dumps(nb))  # deep copy
    n_regions = 0
    for i, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code":
            n_regions += source.count(BEGIN)
            cell["source"] = stub_source(source, where=f"{src_name} cell {i}")
            cell["outputs"], cell["execution_count"] = [], None
        elif cell["cell_type"] == "markdown":
            cell["source"] = MD_SOLUTION.sub("YOUR ANSWER HERE", source)
            if dst_name is not None:
                cell["source"] = rebadge(cell["source"], src_name, dst_name)
        cell.get("metadata", {}).pop("execution", None)
        cell.pop("id", None)
    if n_regions == 0:
        raise ValueError(f"{src_name} has no '{BEGIN}' region: it is not an exercise notebook")
    banner = {
        "cell_type": "markdown",
        "metadata": {
            "tags": ["generated-banner"],
            "generated_from": f"{src_name} (make exercises; do not edit by hand)",
        },
        "source": BANNER,
    }
    nb["cells"].insert(1, banner)
    nb["nbformat"], nb["nbformat_minor"] = 4, 4  # no cell ids: stable output
    return nb


def _dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def generate(src_dir: Path, dst_dir: Path, check: bool = False) -> list[Path]:
    """Write (or with ``check`` only compare) the stub of every ``src_dir/*.ipynb``; return stale paths."""
    stale = []
    for src in sorted(Path(src_dir).glob("*.ipynb")):
        nb = json.loads(src.read_text(encoding="utf-8"))
        names = f"{Path(src_dir).name}/{src.name}", f"{Path(dst_dir).name}/{src.name}"
        text = _dumps(make_stub_notebook(nb, *names))
        dst = Path(dst_dir) / src.name
        if not dst.exists() or dst.read_text(encoding="utf-8") != text:
            stale.append(dst)
            if not check:
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_text(text, encoding="utf-8")
    orphans = sorted(
        set(Path(dst_dir).glob("*.ipynb")) - {Path(dst_dir) / p.name for p in Path(src_dir).glob("*.ipynb")}
    )
    stale += orphans
    if not check:
        for orphan in orphans:
            orphan.unlink()
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="folder of solution notebooks")
    parser.add_argument("dst", type=Path, help="folder for the generated exercise notebooks")
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    stale = generate(args.src, args.dst, check=args.check)
    verb = "stale" if args.check else "written"
    for path in stale:
        print(f"{verb}: {path}")
    print(f"{len(stale)} exercise notebook(s) {verb}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
