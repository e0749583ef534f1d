"""Tests for minitorch_xf.tasks.induction: targets against loops over positions, the scorer on malformed output."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch_xf.tasks.induction import (
    IGNORE,
    induction_batch,
    induction_targets,
    lag_copy_batch,
    lag_copy_targets,
    score_predictions,
)

pytestmark = pytest.mark.ch14


def loop_induction(seq):
    out = []
    for t, tok in enumerate(seq):
        prev = [j for j in range(t) if seq[j] == tok]
        out.append(seq[prev[-1] + 1] if prev else IGNORE)
    return out


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=30))
def test_induction_targets_match_loop(seq):
    assert induction_targets(torch.tensor(seq)).tolist() == loop_induction(seq)


def test_induction_targets_batched_and_examples():
    x = torch.tensor([[1, 2, 1, 3, 1], [0, 0, 0, 0, 0]])
    assert induction_targets(x).tolist() == [[IGNORE, IGNORE, 2, IGNORE, 3], [IGNORE, 0, 0, 0, 0]]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=20), st.integers(1, 25))
def test_lag_copy_targets_match_loop(seq, lag):
    want = [seq[t - lag] if t >= lag else IGNORE for t in range(len(seq))]
    assert lag_copy_targets(torch.tensor(seq), lag).tolist() == want


def test_batches_are_seeded_and_consistent():
    a = induction_batch(4, 10, 5, torch.Generator().manual_seed(0))
    b = induction_batch(4, 10, 5, torch.Generator().manual_seed(0))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], induction_targets(a[0]))
    x, y = lag_copy_batch(3, 6, 4, lag=2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(y, lag_copy_targets(x, 2)) and int(x.max()) < 4


def test_score_counts_only_defined_targets():
    y = torch.tensor([[IGNORE, 1, 2, IGNORE]])
    assert score_predictions(torch.tensor([[9, 1, 0, 9]]), y) == {"accuracy": 0.5, "n_scored": 2, "error": None}


@pytest.mark.parametrize(
    ("pred", "reason"),
    [
        (torch.zeros(1, 3, dtype=torch.long), "shape"),
        (torch.zeros(1, 4), "dtype"),
        (torch.zeros(1, 4, dtype=torch.bool), "dtype"),
        ([[0, 1, 2, 3]], "tensor"),
        (None, "tensor"),
    ],
)
def test_malformed_predictions_score_zero_with_a_reason(pred, reason):
    out = score_predictions(pred, torch.tensor([[IGNORE, 1, 2, 3]]))
    assert out["accuracy"] == 0.0 and reason in out["error"]
