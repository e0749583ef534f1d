"""Tensor attention against independent references: triple loops over (query, key pair) in float64 written from
Alman & Song's definition, and torch's own ``F.scaled_dot_product_attention`` on the materialized pairs."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from minitorch_xf.nn.attention import scaled_dot_product_attention
from minitorch_xf.nn.higher_order import (
    OneLayerClassifier,
    TensorAttention,
    khatri_rao,
    match3_head,
    match3_sharpness,
    polynomial_tensor_attention,
    tensor_attention,
    tensor_attention_explicit,
)
from minitorch_xf.tasks.match3 import match3_batch, match3_labels, match3_worst_case

pytestmark = pytest.mark.ch08


def _five(s, t1, t2, d, e, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    q = scale * torch.randn(s, d, generator=g, dtype=torch.float64)
    k1 = torch.randn(t1, d, generator=g, dtype=torch.float64)
    k2 = torch.randn(t2, d, generator=g, dtype=torch.float64)
    v1 = torch.randn(t1, e, generator=g, dtype=torch.float64)
    v2 = torch.randn(t2, e, generator=g, dtype=torch.float64)
    return q, k1, k2, v1, v2


def _loops(q, k1, k2, v1, v2, c=1.0):
    """D^{-1} exp(Q (K1 ⊘ K2)^T)(V1 ⊘ V2), one query and one pair (j, k) at a time, with math.exp."""
    s, t1, t2, e = q.shape[0], k1.shape[0], k2.shape[0], v1.shape[1]
    out = torch.zeros(s, e, dtype=torch.float64)
    for i in range(s):
        scores = {
            (j, k): c * sum(float(q[i, a] * k1[j, a] * k2[k, a]) for a in range(q.shape[1]))
            for j in range(t1)
            for k in range(t2)
        }
        top = max(scores.values())
        weights = {jk: math.exp(sc - top) for jk, sc in scores.items()}
        total = sum(weights.values())
        for (j, k), w in weights.items():
            out[i] += (w / total) * v1[j] * v2[k]
    return out


def test_khatri_rao_rows_are_entrywise_products():
    a = torch.arange(6.0).view(2, 3)
    b = torch.arange(9.0).view(3, 3) + 1
    kr = khatri_rao(a, b)
    assert kr.shape == (6, 3)
    for j in range(2):
        for k in range(3):
            torch.testing.assert_close(kr[j * 3 + k], a[j] * b[k])


def test_khatri_rao_gram_identity():
    """(A ⊘ B)^T (C ⊘ D) = (A^T C) ∘ (B^T D): summing over all pairs (j, k) factorizes into two sums."""
    g = torch.Generator().manual_seed(1)
    a, c = torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(3, 2, generator=g, dtype=torch.float64)
    b, d = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(5, 2, generator=g, dtype=torch.float64)
    kr_ab = khatri_rao(a[:, :2], b[:, :2])  # (15, 2)
    torch.testing.assert_close(kr_ab.T @ khatri_rao(c, d), (a[:, :2].T @ c) * (b[:, :2].T @ d))


@pytest.mark.checks("lem-two-forms")
@pytest.mark.parametrize("s,t1,t2,d,e", [(1, 1, 1, 1, 1), (3, 4, 2, 3, 2), (4, 3, 5, 2, 3)])
@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_both_forms_match_triple_loops(s, t1, t2, d, e, scale):
    args = _five(s, t1, t2, d, e, seed=s + t1, scale=scale)
    expected = _loops(*args)
    torch.testing.assert_close(tensor_attention(*args), expected, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(tensor_attention_explicit(*args), expected, atol=1e-10, rtol=1e-10)


def test_explicit_form_equals_torch_sdpa_on_materialized_pairs():
    q, k1, k2, v1, v2 = _five(5, 4, 6, 3, 2, seed=3)
    keys = torch.stack([k1[j] * k2[k] for j in range(4) for k in range(6)])
    values = torch.stack([v1[j] * v2[k] for j in range(4) for k in range(6)])
    expected = F.scaled_dot_product_attention(q[None], keys[None], values[None], scale=0.5)[0]
    torch.testing.assert_close(tensor_attention(q, k1, k2, v1, v2, scale=0.5), expected)


def test_batched_dims_and_large_scores():
    g = torch.Generator().manual_seed(4)
    q, k1, k2, v1, v2 = (30 * torch.randn(2, 3, 4, 3, generator=g, dtype=torch.float64) for _ in range(5))
    out = tensor_attention(q, k1, k2, v1, v2)
    assert out.shape == (2, 3, 4, 3) and torch.isfinite(out).all()
    torch.testing.assert_close(out[1, 2], _loops(q[1, 2], k1[1, 2], k2[1, 2], v1[1, 2], v2[1, 2]))


def test_ones_in_second_set_reduce_to_standard_attention():
    """K2 = 1 and V2 = 1 make every pair (j, k) a copy of key j: t2 equal copies leave softmax attention unchanged."""
    q, k1, _, v1, _ = _five(4, 5, 3, 3, 2, seed=5)
    ones_k, ones_v = torch.ones(3, 3, dtype=torch.float64), torch.ones(3, 2, dtype=torch.float64)
    expected = F.scaled_dot_product_attention(q, k1, v1, scale=1.0)
    torch.testing.assert_close(tensor_attention(q, k1, ones_k, v1, ones_v), expected)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 10_000))
def test_property_forms_agree_and_weights_average(s, t, d, seed):
    """Both forms agree; with V1 = V2 = a constant c the output is c^2 (weights sum to one)."""
    q, k1, k2, v1, v2 = _five(s, t, t + 1, d, 2, seed=seed, scale=3.0)
    torch.testing.assert_close(tensor_attention(q, k1, k2, v1, v2), tensor_attention_explicit(q, k1, k2, v1, v2))
    c1, c2 = torch.full_like(v1, 0.5), torch.full_like(v2, 3.0)
    torch.testing.assert_close(tensor_attention(q, k1, k2, c1, c2), torch.full((s, 2), 1.5, dtype=torch.float64))


def test_gradcheck_float64():
    args = [x.requires_grad_() for x in _five(2, 3, 2, 2, 2, seed=6)]
    assert torch.autograd.gradcheck(tensor_attention, args)


def test_tensor_attention_layer_matches_loops():
    torch.manual_seed(0)
    layer = TensorAttention(4, 3).double()
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    with torch.no_grad():
        out = layer(x)
        for b in range(2):
            xb = x[b]
            inner = _loops(
                xb @ layer.w_q.weight.T,
                xb @ layer.w_k1.weight.T,
                xb @ layer.w_k2.weight.T,
                xb @ layer.w_v1.weight.T,
                xb @ layer.w_v2.weight.T,
                c=1 / 3,
            )
            torch.testing.assert_close(out[b], inner @ layer.w_o.weight.T)


@pytest.mark.parametrize("order", [2, 3])
def test_classifier_shapes_and_permutation_equivariance(order):
    torch.manual_seed(0)
    model = OneLayerClassifier(7, 8, order=order).double()
    x = torch.randint(0, 7, (3, 6), generator=torch.Generator().manual_seed(2))
    perm = torch.tensor([5, 3, 0, 1, 4, 2])
    with torch.no_grad():
        out = model(x)
        assert out.shape == (3, 6)
        torch.testing.assert_close(model(x[:, perm]), out[:, perm])


@pytest.mark.parametrize("length,modulus", [(3, 7), (5, 23), (8, 47)])
def test_match3_head_separates_matches(length, modulus):
    """The hand-built head's readout is above (1 + cos(2π/M))/2 exactly where the triple-loop labels are 1."""
    x, _ = match3_batch(300, length, modulus, torch.Generator().manual_seed(modulus))
    readout = match3_head(x, modulus)
    threshold = (1 + math.cos(2 * math.pi / modulus)) / 2
    torch.testing.assert_close((readout > threshold).float(), match3_labels(x, modulus))
    assert float(readout.max()) <= 1 + 1e-12


def _threshold(modulus):
    return (1 + math.cos(2 * math.pi / modulus)) / 2


@pytest.mark.checks("prop-match3-head")
@pytest.mark.parametrize("length,modulus", [(2, 5), (3, 7), (4, 7), (4, 9), (3, 11), (5, 5)])
def test_bound_sharpness_is_exact_on_every_sequence(length, modulus):
    """The proposition's claim for all inputs, checked on all M^n sequences against the triple-loop labels."""
    x = torch.tensor(list(itertools.product(range(modulus), repeat=length)))  # (M^n, n): every sequence
    pred = (match3_head(x, modulus, match3_sharpness(length, modulus)) > _threshold(modulus)).float()
    torch.testing.assert_close(pred, match3_labels(x, modulus), atol=0, rtol=0)


@pytest.mark.checks("prop-match3-head")
@pytest.mark.parametrize("length,modulus", [(4, 7), (5, 23), (8, 47), (12, 97), (20, 199)])
def test_bound_sharpness_is_exact_on_worst_cases_and_a_quarter_of_it_is_not(length, modulus):
    """At λ* = match3_sharpness(n, M) the head classifies the proof's worst case right; at λ*/4 it calls the lone
    zero (whose only match is itself, beside (n-1)^2 near misses) negative in every sample."""
    x, y, where = match3_worst_case(50, length, modulus, torch.Generator().manual_seed(length))
    lam = match3_sharpness(length, modulus)
    rows = torch.arange(len(x))
    exact = (match3_head(x, modulus, lam) > _threshold(modulus)).float()
    torch.testing.assert_close(exact, y, atol=0, rtol=0)
    assert bool((y[rows, where] == 1).all())
    low = match3_head(x, modulus, lam / 4)[rows, where]
    assert bool((low <= _threshold(modulus)).all()), f"lambda*/4 = {lam / 4:.1f} still separates: {low.min():.6f}"


@pytest.mark.parametrize("length,modulus", [(3, 7), (6, 23), (12, 97)])
def test_worst_case_readout_crosses_where_the_closed_form_says(length, modulus):
    """On the worst case, the zero's readout is a mean over three kinds of pairs: (i, i) with cosine 1, (n-1)^2 near
    misses with cos(2π/M), 2(n-1) pairs (0, a) with -cos(π/M). It is above the threshold iff
    (δ/2)(1 - (n-1)^2 e^{-λδ}) > 2(n-1) e^{-λ(1 + cos(π/M))} (cos(π/M) + T): the head against that closed form."""
    x, _, where = match3_worst_case(1, length, modulus, torch.Generator().manual_seed(0))
    delta, c_half, t = 1 - math.cos(2 * math.pi / modulus), math.cos(math.pi / modulus), _threshold(modulus)
    critical = 2 * math.log(length - 1) / delta  # where (n-1)^2 e^{-λδ} = 1
    for lam in [critical * f for f in (0.5, 0.8, 0.95, 1.05, 1.2, 2.0)]:
        lhs = delta / 2 * (1 - (length - 1) ** 2 * math.exp(-lam * delta))
        rhs = 2 * (length - 1) * math.exp(-lam * (1 + c_half)) * (c_half + t)
        readout = float(match3_head(x, modulus, lam)[0, where[0]])
        assert (readout > t) == (lhs > rhs), (lam, readout, t, lhs, rhs)
    assert critical < match3_sharpness(length, modulus) < 4 * critical


def test_match3_head_default_sharpness_is_the_bound():
    x, _ = match3_batch(20, 6, 31, torch.Generator().manual_seed(1))
    torch.testing.assert_close(match3_head(x, 31), match3_head(x, 31, match3_sharpness(6, 31)))


def _poly_loops(q, k1, k2, v1, v2, coeffs):
    """Normalized p(score) attention, one query and one pair (j, k) at a time, p evaluated by Horner's rule."""
    out = torch.zeros(q.shape[0], v1.shape[1], dtype=torch.float64)
    for i in range(q.shape[0]):
        total, acc = 0.0, torch.zeros(v1.shape[1], dtype=torch.float64)
        for j in range(k1.shape[0]):
            for k in range(k2.shape[0]):
                s = sum(float(q[i, a] * k1[j, a] * k2[k, a]) for a in range(q.shape[1]))
                p = 0.0
                for a_m in reversed(coeffs):
                    p = p * s + a_m
                total += p
                acc += p * v1[j] * v2[k]
        out[i] = acc / total
    return out


@pytest.mark.checks("lem-poly-factor")
@pytest.mark.parametrize("degree,d", [(0, 2), (2, 3), (4, 2), (6, 3)])
def test_polynomial_attention_matches_entrywise_polynomial(degree, d):
    """The factored form (features, two sums) equals p applied to every score, for positive even-degree p."""
    g = torch.Generator().manual_seed(degree)
    coeffs = [1 / math.factorial(m) for m in range(degree + 1)]  # Taylor of exp: positive for even degree
    q, k1, k2 = (torch.randn(n, d, generator=g, dtype=torch.float64) for n in (3, 4, 5))
    v1, v2 = torch.randn(4, 2, generator=g, dtype=torch.float64), torch.randn(5, 2, generator=g, dtype=torch.float64)
    expected = _poly_loops(q, k1, k2, v1, v2, coeffs)
    torch.testing.assert_close(polynomial_tensor_attention(q, k1, k2, v1, v2, coeffs), expected)


def test_polynomial_attention_approaches_exp_for_small_entries():
    """Degree 12 Taylor on scores below d B^3 = 0.1: the same output as softmax tensor attention to 1e-12."""
    g = torch.Generator().manual_seed(2)
    q, k1, k2, v1, v2 = ((2 * torch.rand(2, 6, 4, generator=g, dtype=torch.float64) - 1) * 0.29 for _ in range(5))
    coeffs = torch.tensor([1 / math.factorial(m) for m in range(13)], dtype=torch.float64)
    out = polynomial_tensor_attention(q, k1, k2, v1, v2, coeffs)
    torch.testing.assert_close(out, tensor_attention(q, k1, k2, v1, v2), atol=1e-12, rtol=1e-10)


def _flops(fn, *args):
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops()


@pytest.mark.checks("prop-cubic-cost", "lem-poly-factor")
def test_counted_flops_scale_as_n3_n2_and_n():
    """Counted matmul FLOPs (FlopCounterMode) when n doubles: x8 for tensor attention, x4 for standard attention,
    x2 for the polynomial method (its features cost O(n r d), r = C(d+g, g) fixed)."""
    d, coeffs = 4, [1 / math.factorial(m) for m in range(5)]

    def five(n):
        return [torch.randn(n, d, dtype=torch.float64) for _ in range(5)]

    for n in (16, 32):
        small, big = five(n), five(2 * n)
        assert 7.5 <= _flops(tensor_attention, *big) / _flops(tensor_attention, *small) <= 8.0
        assert _flops(scaled_dot_product_attention, *big[:3]) == 4 * _flops(scaled_dot_product_attention, *small[:3])
        ratio = _flops(lambda *a: polynomial_tensor_attention(*a, coeffs), *big) / _flops(
            lambda *a: polynomial_tensor_attention(*a, coeffs), *small
        )
        assert ratio == pytest.approx(2.0, rel=1e-12), ratio
