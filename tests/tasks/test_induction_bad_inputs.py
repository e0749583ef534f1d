"""Every public function of ``minitorch_xf.tasks.induction`` called as a careless user would."""

from __future__ import annotations

import math

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.tasks.induction import (
    IGNORE,
    induction_batch,
    induction_targets,
    lag_copy_batch,
    lag_copy_targets,
    score_predictions,
)

pytestmark = pytest.mark.ch14


def _check(pred):
    def check(out):
        assert pred(out), out

    return check


BAD = [
    Bad("induction_targets float", lambda: induction_targets(r(2, 3)), TypeError, r"tokens must be an integer"),
    Bad(
        "induction_targets 3-d",
        lambda: induction_targets(torch.zeros(1, 1, 1, dtype=torch.long)),
        ValueError,
        r"tokens",
    ),
    Bad("induction_targets negative", lambda: induction_targets(torch.tensor([0, -1])), ValueError, r"negative id -1"),
    Bad("lag_copy_targets lag", lambda: lag_copy_targets(torch.tensor([0, 1]), 0), ValueError, r"lag"),
    Bad("induction_batch vocab", lambda: induction_batch(2, 3, 1), ValueError, r"vocab_size"),
    Bad("induction_batch n", lambda: induction_batch(2, 0, 4), ValueError, r"\bn\b"),
    Bad("induction_batch huge", lambda: induction_batch(2**20, 2**10, 4), ValueError, r"n_samples"),
    Bad("induction_batch generator", lambda: induction_batch(2, 3, 4, generator=3), TypeError, r"generator"),
    Bad("lag_copy_batch lag", lambda: lag_copy_batch(2, 3, 4, lag=1.5), TypeError, r"lag"),
    Bad(
        "score_predictions float targets",
        lambda: score_predictions(torch.zeros(2, dtype=torch.long), r(2)),
        TypeError,
        r"targets",
    ),
    Bad(
        "score_predictions bad id",
        lambda: score_predictions(torch.zeros(2, dtype=torch.long), torch.tensor([0, -3])),
        ValueError,
        r"id -3",
    ),
]

HANDLED = [
    Handled(
        "one token has no target",
        lambda: induction_targets(torch.tensor([4])).tolist(),
        _check(lambda o: o == [IGNORE]),
    ),
    Handled(
        "lag longer than the sequence",
        lambda: lag_copy_targets(torch.tensor([1, 2]), 5).tolist(),
        _check(lambda o: o == [IGNORE, IGNORE]),
    ),
    Handled(
        "nothing to score",
        lambda: score_predictions(torch.zeros(1, 2, dtype=torch.long), torch.full((1, 2), IGNORE))["accuracy"],
        _check(math.isnan),
    ),
    Handled(
        "wrong shape scores zero",
        lambda: score_predictions(torch.zeros(3, dtype=torch.long), torch.tensor([0, 1])),
        _check(lambda o: o["accuracy"] == 0.0 and "shape" in o["error"]),
    ),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
