"""Match3 labels against a triple loop over (i, j, k) written from Sanford, Hsu & Telgarsky's definition."""

from __future__ import annotations

import pytest
import torch

from minitorch_xf.tasks.match3 import match3_batch, match3_labels, match3_positive_rate

pytestmark = pytest.mark.ch08


def _triple_loop(row, m):
    n = len(row)
    return [
        1.0 if any((row[i] + row[j] + row[k]) % m == 0 for j in range(n) for k in range(n)) else 0.0 for i in range(n)
    ]


def test_hand_examples():
    # 1 + 2 + 4 = 7 ≡ 0 (mod 7): all three match; 3 + 3 + 1 = 7 via j = k allowed.
    torch.testing.assert_close(match3_labels(torch.tensor([1, 2, 4]), 7), torch.ones(3))
    torch.testing.assert_close(match3_labels(torch.tensor([3, 1]), 7), torch.tensor([1.0, 1.0]))
    # 0 + 0 + 0: a zero always matches with itself; 1 alone mod 5 never (3 ≢ 0).
    torch.testing.assert_close(match3_labels(torch.tensor([0, 1]), 5), torch.tensor([1.0, 0.0]))


@pytest.mark.parametrize("length,modulus", [(1, 2), (4, 7), (6, 11), (9, 23)])
def test_reference_and_batch_agree_with_triple_loop(length, modulus):
    x, y = match3_batch(64, length, modulus, torch.Generator().manual_seed(length))
    expected = torch.tensor([_triple_loop(row, modulus) for row in x.tolist()])
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(match3_labels(x, modulus), expected)
    assert x.dtype == torch.long and int(x.min()) >= 0 and int(x.max()) < modulus


def test_generator_is_reproducible_and_rate_moves_with_modulus():
    a = match3_batch(8, 5, 23, torch.Generator().manual_seed(3))
    b = match3_batch(8, 5, 23, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    g = torch.Generator().manual_seed(0)
    assert match3_positive_rate(5, 11, generator=g) > match3_positive_rate(5, 47, generator=g)
    assert 0.4 <= match3_positive_rate(5, 23, generator=g) <= 0.6  # the notebook's setting is balanced
