"""Prefix-scan attention and its RNN form against causal softmax attention (torch's SDPA as the reference)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch_xf.nn.scan_attention import attention_rnn, prefix_scan_attention, scan_combine

pytestmark = pytest.mark.ch12


def _qkv(n, seed=0, b=2, d=4, e=3):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, n, x, generator=g, dtype=torch.float64) for x in (d, d, e))


@pytest.mark.parametrize("n", [1, 2, 5, 8, 13])
def test_scan_with_a_query_per_position_is_causal_attention(n):
    q, k, v = _qkv(n)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(prefix_scan_attention(q, k, v), expected, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("n", [1, 6, 16])
def test_scan_and_rnn_with_one_query_are_causal_attention_of_the_repeated_query(n):
    q, k, v = _qkv(n, seed=1)
    q1 = q[:, 0]  # (b, d): one query per sequence
    expected = F.scaled_dot_product_attention(q1[:, None].expand_as(q).contiguous(), k, v, is_causal=True)
    torch.testing.assert_close(prefix_scan_attention(q1, k, v), expected, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(attention_rnn(q1, k, v), expected, atol=1e-12, rtol=1e-12)


def test_large_scores_do_not_overflow():
    q, k, v = _qkv(7, seed=2)
    out = prefix_scan_attention(300 * q, k, v)
    expected = F.scaled_dot_product_attention(300 * q, k, v, is_causal=True)
    torch.testing.assert_close(out, expected)


def _state(g, e=3):
    return (
        torch.randn((), generator=g, dtype=torch.float64),
        torch.rand((), generator=g, dtype=torch.float64) + 0.1,
        (torch.randn(e, generator=g, dtype=torch.float64)),
    )


def _direct_state(s, v):
    """(max s, sum e^(s - max), sum e^(s - max) v) of one block of scores s (n,) and values v (n, e), directly."""
    m = s.max()
    p = torch.exp(s - m)
    return m, p.sum(), p @ v


@pytest.mark.checks("prop-scan-combine")
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 12), shift=st.sampled_from([0.0, 40.0, -40.0]))
def test_combine_of_adjacent_blocks_is_the_state_of_their_union(seed, n, shift):
    g = torch.Generator().manual_seed(seed)
    s, v = 3 * torch.randn(n, generator=g, dtype=torch.float64), torch.randn(n, 3, generator=g, dtype=torch.float64)
    cut = 1 + seed % (n - 1)
    s[cut:] += shift  # one block far above the other: the smaller one must be rescaled, not overflow
    merged = scan_combine(_direct_state(s[:cut], v[:cut]), _direct_state(s[cut:], v[cut:]))
    for x, y in zip(merged, _direct_state(s, v), strict=True):
        torch.testing.assert_close(x, y, atol=1e-12, rtol=1e-12)


@pytest.mark.checks("prop-scan-combine")
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_combine_is_associative_with_identity(seed):
    g = torch.Generator().manual_seed(seed)
    a, b, c = _state(g), _state(g), _state(g)
    left, right = scan_combine(scan_combine(a, b), c), scan_combine(a, scan_combine(b, c))
    # compare the represented quantities u e^m and w e^m (m itself may differ only by the shift)
    for x, y in zip(left, right, strict=True):
        torch.testing.assert_close(x, y)
    f64 = torch.float64
    empty = (torch.tensor(float("-inf"), dtype=f64), torch.zeros((), dtype=f64), torch.zeros(3, dtype=f64))
    for x, y in zip(scan_combine(empty, a), a, strict=True):
        torch.testing.assert_close(x, y.to(x.dtype))


def test_gradcheck_float64():
    q, k, v = (x.requires_grad_() for x in _qkv(5, seed=3, b=1, d=2, e=2))
    assert torch.autograd.gradcheck(prefix_scan_attention, (q, k, v))
