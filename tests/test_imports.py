"""The package's import structure: what a newcomer can reach from ``import minitorch_xf``, and the one-way rule.

The rule keeps the layers separable: ``nn`` (the building blocks) never imports ``theory``, ``tasks`` or
``checks``; ``theory`` never imports ``checks`` (a check must stay an independent reference).
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "minitorch_xf"

FORBIDDEN = {
    "nn": ("minitorch_xf.theory", "minitorch_xf.tasks", "minitorch_xf.checks"),
    "theory": ("minitorch_xf.checks",),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every module an import statement in ``source`` can load, relative imports resolved (``from . import x``
    counts ``pkg.x`` as well as ``pkg``)."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    layer = module.split(".")[1] if module.count(".") else ""
    banned = FORBIDDEN.get(layer, ())
    return sorted(
        f"{module} imports {name}"
        for name in imported_modules(source, module, is_package)
        if any(name == b or name.startswith(b + ".") for b in banned)
    )


@pytest.mark.parametrize(
    "path",
    sorted(p for layer in FORBIDDEN for p in (PACKAGE / layer).rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_one_way_imports(path):
    found = violations(path.read_text(), module_name(path), path.name == "__init__.py")
    assert not found, f"one-way import rule broken: {found}"


@pytest.mark.parametrize(
    ("source", "module", "bad"),
    [
        ("from ..theory import energy", "minitorch_xf.nn.attention", True),
        ("from .. import checks", "minitorch_xf.nn.models", True),
        ("import minitorch_xf.tasks.regression", "minitorch_xf.nn.blocks", True),
        ("def f():\n    from ..checks.ch01 import check_attention", "minitorch_xf.theory.energy", True),
        ("from .. import tasks", "minitorch_xf.nn", True),  # in nn/__init__.py, '..' is minitorch_xf itself
        ("from ..nn.attention import softmax", "minitorch_xf.theory.energy", False),
        ("from .._validate import check_tensor", "minitorch_xf.nn.norms", False),
        ("from .ffn import FeedForward", "minitorch_xf.nn.blocks", False),
    ],
)
def test_the_import_rule_checker_catches_violations(source, module, bad):
    is_package = module == "minitorch_xf.nn"
    assert bool(violations(source, module, is_package)) == bad


def test_subpackages_reachable_from_the_top_level():
    code = (
        "import minitorch_xf as m; "
        "print(m.theory.energy.pairwise_energy.__name__, m.theory.ode.strang_step.__name__, "
        "m.theory.looped.unroll.__name__, m.plot.attention_map.__name__, m.checks.Checker.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["pairwise_energy", "strang_step", "unroll", "attention_map", "Checker"]


@pytest.mark.parametrize("package", ["minitorch_xf", "minitorch_xf.nn", "minitorch_xf.theory", "minitorch_xf.tasks"])
def test_every_exported_name_exists(package):
    mod = importlib.import_module(package)
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert not missing, f"{package}.__all__ names what it does not define: {missing}"


def test_models_all_is_exported_from_nn():
    from minitorch_xf import nn
    from minitorch_xf.nn import models

    public = [name for name in models.__all__ if name != "POSITIONS"]
    assert set(public) <= set(nn.__all__), f"missing from minitorch_xf.nn: {set(public) - set(nn.__all__)}"


def test_dir_lists_the_lazy_modules_and_no_private_helper():
    """``dir(minitorch_xf)`` shows what ``minitorch_xf.<name>`` reaches, the lazily loaded modules included, in a
    fresh interpreter (before anything imported them), and not the private ``_validate``."""
    code = "import minitorch_xf as m; print(' '.join(dir(m)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    names = out.stdout.split()
    assert {"checks", "kernels", "plot", "nn", "theory", "tasks", "train", "runtime", "report"} <= set(names), names
    assert "_validate" not in names and names == sorted(names)


def test_kernels_is_an_attribute_without_an_explicit_import_and_leaves_the_environment_alone():
    """``minitorch_xf.kernels`` loads on first use; loading it (on CPU, where it switches Triton's interpreter on)
    writes no TRITON_INTERPRET into the process environment that child processes inherit."""
    code = (
        "import os; os.environ.pop('TRITON_INTERPRET', None); import minitorch_xf as m; "
        "k = m.kernels; print(k.softmax.__name__, os.environ.get('TRITON_INTERPRET', 'unset'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["softmax", "unset"]
