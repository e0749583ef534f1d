"""Tests for minitorch_xf.theory.induction against independent references (loops, torch built-ins)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from minitorch_xf.theory.induction import centred, mean_pool

pytestmark = pytest.mark.ch14


def test_mean_pool_matches_torch_mean():
    x = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(mean_pool(x), x.mean(dim=-2))


def test_centred_rows_sum_to_zero():
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(centred(x).sum(dim=0), torch.zeros(3, dtype=torch.float64))


@pytest.mark.checks("prop-ch14-mean-pool-invariant")
@given(st.integers(1, 8), st.integers(0, 1000))
def test_mean_pool_is_permutation_invariant(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(mean_pool(x[torch.randperm(n, generator=g)]), mean_pool(x))


def test_mean_pool_gradcheck():
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mean_pool, (x,))
