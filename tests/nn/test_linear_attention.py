"""Linear attention (parallel and recurrent) and NormAttention against a quadratic reference written with loops."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch_xf.nn.kernelized import (
    NormAttention,
    elu_feature_map,
    linear_attention,
    linear_attention_recurrent,
    norm_linear_attention,
)

pytestmark = pytest.mark.ch12


def _qkv(b=2, h=3, n=7, d=4, e=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, h, n, x, generator=g, dtype=torch.float64) for x in (d, d, e))


def _loop_reference(q, k, v, causal, normalize=True):
    """Quadratic form, one query and one key at a time: sum_j phi(q_i).phi(k_j) v_j over the allowed keys."""
    fq, fk = elu_feature_map(q), elu_feature_map(k)
    out = torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype)
    for i in range(q.shape[-2]):
        num, den = 0.0, 0.0
        for j in range(k.shape[-2] if not causal else i + 1):
            a = (fq[..., i, :] * fk[..., j, :]).sum(-1, keepdim=True)  # (..., 1)
            num, den = num + a * v[..., j, :], den + a
        out[..., i, :] = num / (den + 1e-6) if normalize else num
    return out


@pytest.mark.parametrize("causal", [False, True])
def test_parallel_matches_the_loop_reference(causal):
    q, k, v = _qkv()
    torch.testing.assert_close(linear_attention(q, k, v, causal=causal), _loop_reference(q, k, v, causal))


def test_recurrent_matches_the_loop_reference_and_the_parallel_form():
    q, k, v = _qkv(n=9, seed=1)
    rec = linear_attention_recurrent(q, k, v)
    torch.testing.assert_close(rec, _loop_reference(q, k, v, True))
    torch.testing.assert_close(rec, linear_attention(q, k, v, causal=True), atol=1e-12, rtol=1e-12)


@pytest.mark.checks("prop-linear-rnn")
@pytest.mark.parametrize("n", [1, 5, 12])
def test_state_is_d_by_e_plus_d_whatever_n_and_carries_the_whole_prefix(n):
    """The state after n tokens is (sum_j phi(k_j) v_j^T, sum_j phi(k_j)) -- d(e + 1) numbers for every n -- and
    continuing from it gives the same outputs as running the whole sequence (checked against the loop reference)."""
    q, k, v = _qkv(n=2 * n, seed=7)
    whole = _loop_reference(q, k, v, True)
    first, (s_state, z) = linear_attention_recurrent(q[..., :n, :], k[..., :n, :], v[..., :n, :], return_state=True)
    assert s_state.shape == (2, 3, 4, 5) and z.shape == (2, 3, 4)  # (b, h, d, e) and (b, h, d): no n anywhere
    fk = elu_feature_map(k[..., :n, :])
    torch.testing.assert_close(s_state, torch.einsum("bhnd,bhne->bhde", fk, v[..., :n, :]))
    torch.testing.assert_close(z, fk.sum(-2))
    rest = linear_attention_recurrent(q[..., n:, :], k[..., n:, :], v[..., n:, :], state=(s_state, z))
    torch.testing.assert_close(torch.cat([first, rest], dim=-2), whole)


def test_non_causal_with_fewer_queries_than_keys():
    q, k, v = _qkv(n=6, seed=2)
    q = q[..., :2, :]
    torch.testing.assert_close(linear_attention(q, k, v), _loop_reference(q, k, v, False))


@pytest.mark.parametrize("causal", [False, True])
def test_norm_attention_is_the_rms_normalized_unnormalized_form(causal):
    q, k, v = _qkv(seed=3)
    raw = _loop_reference(q, k, v, causal, normalize=False)
    expected = raw / torch.sqrt(raw.pow(2).mean(-1, keepdim=True) + 1e-6)
    torch.testing.assert_close(norm_linear_attention(q, k, v, causal=causal), expected)


def test_gradcheck_float64():
    q, k, v = (x.requires_grad_() for x in _qkv(1, 1, 4, 2, 2, seed=4))
    assert torch.autograd.gradcheck(lambda a, b, c: linear_attention(a, b, c, causal=True), (q, k, v))
    assert torch.autograd.gradcheck(lambda a, b, c: norm_linear_attention(a, b, c), (q, k, v))


def test_norm_attention_module_causality_and_shape():
    torch.manual_seed(5)
    attn = NormAttention(8, 2, causal=True)
    x = torch.randn(2, 6, 8)
    y = attn(x)
    assert y.shape == x.shape
    x2 = x.clone()
    x2[:, 4:] += 1.0  # change the future: the first four outputs must not move
    torch.testing.assert_close(attn(x2)[:, :4], y[:, :4])


@settings(max_examples=20, deadline=None)
@given(c=st.floats(0.1, 10.0))
def test_linear_attention_is_invariant_to_scaling_the_query_features(c):
    q, k, v = _qkv(1, 1, 5, 3, 2, seed=6)
    scaled = lambda x: c * elu_feature_map(x)  # noqa: E731
    torch.testing.assert_close(
        linear_attention(q, k, v, feature_map=scaled, eps=0.0), linear_attention(q, k, v, eps=0.0)
    )
