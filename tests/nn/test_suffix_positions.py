"""Queries that are a suffix of the context (issue 23, sec. 4): the last s rows of a full causal pass equal a pass of
those s queries against the whole context, and decoding one token at a time gives every row, with every position
scheme. RoPE must rotate the queries from their own positions t - s .. t - 1, not from 0."""

from __future__ import annotations

import pytest
import torch

from minitorch_xf.nn import Decoder, MultiHeadAttention, RotaryEmbedding
from minitorch_xf.nn.models import POSITIONS

pytestmark = pytest.mark.ch12


def _embedded(positions: str, n: int = 6, seed: int = 0):
    """A decoder's first attention and the embedded tokens it reads (absolute positions already added)."""
    torch.manual_seed(seed)
    model = Decoder(11, d_model=16, n_heads=2, n_layers=1, max_len=32, positions=positions).double()
    tokens = torch.randint(0, 11, (2, n), generator=torch.Generator().manual_seed(seed))
    h = model.pos(model.embed(tokens))  # (b, n, m)
    return model.blocks[0].attn, h


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("s", [1, 2, 5, 6])
def test_suffix_with_context_equals_the_last_rows_of_the_full_pass(positions, s):
    attn, h = _embedded(positions)
    full = attn(h, causal=True)  # (b, n, m)
    suffix = attn(h[:, -s:], context=h, causal=True)  # (b, s, m)
    torch.testing.assert_close(suffix, full[:, -s:], atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("positions", POSITIONS)
def test_decoding_one_token_at_a_time_equals_the_full_pass(positions):
    attn, h = _embedded(positions, n=7, seed=1)
    full = attn(h, causal=True)
    steps = [attn(h[:, i : i + 1], context=h[:, : i + 1], causal=True) for i in range(h.shape[1])]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-12, rtol=1e-12)


def test_rope_suffix_differs_without_the_offset():
    """The bug this guards against: rotating the queries from position 0 changes the suffix rows (by ~0.1 here)."""
    torch.manual_seed(0)
    rope = RotaryEmbedding(8)
    attn = MultiHeadAttention(16, 2, rope=rope).double()
    x = torch.randn(1, 6, 16, dtype=torch.float64)
    full = attn(x, causal=True)[:, -2:]
    q = attn.split_heads(attn.w_q(x[:, -2:]))  # (b, h, 2, d)
    k, v = attn.split_heads(attn.w_k(x)), attn.split_heads(attn.w_v(x))  # (b, h, 6, d)
    scores = rope(q) @ rope(k).transpose(-2, -1) / 8**0.5  # queries wrongly at positions 0, 1
    scores = scores.masked_fill(torch.ones(2, 6, dtype=torch.bool).tril(4).logical_not(), float("-inf"))
    wrong = attn.w_o((scores.softmax(-1) @ v).transpose(1, 2).reshape(1, 2, 16))
    assert (wrong - full).abs().max() > 1e-3
    torch.testing.assert_close(attn(x[:, -2:], context=x, causal=True), full, atol=1e-12, rtol=1e-12)


def test_more_queries_than_keys_shift_the_keys_instead():
    """s > t: query i sits at position i - (s - t); relative positions are what RoPE keeps, so rotating the keys
    from s - t gives the same scores as queries at negative positions would."""
    torch.manual_seed(2)
    rope = RotaryEmbedding(8)
    attn = MultiHeadAttention(16, 2, rope=rope).double()
    x, ctx = torch.randn(1, 5, 16, dtype=torch.float64), torch.randn(1, 3, 16, dtype=torch.float64)
    out = attn(x, context=ctx, causal=True)
    # rows 2..4 are queries at positions 0..2 against keys 0..2: the same as the last 3 queries alone
    torch.testing.assert_close(out[:, 2:], attn(x[:, 2:], context=ctx, causal=True), atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(out[:, :2], attn.w_o.bias.expand(1, 2, 16))  # no key seen: zero heads, bias only
