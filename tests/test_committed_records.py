"""The committed records under results/<profile>-<device>/ (``make reproduce``) parse and say what they are.

The Reproductions and Execution-times pages are built from these files, and nothing re-runs them in CI (a ``long``
run costs up to 30 minutes of CPU per notebook, a ``full`` one needs a GPU). So a record that a hand edit or an old
format broke, one filed under the wrong profile, or a ``long`` run over its budget must fail here, not on the page.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minitorch_xf import report, runtime

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = sorted(p for p in (ROOT / "results").glob("*-*") if p.is_dir())
REPRODUCTIONS = sorted(p for folder in FOLDERS for p in (folder / "reproductions").glob("*.json"))


def folder_profile_device(folder: Path) -> tuple[str, str]:
    profile, _, device = folder.name.partition("-")
    return profile, device


def test_the_record_folders_are_named_profile_device():
    assert FOLDERS, "no committed records under results/"
    for folder in FOLDERS:
        profile, device = folder_profile_device(folder)
        assert profile in runtime.PROFILES and profile != "ci", f"{folder.name}: profile {profile!r}"
        assert device in runtime.DEVICES, f"{folder.name}: device {device!r} not one of {runtime.DEVICES}"


@pytest.mark.parametrize("path", REPRODUCTIONS, ids=lambda p: f"{p.parents[1].name}/{p.stem}")
def test_reproduction_record_parses_and_matches_its_folder(path):
    profile, device = folder_profile_device(path.parents[1])
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["profile"] == profile and record["device"] == device, (record["profile"], record["device"])
    assert (ROOT / record["notebook"]).is_file(), f"{path}: no notebook {record['notebook']}"
    assert Path(record["notebook"]).stem == path.stem
    assert isinstance(record["seed"], int) and record["versions"].get("torch"), record
    assert record["rows"], f"{path}: no rows"
    for row in record["rows"]:
        assert all(isinstance(row.get(k), str) and row[k].strip() for k in report.COLUMNS), row
        assert row.get("status") in report.STATUSES, f"{path}: status {row.get('status')!r} in {row['claim']!r}"
    for key in ("cpu_s", "wall_s"):
        assert isinstance(record.get(key), int | float) and record[key] > 0, f"{path}: {key}={record.get(key)!r}"
    if profile == "long":
        assert record["cpu_s"] <= runtime.LONG_BUDGET_S, f"{path}: {record['cpu_s']} s of CPU over the long budget"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_times_record_parses_and_matches_its_folder(folder):
    profile, device = folder_profile_device(folder)
    times = json.loads((folder / "times.json").read_text(encoding="utf-8"))
    assert times["profile"] == profile and times["device"] == device
    for notebook, row in times["notebooks"].items():
        assert (ROOT / notebook).is_file(), f"{folder.name}/times.json: no notebook {notebook}"
        assert row["profile"] == profile and row["cpu_s"] > 0 and row["wall_s"] > 0, row
        if profile == "long":
            assert row["cpu_s"] <= runtime.LONG_BUDGET_S, f"{notebook}: {row['cpu_s']} s over the long budget"


# The notebooks that train a model to show a paper's effect: each has a committed ``long`` run (issue 19).
TRAINED = (
    "ch04-looped",
    "ch05-universality",
    "ch06-cot-arithmetic",
    "ch06-cot-parity",
    "ch07-graph-search",
    "ch08-tensor-attention",
    "ch09-icl-gd",
    "ch10-att-svm",
    "ch11-hypernetwork",
    "ch11-sraven",
    "ch12-efficient-attention",
)


# Trained notebooks without a long record yet, each with the reason; an entry must go once its record is committed.
NO_LONG_RECORD_YET: dict[str, str] = {}


def test_every_trained_notebook_has_a_long_record():
    folder = ROOT / "results" / "long-cpu"
    times = json.loads((folder / "times.json").read_text(encoding="utf-8"))["notebooks"]
    # a notebook that raises a setting for long (a `long=` argument) is a trained one too
    raises_long = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb") if "long=" in p.read_text(encoding="utf-8")}
    for stem in sorted(set(TRAINED) | raises_long):
        assert (ROOT / "notebooks" / f"{stem}.ipynb").is_file(), f"TRAINED names {stem}, which is not a notebook"
        if stem in NO_LONG_RECORD_YET:
            assert not (folder / "reproductions" / f"{stem}.json").is_file(), (
                f"{stem} has a long record now: remove it from NO_LONG_RECORD_YET"
            )
            continue
        assert (folder / "reproductions" / f"{stem}.json").is_file(), (
            f"{stem} has no long record: run `make reproduce PROFILE=long NOTEBOOKS=notebooks/{stem}.ipynb`"
        )
        assert f"notebooks/{stem}.ipynb" in times, f"{stem}: no row in results/long-cpu/times.json"
