"""The grader against a corpus of broken and hostile submissions (tests/grading/corpus.py).

One batch grades the whole corpus in parallel sandboxes; each case then checks its row: the points it deserves,
the phrase its feedback must contain, the reference's maximum on every row. Around the batch: the package, the
other submissions and the gradebook are unchanged, nothing of the submissions outlives the grader, and no
terminal escape reaches the gradebook or the feedback.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import zipfile
from pathlib import Path

import pytest
from corpus import FULL, REFERENCE, ROOT, SENTINEL_NAME, build

from minitorch_xf.checks.grade import Limits, grade_batch, main, slug
from minitorch_xf.checks.sandbox import NOBODY, can_isolate

pytestmark = [pytest.mark.slow, pytest.mark.exercises]
ISOLATE = can_isolate()
LIMITS = Limits(cell_timeout=4, check_timeout=4, isolate=ISOLATE)


def _package_digest() -> str:
    """The package's files as the hostile cases would leave them: only their marker lines (other people may be
    editing the package in the same checkout while the tests run)."""
    marks = []
    for p in sorted((ROOT / "minitorch_xf").rglob("*.py")):
        with contextlib.suppress(OSError):
            text = p.read_text(encoding="utf-8", errors="replace")
            marks += [f"{p}: {line}" for line in text.splitlines() if "patched by a submission" in line]
    return "\n".join(marks)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    subs = tmp_path_factory.mktemp("submissions")
    out = tmp_path_factory.mktemp("grades")
    cases = build(subs, ISOLATE)
    (out / SENTINEL_NAME).write_text("original")
    before = _package_digest()
    logged: list[str] = []
    rows = grade_batch(subs, REFERENCE, out, LIMITS, jobs=2, log=logged.append)
    return {
        "subs": subs,
        "out": out,
        "cases": cases,
        "rows": {r["submission"]: r for r in rows},
        "before": before,
        "logged": logged,
    }


def _case_ids():
    from corpus import CASES

    return [c.name for c in CASES]


@pytest.mark.parametrize("name", _case_ids())
def test_each_submission_gets_what_it_deserves(batch, name):
    case = next((c for c in batch["cases"] if c.name == name), None)
    if case is None:
        pytest.skip("needs the OS sandbox (Linux, root)")
    row = batch["rows"][case.row_name]
    assert row["max_total"] == sum(FULL.values()), row
    got = {e["grade_id"]: e["points"] for e in row["exercises"]}
    assert got == case.points, f"{name!r}: {json.dumps(row, indent=1, ensure_ascii=False)[:3000]}"
    feedback = (batch["out"] / "feedback" / f"{slug(case.row_name)}.md").read_text(encoding="utf-8")
    assert case.says in feedback, f"{name!r}: {case.says!r} not in its feedback:\n{feedback[:3000]}"


def test_every_entry_has_one_row_and_the_gradebook_is_complete(batch):
    assert set(batch["rows"]) == {c.row_name for c in batch["cases"]}
    lines = (batch["out"] / "gradebook.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 + len(batch["cases"])  # header, (max) row, one per submission
    book = json.loads((batch["out"] / "gradebook.json").read_text(encoding="utf-8"))
    assert book["max_total"] == 10 and len(book["submissions"]) == len(batch["cases"])


def test_no_terminal_escape_reaches_the_outputs(batch):
    for path in batch["out"].rglob("*"):
        if path.is_file():
            assert "\x1b" not in path.read_text(encoding="utf-8", errors="replace"), path


def test_what_is_printed_has_no_control_characters(batch):
    """A file name holding a newline (or an escape) cannot print a forged-looking line: one line per submission."""
    graded = [line for line in batch["logged"] if not line.startswith("grading ")]
    assert len(graded) == len(batch["cases"]), batch["logged"]
    for line in batch["logged"]:
        assert line.isprintable(), repr(line)
    assert any("evil?" in line for line in graded)


def test_names_that_read_the_same_are_flagged_on_both_rows(batch):
    """Two spellings of "José" (NFC, NFD) and a name that is not UTF-8 get distinct rows, each with a note."""
    from corpus import NFC, NFD, NOT_UTF8

    cases = {c.name: c for c in batch["cases"]}
    for name in (NFC, NFD):
        row = batch["rows"][cases[name].row_name]
        assert any("normalised" in n for n in row["notes"]), row["notes"]
    assert any("UTF-8" in n for n in batch["rows"][cases[NOT_UTF8].row_name]["notes"])
    lines = (batch["out"] / "gradebook.csv").read_text(encoding="utf-8").splitlines()
    flagged = [line for line in lines if "normalised" in line]
    assert len(flagged) == 2, flagged


@pytest.mark.skipif(not ISOLATE, reason="needs the OS sandbox (Linux, root)")
def test_the_package_the_gradebook_and_the_machine_are_untouched(batch):
    assert _package_digest() == batch["before"], "a submission modified the installed package"
    time.sleep(5)  # the background writer sleeps 4 s, then tries
    assert (batch["out"] / SENTINEL_NAME).read_text() == "original"
    assert (batch["out"] / "gradebook.csv").read_text(encoding="utf-8").startswith("submission,")
    left = [p for p in os.listdir("/proc") if p.isdigit() and _uid(p) == NOBODY and "python" in _cmdline(p)]
    assert not left, f"python processes of user nobody outlived the grader: {[_cmdline(p)[:80] for p in left]}"


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _uid(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
    except (OSError, StopIteration):
        return -1


def test_a_second_run_resumes_and_regrade_regrades(batch, tmp_path):
    logged = []
    rows = grade_batch(batch["subs"], REFERENCE, batch["out"], LIMITS, jobs=2, log=logged.append)
    assert logged == [], f"a second run graded again: {logged}"
    assert {r["submission"]: r["total"] for r in rows} == {n: r["total"] for n, r in batch["rows"].items()}
    one = tmp_path / "one"
    one.mkdir()
    (one / "good.ipynb").write_bytes((batch["subs"] / "good.ipynb").read_bytes())
    out = tmp_path / "grades"
    grade_batch(one, REFERENCE, out, LIMITS, jobs=1, log=lambda *_: None)
    logged.clear()
    rows = grade_batch(one, REFERENCE, out, LIMITS, jobs=1, regrade=True, log=logged.append)
    assert len(logged) == 2 and [r["total"] for r in rows] == [10], (logged, rows)


def test_cli_grades_a_zip_against_a_chapter(tmp_path, capsys):
    subs = tmp_path / "in"
    subs.mkdir()
    cases = [c for c in build(subs, isolation=False) if c.name in ("good.ipynb", "stub.ipynb", "student-repo")]
    archive = tmp_path / "classroom export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for c in cases:
            path = subs / c.name
            for p in [path] if path.is_file() else sorted(path.rglob("*")):
                zf.write(p, Path("export") / p.relative_to(subs))
        zf.writestr("../escape.ipynb", "{}")  # skipped: it points outside the folder
        with pytest.warns(UserWarning, match="Duplicate name"):  # a second stub.ipynb, this one solved
            zf.write(subs / "good.ipynb", "export/stub.ipynb")
    args = [str(archive), "--chapter", "ch01", "--out", str(tmp_path / "grades"), "--cell-timeout", "20"]
    assert main(args if ISOLATE else [*args, "--no-sandbox"]) == 0
    book = json.loads((tmp_path / "grades" / "gradebook.json").read_text(encoding="utf-8"))
    totals = {r["submission"]: r["total"] for r in book["submissions"]}
    expected = {"good.ipynb": 10, "stub.ipynb": 0, "stub (duplicate 2).ipynb": 10, "student-repo": 10}
    assert totals == expected, totals
    notes = {r["submission"]: r["notes"] for r in book["submissions"]}
    for name in ("stub.ipynb", "stub (duplicate 2).ipynb"):
        assert any("more than once" in n for n in notes[name]), notes
    assert not notes["good.ipynb"]
    assert not (tmp_path / "escape.ipynb").exists()


def test_cli_errors_are_clear(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing"), "--chapter", "ch01", "--no-sandbox"])
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        main([str(tmp_path / "empty"), "--chapter", "ch01", "--no-sandbox", "--out", str(tmp_path / "g")])
    assert "no submissions" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "empty"), "--chapter", "chapter one", "--no-sandbox"])
    assert "ch01" in capsys.readouterr().err
