"""Packaging and automation: Colab-safe dependency floors, `make lab`, `make reproduce`, the GitHub workflows."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# What Colab ships, so that installing minitorch_xf there upgrades nothing. Source: github.com/googlecolab/backend-info
# (pip-freeze.txt, pip-freeze.gpu.txt and os-info.txt), read on 2026-11-25. Two snapshots: the first runtime with
# torch 2.8 (commit 7c82e85, 2025-08-25), and the newest one published (commit a724079, 2026-08-19, Python 3.13).
# In the year between them ipywidgets stayed at 7.7.1 and matplotlib at 3.10.0.
COLAB = {
    "2025-08-25": {
        "python": "3.12.11",
        "torch": "2.8.0",
        "numpy": "2.0.2",
        "matplotlib": "3.10.0",
        "tqdm": "4.67.1",
        "ipywidgets": "7.7.1",
        "scipy": "1.16.1",
    },
    "2026-08-19": {
        "python": "3.13.15",
        "torch": "2.11.0",
        "numpy": "2.1.3",
        "matplotlib": "3.10.0",
        "tqdm": "4.67.3",
        "ipywidgets": "7.7.1",
        "scipy": "1.16.3",
    },
}


def dependencies() -> dict[str, Requirement]:
    reqs = [Requirement(line) for line in PYPROJECT["project"]["dependencies"]]
    return {req.name.lower(): req for req in reqs}


@pytest.mark.parametrize("snapshot", sorted(COLAB))
def test_colab_versions_meet_every_floor(snapshot):
    shipped = COLAB[snapshot]
    deps = dependencies()
    missing = sorted(set(deps) - set(shipped))
    assert not missing, f"add what Colab ships of {missing} to the COLAB table before depending on it"
    for name, req in deps.items():
        assert Version(shipped[name]) in req.specifier, (
            f"{req} would make pip replace Colab's {name} {shipped[name]} (runtime of {snapshot})"
        )
    python = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert Version(shipped["python"]) in python, f"requires-python {python} excludes Colab's Python {shipped['python']}"


def test_dependencies_are_floors_without_pins_or_upper_bounds():
    for req in dependencies().values():
        assert req.url is None and req.specifier, f"{req}: give a version floor (>=), not a URL or nothing"
        for spec in req.specifier:
            assert spec.operator == ">=", f"{req}: only floors (>=) here; pins belong in constraints.txt"


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_jupyterlab_is_a_pinned_extra_installed_by_setup():
    lab = [Requirement(line).name for line in PYPROJECT["project"]["optional-dependencies"]["lab"]]
    assert lab == ["jupyterlab"]
    assert Version(constraints()["jupyterlab"]).major == 4, "pin JupyterLab 4.x in constraints.txt"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    install = [line for line in makefile.splitlines() if "pip install" in line and '-e ".[' in line]
    assert len(install) == 1 and "lab" in install[0].split("[", 1)[1], "make setup must install the [lab] extra"


def make_dry_run(*args: str) -> list[str]:
    """The commands `make` would run, without running them (and without (re)installing the venv)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    cmd = ["make", "-n", "--no-print-directory", "-o", ".venv/.installed", "VENV=.venv", *args]
    # Under `make test` this is a nested make: drop what the outer make passes down (its flags and level).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    return result.stdout.splitlines()


def test_make_lab_passes_arguments_and_installs_nothing():
    lines = [line for line in make_dry_run("lab", "ARGS=--no-browser --port 8899") if not line.startswith("#")]
    assert len(lines) == 1 and lines[0].startswith(f'JUPYTER_CONFIG_DIR="{ROOT}/.jupyter" .venv/bin/jupyter lab'), lines
    assert lines[0].endswith("--no-browser --port 8899") and "--allow-root" in lines[0], (
        lines
    )  # a container runs as root


def test_the_students_lab_leaves_every_grading_extension_out():
    """nbgrader (the course extra) enables its server and lab extensions for the whole environment; the students'
    settings in .jupyter/ switch off each one the installed nbgrader enables: none loads or warns in their lab."""
    import json

    settings = json.loads((ROOT / ".jupyter" / "jupyter_server_config.json").read_text())
    disabled = {k for k, on in settings["ServerApp"]["jpserver_extensions"].items() if on is False}
    assert {k for k in disabled if k.startswith("nbgrader.")} == disabled and len(disabled) == 4
    page = json.loads((ROOT / ".jupyter" / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"].get("@jupyter/nbgrader") is True
    installed = (
        Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "etc/jupyter/jupyter_server_config.d/nbgrader.json"
    )
    if installed.is_file():  # the extensions this nbgrader turns on are the ones the students' settings turn off
        enabled = {k for k, on in json.loads(installed.read_text())["ServerApp"]["jpserver_extensions"].items() if on}
        assert enabled <= disabled, f"nbgrader enables {sorted(enabled - disabled)}, not switched off in .jupyter/"


def test_make_reproduce_runs_the_full_profile_into_results():
    text = " ".join(make_dry_run("reproduce", "NOTEBOOKS=notebooks/ch02-ode-macaron.ipynb"))
    assert "XF_PROFILE=full" in text
    assert f'XF_RECORD_DIR="{ROOT}/results/full-$device"' in text, "an absolute record folder (kernels run elsewhere)"
    assert "pytest notebooks/ch02-ode-macaron.ipynb --nbval-lax" in text
    long = " ".join(make_dry_run("reproduce", "PROFILE=long"))
    assert "XF_PROFILE=long" in long and f'XF_RECORD_DIR="{ROOT}/results/long-$device"' in long
    everything = " ".join(make_dry_run("reproduce"))
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"notebooks/{notebook.name}" in everything


def workflow(name: str) -> dict:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def steps(job: dict) -> list[dict]:
    return job["steps"]


def test_ci_workflow_runs_ci_run_on_pushes_and_pull_requests():
    wf = workflow("ci.yml")
    assert "push" in wf["on"] and "pull_request" in wf["on"]
    (job,) = wf["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    # Debian (not Ubuntu): .ci/run installs Debian's chromium for the browser test; Python 3.11 as in the docs.
    assert job["container"].startswith("python:3.11-") and "bookworm" in job["container"]
    assert any(s.get("uses", "").startswith("actions/cache@") for s in steps(job)), "pip cache"
    run_step = next(s for s in steps(job) if s.get("run") == ".ci/run")
    assert "download.pytorch.org/whl/cpu" in run_step["env"]["PIP_EXTRA_INDEX_URL"], "the CPU torch wheel"
    assert [s["run"] for s in steps(job) if "run" in s] == [".ci/run"]
    assert (ROOT / ".ci" / "run").stat().st_mode & 0o111, ".ci/run must be executable"


def test_book_workflow_builds_and_deploys_to_pages_from_main():
    wf = workflow("book.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    assert wf["permissions"]["pages"] == "write" and wf["permissions"]["id-token"] == "write"
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    assert "make book" in [s.get("run") for s in steps(build)]
    upload = [s for s in steps(build) if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert upload and upload[0]["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in steps(deploy))
