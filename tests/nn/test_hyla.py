"""HYLA and the hypernetwork view of attention, against independent references: plain loops over (head, query,
key) written from the paper's equations, and torch's own ``nn.MultiheadAttention``."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch_xf.nn.hyla import (
    HypernetworkAttention,
    HypernetworkTransformer,
    head_scores,
    hypernetwork_weights,
    rms_head_norm,
)

pytestmark = pytest.mark.ch11


def _layer(kind: str, m: int = 6, h: int = 3, d: int = 2, seed: int = 0) -> HypernetworkAttention:
    torch.manual_seed(seed)
    return HypernetworkAttention(m, h, d, kind).double()


def _loop_attention(layer: HypernetworkAttention, x: torch.Tensor) -> torch.Tensor:
    """The paper's equations, one (query, key, head) at a time: scores, then the value network per pair."""
    h, d = layer.n_heads, layer.d_head
    wq = layer.w_q.weight.view(h, d, -1)  # W_Q^h (d, m)
    wk = layer.w_k.weight.view(h, d, -1)
    wv = layer.w_v.weight.view(h, d, -1)  # W_V^h (e, m)
    wo = layer.w_o.weight.view(-1, h, d)  # W_O^h = wo[:, h] (m, e)
    out = torch.zeros_like(x)
    for b in range(x.shape[0]):  # under no_grad from the caller
        n = x.shape[1]
        raw = torch.zeros(h, n, n, dtype=x.dtype)
        for hh in range(h):
            for q in range(n):
                for k in range(n):
                    raw[hh, q, k] = (wq[hh] @ x[b, q]) @ (wk[hh] @ x[b, k]) / math.sqrt(d)
        if layer.kind == "softmax":
            a = torch.stack(
                [torch.stack([raw[hh, q].exp() / raw[hh, q].exp().sum() for q in range(n)]) for hh in range(h)]
            )
        elif layer.kind == "linear":
            a = raw
        else:
            a = torch.zeros_like(raw)
            for q in range(n):
                for k in range(n):
                    rms = math.sqrt(sum(float(raw[hh, q, k]) ** 2 for hh in range(h)) / h + 1e-6)
                    a[:, q, k] = raw[:, q, k] / rms
        for q in range(n):
            for k in range(n):
                if layer.kind == "hyla":
                    hidden = torch.relu(sum(a[hh, q, k] * (wv[hh] @ x[b, k]) for hh in range(h)))
                    out[b, q] += sum(a[hh, q, k] * (wo[:, hh] @ hidden) for hh in range(h))
                else:
                    out[b, q] += sum(a[hh, q, k] * (wo[:, hh] @ (wv[hh] @ x[b, k])) for hh in range(h))
    return out


@pytest.mark.parametrize("kind", ["softmax", "linear", "hyla"])
def test_layer_matches_a_loop_over_the_papers_equations(kind):
    layer = _layer(kind)
    x = torch.randn(2, 4, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), _loop_attention(layer, x), atol=1e-10, rtol=1e-10)


@pytest.mark.checks("thm-attention-hypernetwork")
def test_softmax_kind_is_torch_multihead_attention_and_its_hypernetwork_rewriting():
    """MHA_q = sum_k (sum_h a_hqk W_O^h W_V^h) x_k, with a and MHA both from torch's nn.MultiheadAttention."""
    m, h = 8, 4
    torch.manual_seed(3)
    mha = torch.nn.MultiheadAttention(m, h, bias=False, batch_first=True).double()
    layer = HypernetworkAttention(m, h, kind="softmax").double()
    with torch.no_grad():
        wq, wk, wv = mha.in_proj_weight.chunk(3)
        layer.w_q.weight.copy_(wq)
        layer.w_k.weight.copy_(wk)
        layer.w_v.weight.copy_(wv)
        layer.w_o.weight.copy_(mha.out_proj.weight)
    x = torch.randn(3, 5, m, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    expected, a_torch = mha(x, x, x, average_attn_weights=False)  # (b, s, m), (b, h, s, t)
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(layer.scores(x), a_torch)
    w_qk = hypernetwork_weights(a_torch, wv, mha.out_proj.weight)  # (b, s, t, m, m)
    rewritten = torch.einsum("bstmn,btn->bsm", w_qk, x)
    torch.testing.assert_close(rewritten, expected, atol=1e-12, rtol=1e-10)


@pytest.mark.checks("prop-rms-head")
def test_latent_code_is_the_scores_along_heads():
    layer = _layer("hyla")
    x = torch.randn(2, 5, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    z = layer.latent_code(x)  # (b, s, t, h)
    assert z.shape == (2, 5, 5, 3)
    layer.kind = "linear"  # the raw scores q.k / sqrt(d) of the same weights
    ms = layer.latent_code(x).pow(2).mean(-1)  # (b, s, t): mean square over heads
    layer.kind = "hyla"
    torch.testing.assert_close(z.pow(2).mean(-1), ms / (ms + 1e-6))  # unit RMS up to the epsilon
    _, a = layer(x, return_scores=True)
    torch.testing.assert_close(z, a.permute(0, 2, 3, 1))


@pytest.mark.checks("prop-rms-head")
@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.floats(0.1, 100.0), st.integers(0, 2**16))
def test_rms_head_norm_is_scale_invariant_with_unit_rms(h, scale, seed):
    z = torch.randn(2, h, 3, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    s = z.sign() * (z.abs() + 0.1)  # |s| >= 0.1, so the epsilon 1e-12 moves nothing beyond 1e-10 (relative)
    a = rms_head_norm(s, eps=1e-12)  # scale invariance is exact only without the epsilon
    torch.testing.assert_close(rms_head_norm(scale * s, eps=1e-12), a)
    rms = a.pow(2).mean(1)
    assert bool((rms <= 1 + 1e-9).all()) and bool((rms > 0.99).all())


def test_head_scores_softmax_rows_sum_to_one_and_linear_is_raw():
    g = torch.Generator().manual_seed(5)
    q, k = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64), torch.randn(2, 3, 6, 5, generator=g).double()
    torch.testing.assert_close(head_scores(q, k, "softmax").sum(-1), torch.ones(2, 3, 4, dtype=torch.float64))
    torch.testing.assert_close(head_scores(q, k, "linear"), torch.einsum("bhsd,bhtd->bhst", q, k) / math.sqrt(5))


@pytest.mark.parametrize("kind", ["softmax", "linear", "hyla"])
def test_gradcheck_float64(kind):
    layer = _layer(kind, m=4, h=2, d=2)
    x = torch.randn(1, 3, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))


@pytest.mark.parametrize("kind", ["softmax", "linear", "hyla"])
def test_transformer_shapes_and_codes(kind):
    torch.manual_seed(0)
    model = HypernetworkTransformer(5, 2, max_len=7, d_model=8, n_heads=2, n_layers=2, kind=kind)
    out, codes = model(torch.randn(3, 7, 5), return_codes=True)
    assert out.shape == (3, 7, 2) and len(codes) == 2 and codes[0].shape == (3, 7, 7, 2)
    assert model(torch.randn(3, 4, 5)).shape == (3, 4, 2)  # shorter sequences use the first positions
