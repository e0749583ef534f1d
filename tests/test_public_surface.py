"""Every public callable of the package has at least one bad-input case in a walker.

The public surface is every function and class named in the ``__all__`` of a public module of ``minitorch_xf``
(the grader, ``minitorch_xf.checks``, has its own tests: it is called with student code, not by users). A walker
(``tests/**/test_*bad_inputs*.py``) lists ``BAD`` calls; a call *covers* the public callable it is aimed at: the last
package function or class entered from outside the package before the call raised (arguments built with other package
functions first, such as a mask, do not count). A class is covered by a bad call to its constructor or to one of its
methods. The test fails when a public callable has no bad case, so that a new function cannot ship without one.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import pkgutil
import sys
from pathlib import Path

import pytest

import minitorch_xf

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = str(Path(minitorch_xf.__file__).resolve().parent)

# Public callables with no input a caller could get wrong (no argument, no environment variable), or records the
# package returns rather than takes: each with the reason.
EXEMPT: dict[str, str] = {
    "minitorch_xf.plot.use_style": "no argument: sets matplotlib's rcParams",
    "minitorch_xf.kernels.triton_available": "no argument: whether triton imports",
    "minitorch_xf.report.kernel_seconds": "no argument: this process's CPU and wall time so far",
    "minitorch_xf.theory.att_svm.TrainResult": "a result record that train_attention returns",
    "minitorch_xf.theory.universality.WidthSweep": "a result record that width_sweep returns",
    "minitorch_xf.tasks.graph_data.shrikhande_graph": "no argument: the one Shrikhande graph",
    "minitorch_xf.tasks.graph_data.wl_indistinguishable_pairs": "no argument: three fixed pairs of graphs",
}


def _public_modules():
    for info in pkgutil.walk_packages(minitorch_xf.__path__, "minitorch_xf."):
        parts = info.name.split(".")
        if parts[1] == "checks" or any(p.startswith("_") for p in parts):
            continue
        yield importlib.import_module(info.name)


def public_callables() -> dict[str, object]:
    """``{"module.qualname": object}`` for every function and class in a public module's ``__all__``."""
    found = {}
    for module in [minitorch_xf, *_public_modules()]:
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name, None)
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                continue  # an error type is raised, not called
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__.startswith("minitorch_xf"):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


@functools.cache
def _public_classes() -> frozenset:
    return frozenset(obj for obj in public_callables().values() if inspect.isclass(obj))


def _own_code_objects(obj) -> list:
    """The code a call to ``obj`` runs first: a function's, or that of a method, property or constructor that a class
    defines itself or inherits from a package class that is not public (one inherited from a public class belongs to
    that class)."""
    if inspect.isfunction(obj):  # a decorated function (torch.no_grad) by its own code, not the shared wrapper's
        return [inspect.unwrap(obj).__code__]
    codes = []
    for klass in obj.__mro__:  # the class, then package base classes that are not public themselves
        if klass is not obj and (not klass.__module__.startswith("minitorch_xf") or klass in _public_classes()):
            continue
        for member in vars(klass).values():
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                member = member.fget
            if inspect.isfunction(member):
                codes.append(inspect.unwrap(member).__code__)
    return codes


def _in_package(frame) -> bool:
    return frame.f_code.co_filename.startswith(PACKAGE_DIR)


def target_of(call, owners: dict, classes: dict | None = None) -> str | None:
    """Run ``call`` (expected to raise) and return the public callable it was aimed at, as described above.

    ``owners`` maps a code object to the public callable that defines it; a method called on an instance of a public
    subclass (``Encoder`` runs ``TransformerStack.__init__``) counts for the instance's class, found in ``classes``
    (``{class: name}``)."""
    entered: list[str] = []
    classes = classes or {}

    def profile(frame, event, arg):
        if event != "call" or frame.f_code not in owners:
            return
        outer = frame.f_back
        while outer is not None:  # entered from outside the package (torch's Module.__call__ is outside)
            if _in_package(outer):
                return
            outer = outer.f_back
        instance = frame.f_locals.get("self") if frame.f_code.co_argcount else None
        for klass in type(instance).__mro__ if instance is not None else ():
            if klass in classes:
                entered.append(classes[klass])
                return
        entered.append(owners[frame.f_code])

    sys.setprofile(profile)
    try:
        call()
    except Exception:
        pass
    finally:
        sys.setprofile(None)
    return entered[-1] if entered else None


def _walkers():
    for path in sorted((ROOT / "tests").rglob("test_*bad_inputs*.py")):
        name = "surface_walker_" + "_".join(path.relative_to(ROOT / "tests").with_suffix("").parts)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield path, module


def test_every_public_callable_has_a_bad_input_case():
    surface = public_callables()
    owners = {}
    for name, obj in surface.items():
        for code in _own_code_objects(obj):
            owners[code] = name
    classes = {obj: name for name, obj in surface.items() if inspect.isclass(obj)}
    covered = set()
    n_cases = 0
    for _, walker in _walkers():
        for case in getattr(walker, "BAD", []):
            n_cases += 1
            target = target_of(case.call, owners, classes)
            if target is not None:
                covered.add(target)
    assert n_cases > 0, "no BAD case found in tests/**/test_*bad_inputs*.py"
    missing = sorted(set(surface) - covered - set(EXEMPT))
    assert not missing, (
        f"{len(missing)} of {len(surface)} public callables have no bad-input case in a walker "
        f"(tests/**/test_*bad_inputs*.py, list BAD): " + ", ".join(missing)
    )


def test_exemptions_are_public_and_still_needed():
    surface = public_callables()
    stale = [name for name in EXEMPT if name not in surface]
    assert not stale, f"EXEMPT names callables that are not public (any more): {stale}"


def test_the_surface_is_found():
    surface = public_callables()
    assert "minitorch_xf.nn.attention.scaled_dot_product_attention" in surface
    assert "minitorch_xf.tasks.cot.Tokenizer" in surface
    assert not any(".checks." in name for name in surface), "the grader's names are listed"


def test_target_of_names_the_call_that_raised_not_its_arguments():
    from minitorch_xf.nn import causal_mask, scaled_dot_product_attention

    surface = public_callables()
    owners = {code: name for name, obj in surface.items() for code in _own_code_objects(obj)}
    q = __import__("torch").zeros(2, 3)

    def bad():
        scaled_dot_product_attention(q, q, q, mask=causal_mask(3).float())

    assert target_of(bad, owners) == "minitorch_xf.nn.attention.scaled_dot_product_attention"


def test_a_decorated_function_counts_for_itself_not_for_its_shared_wrapper():
    import torch

    @torch.no_grad()
    def first(x):
        raise ValueError("x")

    @torch.no_grad()
    def second(x):
        raise ValueError("x")

    owners = {code: name for name, obj in {"first": first, "second": second}.items() for code in _own_code_objects(obj)}
    assert target_of(lambda: first(1), owners) == "first"
    assert target_of(lambda: second(1), owners) == "second"


if __name__ == "__main__":  # pragma: no cover - a quick listing: python tests/test_public_surface.py
    sys.exit(pytest.main([__file__, "-q"]))
