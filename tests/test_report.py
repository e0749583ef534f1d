"""report.PaperTable: the Markdown table, the JSON record (written only when XF_RECORD_DIR is set), bad inputs."""

from __future__ import annotations

import json
import platform
import re

import numpy as np
import pytest
import torch

import minitorch_xf
from minitorch_xf import runtime
from minitorch_xf.report import Checks, PaperTable, device_name

NOTEBOOK = "notebooks/ch02-ode-macaron.ipynb"


@pytest.fixture
def rt():
    return runtime.Runtime(device=torch.device("cpu"), profile="ci", seed=3)


@pytest.fixture
def table(rt):
    t = PaperTable(NOTEBOOK, rt, source="Lu et al. (2019)")
    t.add("local error order, Strang", "3 (theory)", "2.98", status="asserted")
    t.add("parameters", 65_000_000, 0.123456, status="reported", paper_checked=False)
    return t


def test_markdown_is_a_pipe_table(table):
    lines = table.markdown().splitlines()
    assert lines[0] == "| claim | Lu et al. (2019) | this book (`ci`, cpu) | status |"
    assert lines[1] == "|---|---|---|---|"
    assert lines[2] == "| local error order, Strang | 3 (theory) | 2.98 | asserted |"
    assert lines[3] == "| parameters | 65000000 † | 0.1235 | reported |"  # int in full, float to 4 significant digits
    assert lines[4:] == ["", "† not checked against the paper's text."]


def test_show_writes_the_record(table, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("XF_RECORD_DIR", str(tmp_path / "records"))
    table.show()
    assert (
        "| local error order, Strang | 3 (theory) | 2.98 | asserted |" in capsys.readouterr().out
    )  # no IPython: printed
    data = json.loads((tmp_path / "records" / "reproductions" / "ch02-ode-macaron.json").read_text())
    assert data["notebook"] == NOTEBOOK and data["chapter"] == 2 and data["source"] == "Lu et al. (2019)"
    assert (data["profile"], data["device"], data["seed"]) == ("ci", "cpu", 3)
    assert data["device_name"] == device_name(torch.device("cpu")) and data["device_name"]
    assert data["versions"] == {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "minitorch_xf": minitorch_xf.__version__,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["created"]), data["created"]
    assert data["rows"] == [
        {
            "claim": "local error order, Strang",
            "paper": "3 (theory)",
            "ours": "2.98",
            "status": "asserted",
            "paper_checked": True,
        },
        {"claim": "parameters", "paper": "65000000", "ours": "0.1235", "status": "reported", "paper_checked": False},
    ]
    assert data["cpu_s"] > 0 and data["wall_s"] > 0
    assert [p.name for p in (tmp_path / "records" / "reproductions").iterdir()] == ["ch02-ode-macaron.json"]


def test_a_second_run_replaces_the_record(rt, monkeypatch, tmp_path):
    monkeypatch.setenv("XF_RECORD_DIR", str(tmp_path))
    PaperTable(NOTEBOOK, rt, "Lu et al. (2019)").add("a", "1", "2", status="asserted").write()
    path = PaperTable(NOTEBOOK, rt, "Lu et al. (2019)").add("b", "3", "4", status="not run").write()
    rows = json.loads(path.read_text())["rows"]
    assert rows == [{"claim": "b", "paper": "3", "ours": "4", "status": "not run", "paper_checked": True}]


@pytest.mark.parametrize("value", [None, ""])
def test_nothing_written_without_a_record_dir(table, monkeypatch, tmp_path, value):
    monkeypatch.chdir(tmp_path)
    if value is None:
        monkeypatch.delenv("XF_RECORD_DIR", raising=False)
    else:
        monkeypatch.setenv("XF_RECORD_DIR", value)
    assert runtime.record_dir() is None
    assert table.write() is None
    table.show()
    assert list(tmp_path.iterdir()) == []


def test_chapter_from_the_name_or_the_argument(rt):
    assert PaperTable("notebooks/ch04-subleq.ipynb", rt, "Giannou et al. (2023)").chapter == 4
    assert PaperTable("notebooks/extra.ipynb", rt, "x", chapter=7).chapter == 7
    with pytest.raises(ValueError, match=r"'notebooks/extra.ipynb' is not named chNN"):
        PaperTable("notebooks/extra.ipynb", rt, "x")


@pytest.mark.parametrize(
    ("notebook", "match"),
    [
        ("notebooks/ch02.md", "must be the notebook's path"),
        ("/abs/ch02-x.ipynb", "relative to the repository root"),
        ("../ch02-x.ipynb", "relative to the repository root"),
        (3, "must be the notebook's path"),
    ],
)
def test_bad_notebook(rt, notebook, match):
    with pytest.raises(ValueError, match=match):
        PaperTable(notebook, rt, "x")


def test_bad_runtime_and_source(rt):
    with pytest.raises(TypeError, match="rt must be the Runtime"):
        PaperTable(NOTEBOOK, "ci", "x")
    with pytest.raises(ValueError, match="source=' '"):
        PaperTable(NOTEBOOK, rt, " ")


@pytest.mark.parametrize("claim", ["", "   ", None, 3])
def test_empty_or_non_string_claim(table, claim):
    with pytest.raises(ValueError, match=f"claim={claim!r} must be a non-empty string"):
        table.add(claim, "1", "2", status="asserted")


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (None, TypeError, r"paper=None \(NoneType\): a cell must be a str, int or float"),
        (True, TypeError, r"paper=True \(bool\)"),
        (torch.tensor(0.5), TypeError, r"\(Tensor\)"),
        ([1, 2], TypeError, r"\(list\)"),
        ("two\nlines", ValueError, "line break"),
        ("$|v|$", ValueError, r"contains '\|'"),
    ],
)
def test_bad_cells_are_rejected(table, value, error, match):
    with pytest.raises(error, match=match):
        table.add("claim", value, "ok", status="asserted")
    assert len(table.rows) == 2  # nothing half-added


def test_escaped_pipe_is_allowed(table):
    table.add("norm", r"a \| b", "ok", status="asserted")
    assert r"| norm | a \| b | ok | asserted |" in table.markdown()


def test_an_empty_table_is_an_error(rt):
    empty = PaperTable(NOTEBOOK, rt, "x")
    with pytest.raises(ValueError, match="no rows"):
        empty.show()


def test_device_name_cpu_is_a_model_name():
    name = device_name(torch.device("cpu"))
    assert isinstance(name, str) and name.strip() == name and name


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, TypeError, "status"),
        ({"status": "passed"}, ValueError, r"status='passed' for claim 'c': must be one of asserted, reported"),
        ({"status": None}, ValueError, "status=None"),
        ({"status": "asserted", "paper_checked": "yes"}, TypeError, "paper_checked='yes'"),
    ],
)
def test_status_is_required_and_named(table, kwargs, error, match):
    with pytest.raises(error, match=match):
        table.add("c", "1", "2", **kwargs)
    assert len(table.rows) == 2


def test_checks_record_labels_and_figures(rt, monkeypatch, tmp_path):
    monkeypatch.setenv("XF_RECORD_DIR", str(tmp_path))
    checks = Checks(NOTEBOOK, rt)
    checks.checked("thm-strang", "order 2.98 (theory 3)")
    checks.checked("thm-strang", "order 2.98 (theory 3)")  # a re-run cell does not repeat the figure
    checks.checked("def-local-error", "a second figure")
    data = json.loads((tmp_path / "checks" / "ch02-ode-macaron.json").read_text())
    assert data["notebook"] == NOTEBOOK and (data["profile"], data["seed"]) == ("ci", 3)
    assert data["checks"] == {"thm-strang": ["order 2.98 (theory 3)"], "def-local-error": ["a second figure"]}


@pytest.mark.parametrize(
    ("label", "figure", "match"),
    [
        ("Strang", "x", "label='Strang' must be a book label"),
        ("thm strang", "x", "must be a book label"),
        (None, "x", "label=None"),
        ("thm-strang", "  ", "figure for 'thm-strang' is empty"),
        ("thm-strang", 2.5j, r"figure=2.5j \(complex\)"),
    ],
)
def test_checks_bad_labels_and_figures(rt, label, figure, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Checks(NOTEBOOK, rt).checked(label, figure)
