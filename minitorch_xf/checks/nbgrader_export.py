"""Export the exercises as an nbgrader course: ``source/<chNN>/<notebook>.ipynb`` plus ``nbgrader_config.py``.

The solution notebooks already carry nbgrader's cell metadata (solution cells, graded check cells with points,
``### BEGIN SOLUTION`` markers), so the export copies them, checks the metadata nbgrader requires, and writes a
config. Then, in the course folder::

    nbgrader generate_assignment ch01      # release/ch01/...: the student copy
    nbgrader autograde ch01                # after collecting submitted/<student>/ch01/...

nbgrader grades inside the student's kernel: a notebook that redefines the check functions can fool it. For grades
that matter, use ``python -m minitorch_xf.checks.grade`` (checks outside the sandboxed kernel; see the instructor's
guide). Usage: ``python -m minitorch_xf.checks.nbgrader_export COURSE_DIR [--chapters ch01 ch02]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["export_course"]

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
# nbgrader configuration written by `python -m minitorch_xf.checks.nbgrader_export`.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {course!r}
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = {db!r}
c.ClearSolutions.code_stub = {{"python": "raise NotImplementedError()"}}
c.ExecutePreprocessor.timeout = 300
"""
REQUIRED = {"grade", "grade_id", "locked", "schema_version", "solution"}


def _checked(nb: dict, name: str) -> dict:
    seen = set()
    for i, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            continue
        missing = REQUIRED - set(meta)
        if missing:
            raise ValueError(f"{name} cell {i}: nbgrader metadata lacks {sorted(missing)}")
        if meta["grade"] and "points" not in meta:
            raise ValueError(f"{name} cell {i}: a graded cell without points")
        if meta["grade_id"] in seen:
            raise ValueError(f"{name} cell {i}: grade_id {meta['grade_id']!r} is used twice")
        seen.add(meta["grade_id"])
    return nb


def export_course(course: Path, chapters: list[str] | None = None, course_id: str = "transformer-theory") -> list[Path]:
    """Write the course folder; return the source notebooks written."""
    course = Path(course).resolve()
    solutions = sorted((ROOT / "solutions").glob("ch*.ipynb"))
    if chapters:
        unknown = sorted(set(chapters) - {p.name[:4] for p in solutions})
        if unknown:
            raise ValueError(f"no solutions notebook for {unknown}; have {[p.name[:4] for p in solutions]}")
        solutions = [p for p in solutions if p.name[:4] in chapters]
    written = []
    for src in solutions:
        nb = _checked(json.loads(src.read_text(encoding="utf-8")), src.name)
        for cell in nb["cells"]:
            cell.pop("id", None)
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
        dst = course / "source" / src.name[:4] / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(dst)
    db = f"sqlite:///{course / 'gradebook.db'}"
    (course / "nbgrader_config.py").write_text(CONFIG.format(course=course_id, root=str(course), db=db))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("course", type=Path, help="the nbgrader course folder to write")
    parser.add_argument("--chapters", nargs="*", help="e.g. ch01 ch02 (default: every chapter with exercises)")
    parser.add_argument("--course-id", default="transformer-theory")
    args = parser.parse_args(argv)
    try:
        written = export_course(args.course, args.chapters, args.course_id)
    except ValueError as err:
        parser.error(str(err))
    for path in written:
        print(f"wrote {path}")
    print(f"next: cd {args.course} && nbgrader generate_assignment {written[0].parent.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
