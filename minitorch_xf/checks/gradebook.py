"""The gradebook: per-submission results as they finish, then the gradebook and feedback published as one.

``OUT/results/<slug>.json`` is written atomically as each submission is graded (what a resumed run reads). The
gradebook is published only once the batch is complete: ``gradebook.csv``, ``gradebook.json`` and ``feedback/``
are written into a fresh folder ``OUT/.gradebook-<stamp>/``, and one atomic rename of the symbolic link
``OUT/.gradebook`` switches all three at once (``OUT/gradebook.csv`` is a link to ``.gradebook/gradebook.csv``, and
so on). A run killed at any moment leaves the previous gradebook whole, its CSV and JSON from the same run.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from .boundary import printable
from .reference import Reference
from .wire import sanitize

__all__ = ["feedback_markdown", "load_result", "publish", "save_result", "slug"]

PUBLISHED = ("gradebook.csv", "gradebook.json", "feedback")


def slug(name: str) -> str:
    """A file name for a submission's feedback and result: readable ASCII plus a short hash (unique)."""
    ascii_ = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60] or "submission"
    return f"{ascii_}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8", errors="replace")  # a stray surrogate must not stop the run
    os.replace(tmp, path)


def save_result(out: Path, row: dict) -> None:
    (out / "results").mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "results" / f"{slug(row['submission'])}.json", json.dumps(row, indent=1, ensure_ascii=False))


def load_result(out: Path, name: str, fingerprint: str) -> dict | None:
    """The saved row of ``name`` when it was graded from the same file, reference, limits and grader version."""
    with contextlib.suppress(ValueError, OSError):
        row = json.loads((out / "results" / f"{slug(name)}.json").read_text(encoding="utf-8"))
        if isinstance(row, dict) and row.get("fingerprint") == fingerprint:
            return row
    return None


def _cell(text: str) -> str:
    """A CSV cell on one line that a spreadsheet will not run as a formula."""
    text = printable(text, 500)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _csv(reference: Reference, results: list[dict]) -> str:
    ids = [e.grade_id for e in reference.exercises]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["submission", *ids, "total", "max_total", "status", "notes", "feedback"])
    maxima = [e.points for e in reference.exercises]
    w.writerow(["(max)", *maxima, reference.max_total, reference.max_total, "", "", ""])
    for r in results:
        points = {e["grade_id"]: e["points"] for e in r["exercises"]}
        status = r["error"] or ("all passed" if r["total"] == r["max_total"] else "some checks failed")
        w.writerow(
            [
                _cell(r["submission"]),
                *[points.get(i, 0.0) for i in ids],
                r["total"],
                r["max_total"],
                _cell(status),
                _cell(" | ".join(r.get("notes", []))),
                f"feedback/{slug(r['submission'])}.md",
            ]
        )
    return buf.getvalue()


def publish(out: Path, reference: Reference, results: list[dict]) -> None:
    """Write the gradebook and every feedback page into a new folder, then switch ``OUT/.gradebook`` to it."""
    results = sorted(results, key=lambda r: r["submission"])
    new = Path(tempfile.mkdtemp(prefix=f".gradebook-{time.strftime('%Y%m%dT%H%M%S')}-", dir=out))
    new.chmod(0o755)
    stamp = new.name
    (new / "feedback").mkdir()
    (new / "gradebook.csv").write_text(_csv(reference, results), encoding="utf-8", errors="replace")
    book = {
        "reference": reference.path.name,
        "exercises": [{"grade_id": e.grade_id, "points": e.points} for e in reference.exercises],
        "max_total": reference.max_total,
        "submissions": results,
    }
    text = json.dumps(book, indent=1, ensure_ascii=False)
    (new / "gradebook.json").write_text(text, encoding="utf-8", errors="replace")
    for r in results:
        page = new / "feedback" / f"{slug(r['submission'])}.md"
        page.write_text(feedback_markdown(r, reference), encoding="utf-8", errors="replace")
    _replace_link(out / ".gradebook", stamp)  # the one step that switches CSV, JSON and feedback together
    for name in PUBLISHED:
        path = out / name
        if not (path.is_symlink() and os.readlink(path) == f".gradebook/{name}"):
            if path.is_dir() and not path.is_symlink():  # a folder from an older grader
                shutil.rmtree(path)
            _replace_link(path, f".gradebook/{name}")
    for old in out.glob(".gradebook-*"):
        if old.name != stamp:
            shutil.rmtree(old, ignore_errors=True)


def _replace_link(path: Path, target: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.link")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, path)


def _fence(text: str) -> str:
    ticks = max([3, *(len(m) + 1 for m in re.findall(r"`{3,}", text))])
    return f"{'`' * ticks}text\n{text}\n{'`' * ticks}"


def feedback_markdown(r: dict, reference: Reference) -> str:
    name = sanitize(r["submission"], 200).replace("\n", " ")
    name = name.replace("`", "'")
    lines = [f"# Feedback: {reference.path.stem}", "", f"Submission: `{name}`", ""]
    lines.append(f"**Score: {r['total']:g} / {r['max_total']:g}**")
    lines.append("")
    if r["error"]:
        lines += ["Problem with the submission:", "", _fence(sanitize(r["error"])), ""]
    if r.get("notes"):
        lines += ["Notes for the instructor:", "", _fence("\n".join(printable(n, 500) for n in r["notes"])), ""]
    lines += ["| exercise | points | result |", "|---|---|---|"]
    for e in r["exercises"]:
        mark = "passed" if e["passed"] else "failed"
        lines.append(f"| `{e['grade_id']}` | {e['points']:g} / {e['max_points']:g} | {mark} |")
    lines.append("")
    for e in r["exercises"]:
        lines.append(f"## `{e['grade_id']}`: {'passed' if e['passed'] else 'failed'}")
        lines.append("")
        if e["passed"]:
            lines.append(_fence("\n".join(e["cases"]) or "passed"))
        else:
            lines.append(_fence(sanitize(e["message"] or "failed", 4000)))
        lines.append("")
    if r["cell_errors"]:
        lines += ["## Cells of your notebook that raised an error", ""]
        lines.append(_fence("\n".join(sanitize(c, 500) for c in r["cell_errors"][:30])))
        lines.append("")
    lines.append("The checks called your functions on fresh random inputs; rerun a check cell in your notebook to")
    lines.append("see a failing case again (each failure names the seed that replays it).")
    return "\n".join(lines) + "\n"
