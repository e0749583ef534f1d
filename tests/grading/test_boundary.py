"""The grader's boundary with a submission: its name and its notebook file, read as untrusted data."""

from __future__ import annotations

import json
import os
import unicodedata

import pytest

from minitorch_xf.checks.boundary import MAX_CELL_BYTES, display_name, printable, read_cells
from minitorch_xf.checks.collect import discover, extract_zip


def _nb(tmp_path, cells, name="nb.ipynb"):
    path = tmp_path / name
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return str(path)


def _code(source, **meta):
    return {"cell_type": "code", "source": source, "metadata": meta, "outputs": [], "execution_count": None}


def test_cells_whose_source_is_not_text_or_too_large_are_not_run_and_say_why(tmp_path):
    cells = [
        _code(["x = 1\n", "y = 2\n"]),
        _code([1, None]),
        _code({"a": 1}),
        _code("z" * (MAX_CELL_BYTES + 1)),
        _code("check_attention(attention)"),
        _code("print(1)", nbgrader={"grade": True, "solution": False}),
        {"cell_type": ["code"], "source": "ignored"},
        "not a cell",
    ]
    got = read_cells(_nb(tmp_path, cells), {"check_attention(attention)"})
    assert [c.source for c in got] == ["x = 1\ny = 2\n", None, None, None]
    assert "not text" in got[1].problem and "not text" in got[2].problem and "KiB" in got[3].problem


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"[1, 2]", b'{"cells": 3}', b"[" * 100_000])
def test_a_file_that_is_not_a_notebook_is_a_value_error(tmp_path, data):
    (tmp_path / "x.ipynb").write_bytes(data)
    with pytest.raises(ValueError, match="not a valid notebook"):
        read_cells(str(tmp_path / "x.ipynb"), set())


def test_printable_is_one_line_without_control_or_format_characters():
    assert printable("a\nb\x1b[2J\u202e\u2028c\ud800") == "a?b?[2J??c?"


def test_names_not_utf8_and_unicode_spellings_get_distinct_flagged_rows(tmp_path):
    for raw in (b"caf\xe9.ipynb", b"caf\xe8.ipynb", "Jose\u0301.ipynb".encode(), "Jos\u00e9.ipynb".encode()):
        with open(os.path.join(os.fsencode(tmp_path), raw), "w") as f:
            f.write("{}")
    subs = discover(tmp_path, "ch01.ipynb")
    names = [s.name for s in subs]
    assert len(set(names)) == 4, names
    assert all(unicodedata.is_normalized("NFC", n) for n in names)
    assert all(s.notes for s in subs), [(s.name, s.notes) for s in subs]
    assert display_name("caf\udce9")[0] == "caf\ufffd" and "UTF-8" in display_name("caf\udce9")[1][0]


def test_a_path_the_archive_holds_twice_is_kept_twice_and_noted(tmp_path):
    import warnings
    import zipfile

    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zf.writestr("x.ipynb", "first")
        zf.writestr("x.ipynb", "second")
    (tmp_path / "out").mkdir()
    root, notes = extract_zip(archive, tmp_path / "out")
    subs = discover(root, "ch01.ipynb", notes)
    assert sorted((s.name, open(s.path).read()) for s in subs) == [
        ("x (duplicate 2).ipynb", "second"),
        ("x.ipynb", "first"),
    ]
    assert all("more than once" in s.notes[0] for s in subs)
