"""Match3 labels against a triple loop over (i, j, k) written from Sanford, Hsu & Telgarsky's definition."""

from __future__ import annotations

import pytest
import torch

from minitorch_xf.tasks.match3 import match3_batch, match3_labels, match3_positive_rate, match3_worst_case

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


@pytest.mark.parametrize("length,modulus", [(1, 3), (2, 5), (4, 7), (6, 23), (9, 47)])
def test_worst_case_has_one_match_and_all_other_pairs_near_misses(length, modulus):
    """Counted by a triple loop: at ``where`` the token's only matching ordered pair is (where, where), and
    (n-1)^2 ordered pairs are near misses (x_i + x_j + x_k = +-1 mod M); the labels are the triple loop's."""
    x, y, where = match3_worst_case(40, length, modulus, torch.Generator().manual_seed(length))
    assert x.shape == y.shape == (40, length) and where.shape == (40,)
    torch.testing.assert_close(y, torch.tensor([_triple_loop(row, modulus) for row in x.tolist()]))
    signs = set()
    for row, i in zip(x.tolist(), where.tolist(), strict=True):
        sums = [((row[i] + row[j] + row[k]) % modulus, j, k) for j in range(length) for k in range(length)]
        assert [(j, k) for s, j, k in sums if s == 0] == [(i, i)], row
        assert sum(s in (1, modulus - 1) for s, _, _ in sums) == (length - 1) ** 2, row
        signs |= {s for s, j, k in sums if j != i and k != i}
    if length > 1:
        assert signs == {1, modulus - 1}  # both signs of the near miss occur over 40 samples


def test_worst_case_is_reproducible_and_needs_an_odd_modulus():
    a = match3_worst_case(6, 5, 23, torch.Generator().manual_seed(4))
    b = match3_worst_case(6, 5, 23, torch.Generator().manual_seed(4))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    with pytest.raises(ValueError, match="modulus=8 must be odd"):
        match3_worst_case(2, 3, 8)
