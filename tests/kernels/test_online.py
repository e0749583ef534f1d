"""The online softmax in plain torch against ``F.scaled_dot_product_attention`` (float64), and the merge's algebra."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from kernel_cases import randn

from minitorch_xf.kernels.online import block_state, merge_states, online_attention

pytestmark = pytest.mark.ch13


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("s", "t", "block"), [(10, 10, 4), (7, 23, 5), (16, 16, 16), (3, 9, 1)])
def test_online_attention_is_exact(s, t, block, causal):
    q, k, v = randn(s, 8, dtype=torch.float64), randn(t, 8, seed=1, dtype=torch.float64), randn(t, 8, seed=2).double()
    out, trace = online_attention(q, k, v, block=block, causal=causal)
    expected = F.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=causal)[0]
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=1e-12)
    x = (q @ k.T) / 8**0.5
    if causal:
        x = x.masked_fill(torch.ones(s, t, dtype=torch.bool).triu(1), float("-inf"))
    torch.testing.assert_close(trace["max"][-1], x.max(1).values)  # the running max ends at the row max
    torch.testing.assert_close(trace["sum"][-1], torch.exp(x - x.max(1).values[:, None]).sum(1))
    assert trace["max"].shape == (-(-t // block) + 1, s)
    assert bool((trace["max"][1:] >= trace["max"][:-1]).all())  # never decreases


def test_causal_tiles_are_the_lower_block_triangle():
    _, trace = online_attention(randn(8, 4), randn(8, 4), randn(8, 4), block=2, causal=True)
    assert torch.equal(trace["visited"], torch.ones(4, 4, dtype=torch.bool).tril())


@pytest.mark.checks("lem-merge-states")
@given(split=st.integers(1, 11), seed=st.integers(0, 2**16), shift=st.sampled_from([0.0, 60.0, -60.0]))
def test_merge_of_two_blocks_equals_the_whole(split, seed, shift):
    x, v = randn(4, 12, seed=seed, dtype=torch.float64) * 5, randn(12, 3, seed=seed + 1, dtype=torch.float64)
    x[:, split:] += shift  # one block's logits far above the other's: the merge must rescale, not overflow
    m = x.max(1).values  # the state of the whole, from torch.softmax (independent of the package)
    whole = (m, torch.exp(x - m[:, None]).sum(1), torch.softmax(x, -1) @ v)
    a, b = block_state(x[:, :split], v[:split]), block_state(x[:, split:], v[split:])
    for got_ab, got_ba, want in zip(merge_states(a, b), merge_states(b, a), whole, strict=True):
        torch.testing.assert_close(got_ab, want, atol=1e-12, rtol=1e-12)
        torch.testing.assert_close(got_ba, want, atol=1e-12, rtol=1e-12)  # the merge is commutative


def test_empty_state_is_the_identity():
    x, v = randn(3, 5, dtype=torch.float64), randn(5, 2, dtype=torch.float64)
    state = block_state(x, v)
    empty = block_state(torch.full((3, 2), float("-inf"), dtype=torch.float64), v[:2])
    for got, want in zip(merge_states(empty, state), state, strict=True):
        torch.testing.assert_close(got, want)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="x has 5 columns but v has 4 rows"):
        block_state(randn(2, 5), randn(4, 3))
    with pytest.raises(ValueError, match="block=0"):
        online_attention(randn(2, 4), randn(3, 4), randn(3, 4), block=0)
