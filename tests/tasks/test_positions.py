"""Tests for minitorch_xf.tasks.positions against plain loops."""

from __future__ import annotations

import pytest
import torch

from minitorch_xf.tasks.positions import even_token, position_identification

pytestmark = pytest.mark.ch05


def test_position_identification_constant():
    x, y = position_identification(5, 7, vocab=3, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 7) and x.dtype == y.dtype == torch.long
    assert bool((x == x[:, :1]).all()) and int(x.max()) < 3
    for row in y:
        assert row.tolist() == list(range(7))


def test_position_identification_random_uses_vocab():
    x, _ = position_identification(50, 9, vocab=4, mode="random", generator=torch.Generator().manual_seed(1))
    assert set(x.flatten().tolist()) == {0, 1, 2, 3}
    assert not bool((x == x[:, :1]).all())


def test_even_token_matches_loop():
    x, y = even_token(6, 10, vocab=3, generator=torch.Generator().manual_seed(2))
    for row_x, row_y in zip(x.tolist(), y.tolist(), strict=True):
        expected = [int(row_x[: i + 1].count(row_x[i]) % 2 == 0) for i in range(10)]
        assert row_y == expected
