"""Every public function of ``minitorch_xf.theory.induction`` called as a careless user would.

Bad calls raise up front naming the argument; odd but valid calls give their documented answer (tests/bad_calls.py).
"""

from __future__ import annotations

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.theory.induction import centred, mean_pool

pytestmark = pytest.mark.ch14


def _close(expected):
    def check(out):
        torch.testing.assert_close(out, expected)

    return check


BAD = [
    Bad("mean_pool list", lambda: mean_pool([[1.0, 2.0]]), TypeError, r"x must be a torch\.Tensor"),
    Bad("mean_pool 1-d", lambda: mean_pool(r(3)), ValueError, r"x must have at least 2 dims"),
    Bad("mean_pool integer", lambda: mean_pool(torch.ones(2, 3, dtype=torch.long)), TypeError, r"x must be"),
    Bad("mean_pool no tokens", lambda: mean_pool(r(0, 3)), ValueError, r"at least one token"),
    Bad("centred 1-d", lambda: centred(r(3)), ValueError, r"x must have at least 2 dims"),
]

HANDLED = [
    Handled("mean_pool one token is the token", lambda: mean_pool(r(1, 3)), _close(r(1, 3)[0])),
    Handled("centred one token is zero", lambda: centred(r(1, 3)), _close(torch.zeros(1, 3))),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
