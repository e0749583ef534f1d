"""Deliberate breakages of the package code each chapter's exercise checks cover (issue 24).

``tests/mutations/chNN.py`` holds ``MUTATIONS``: each a small text substitution in one package module (a dropped
scale, an off-by-one in a mask, a sign flip in a gradient step, a wrong normaliser) and the exercise check
(``minitorch_xf/checks/chNN.py``) that must fail once it is applied, called with the package's own function in the
learner's place. ``tests/test_mutations.py`` applies each one to a fresh copy of the module (the package on disk
is never touched) and runs the check: a check that passes the mutant cannot tell right from wrong.

A chapter whose exercises have no counterpart in the package says why in ``NO_PACKAGE_CODE`` instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Mutation:
    module: str  # the package module to break, e.g. "minitorch_xf.nn.attention"
    target: str  # the function of that module the check receives in the learner's place
    old: str  # text that occurs exactly once in the module's source
    new: str  # what replaces it
    what: str  # the breakage in words: "off-by-one in the causal mask"
    check: str  # "check_causal_mask" in minitorch_xf/checks/chNN.py
    adapter: Callable | None = None  # wraps the package function into the signature the check calls, if it differs

    @property
    def id(self) -> str:
        return f"{self.target}: {self.what}"


def chapters() -> dict[str, object]:
    """chNN -> its module of mutations (tests/mutations/chNN.py)."""
    return {p.stem: importlib.import_module(f"{__name__}.{p.stem}") for p in sorted(HERE.glob("ch[0-9][0-9].py"))}
