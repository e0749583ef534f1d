"""The harness shared by the bad-input walkers (tests/**/test_bad_inputs.py), one per public package.

Each walker lists ``BAD`` calls, which must raise up front with a message naming the bad argument (the ``match``
pattern), and ``HANDLED`` calls, odd but valid, whose documented answer is checked; ``walker_tests`` turns the two
lists into the module's tests::

    test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = (
        walker_tests(BAD, HANDLED)
    )
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pytest
import torch


class Bad(NamedTuple):
    id: str
    call: Callable[[], object]
    exc: type[Exception]
    match: str


class Handled(NamedTuple):
    id: str
    call: Callable[[], object]
    check: Callable[[object], None]


def r(*shape, dtype=torch.float32, seed=0) -> torch.Tensor:
    """A seeded standard-normal tensor: the same input on every run."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def walker_tests(bad: list[Bad], handled: list[Handled]):
    """The three tests of a walker module: bad calls raise naming the argument, handled calls check, ids unique."""

    @pytest.mark.parametrize("case", bad, ids=[c.id for c in bad])
    def test_bad_call_raises_naming_the_argument(case):
        with pytest.raises(case.exc, match=case.match):
            case.call()

    @pytest.mark.parametrize("case", handled, ids=[c.id for c in handled])
    def test_odd_but_valid_call_is_handled(case):
        case.check(case.call())

    def test_ids_are_unique():
        names = [c.id for c in bad + handled]
        assert len(names) == len(set(names)), "two walker cases share an id"

    return test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique
