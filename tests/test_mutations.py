"""Exercise checks that can fail, proven by breaking the code they check (issue 24).

1. Every graded check, called with stubs (``raise NotImplementedError``) in the place of the learner's functions,
   fails: a check that never calls the learner's function would give a stub the points. Fast, in-process.
2. Every mutation in ``tests/mutations/chNN.py`` (a dropped scale, an off-by-one in a mask, a sign flip, a wrong
   normaliser in the package) makes the chapter's exercise check fail when the mutated package function stands in
   for the learner's, while the unmutated function passes the same seeds.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import types
from pathlib import Path

import pytest

from minitorch_xf.checks._core import CheckFailed
from minitorch_xf.checks.reference import Reference
from minitorch_xf.nn import dispatch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import mutations  # noqa: E402

SOLUTIONS = sorted((ROOT / "solutions").glob("ch*.ipynb"))
CHAPTERS = mutations.chapters()
SEEDS = (0, 1, 2)


def stub(name: str):
    def fn(*args, **kwargs):
        raise NotImplementedError()

    fn.__name__ = name
    return fn


def graded_calls():
    for path in SOLUTIONS:
        for ex in Reference(path).exercises:
            for call in ex.calls:
                yield pytest.param(path, ex, call, id=f"{path.stem}:{ex.grade_id}:{call.function}")


def stub_verdict(check, names: list[str], kwargs: dict, where: str, points: float) -> str | None:
    """None when ``check`` fails stubs of ``names`` as unimplemented; else what is wrong, naming ``where``."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            check(*[stub(name) for name in names], **kwargs, seed=0)
    except CheckFailed as err:
        return None if "not implemented yet" in str(err) else f"{where}: a stub fails, but not as unimplemented: {err}"
    return (
        f"{where}: a stub that only raises NotImplementedError passes this check, so a learner who writes nothing "
        f"scores {points:g} points. The check must call the learner's function ({', '.join(names)}) through "
        "Checker.call and compare what it returns with an independent reference (minitorch_xf/checks/_core.py). "
        f"It printed: {out.getvalue().strip()[:300]!r}"
    )


@pytest.mark.parametrize(("path", "exercise", "call"), list(graded_calls()))
def test_a_stub_scores_nothing(path, exercise, call):
    """A stub in the learner's place fails the check, with the check's 'not implemented yet' message."""
    check = getattr(importlib.import_module(call.module), call.function)
    where = f"solutions/{path.name}, exercise {exercise.grade_id!r}, {call.function}({', '.join(call.names)})"
    problem = stub_verdict(check, call.names, call.kwargs, where, exercise.points)
    assert problem is None, problem


def test_a_check_that_never_calls_the_learner_function_is_named():

    from minitorch_xf.checks._core import Checker

    def check_double(double, seed=None):  # the planted mistake: compares the reference with itself
        c = Checker("double", seed)
        x = c.randn(3)
        c.close("x", 2 * x, 2 * x)
        c.done()

    problem = stub_verdict(check_double, ["double"], {}, "solutions/ch99-toy.ipynb, exercise 'check-double'", 2)
    assert problem and "ch99-toy.ipynb, exercise 'check-double'" in problem and "scores 2 points" in problem


def mutated(m: mutations.Mutation):
    """A fresh copy of ``m.module`` with the substitution applied (the imported module is left as it is)."""
    original = importlib.import_module(m.module)
    source = Path(original.__file__).read_text(encoding="utf-8")
    count = source.count(m.old)
    assert count == 1, (
        f"mutation {m.id!r}: {m.old!r} occurs {count} times in {m.module}; update tests/mutations/ to the code"
    )
    clone = types.ModuleType(m.module)
    clone.__file__, clone.__package__ = original.__file__, original.__package__
    code = compile(source.replace(m.old, m.new), f"{original.__file__} (mutated: {m.what})", "exec")
    # Running a module's source re-runs its registrations: nn.attention registers its backends with the dispatcher,
    # so a mutant would replace the real "reference" attention for every later test. Keep the registry as it was.
    registry = dict(dispatch._REGISTRY)
    try:
        exec(code, clone.__dict__)
    finally:
        dispatch._REGISTRY.clear()
        dispatch._REGISTRY.update(registry)
    return clone


def run_check(chapter: str, m: mutations.Mutation, module) -> str | None:
    """None when the check passes every seed with ``module``'s function in the learner's place; else the failure."""
    check = getattr(importlib.import_module(f"minitorch_xf.checks.{chapter}"), m.check)
    fn = getattr(module, m.target)
    fn = m.adapter(fn) if m.adapter else fn
    for seed in SEEDS:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                check(fn, seed=seed)
        except CheckFailed as err:
            return str(err)
    return None


def all_mutations():
    for chapter, mod in CHAPTERS.items():
        for m in mod.MUTATIONS:
            yield pytest.param(chapter, m, id=f"{chapter}:{m.id}")


@pytest.mark.parametrize(("chapter", "m"), list(all_mutations()))
def test_the_chapter_check_kills_the_mutation(chapter, m):
    baseline = run_check(chapter, m, importlib.import_module(m.module))
    assert baseline is None, f"{chapter}: {m.check} fails the unmutated {m.module}.{m.target}: {baseline}"
    killed = run_check(chapter, m, mutated(m))
    assert killed is not None, (
        f"{chapter}: minitorch_xf/checks/{chapter}.py::{m.check} passes {m.module}.{m.target} with {m.what} "
        f"({m.old!r} -> {m.new!r}) on seeds {SEEDS}: the check cannot tell this breakage from the right code; "
        "add a case that exposes it"
    )


def test_a_mutant_leaves_the_attention_registry_as_it_was():
    """The dispatcher's backends are the package's after every mutant (one leaked into test_looped once)."""
    before = dict(dispatch._REGISTRY)
    for mod in CHAPTERS.values():
        for m in mod.MUTATIONS:
            mutated(m)
    assert dispatch._REGISTRY == before


def test_every_chapter_has_mutations_or_says_why():
    checks = sorted(p.stem for p in (ROOT / "minitorch_xf" / "checks").glob("ch[0-9][0-9].py"))
    missing = [ch for ch in checks if ch not in CHAPTERS]
    assert not missing, f"no tests/mutations/<chapter>.py for {missing} (`make chapter` writes one)"
    for chapter, mod in CHAPTERS.items():
        reason = getattr(mod, "NO_PACKAGE_CODE", "")
        assert len(mod.MUTATIONS) >= 2 or reason, (
            f"tests/mutations/{chapter}.py: list at least two breakages of the package code its checks cover, or "
            "say in NO_PACKAGE_CODE why its exercises have no package counterpart"
        )
