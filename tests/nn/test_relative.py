"""Tests for minitorch_xf.nn.relative against independent references: explicit loops over (i, j) for the Toeplitz
matrices, torch's attention with an additive float mask for RPE (C = 1), a loop for URPE."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from minitorch_xf.nn.relative import RelativeAttention, relative_attention, toeplitz

pytestmark = pytest.mark.ch05


def _loop_toeplitz(values: torch.Tensor, n: int) -> torch.Tensor:
    max_len = (values.shape[-1] + 1) // 2
    out = torch.empty(*values.shape[:-1], n, n, dtype=values.dtype)
    for i in range(n):
        for j in range(n):
            out[..., i, j] = values[..., i - j + max_len - 1]
    return out


@pytest.mark.parametrize(("n", "max_len"), [(1, 1), (4, 4), (3, 7)])
def test_toeplitz_matches_loop(n, max_len):
    values = torch.randn(2, 2 * max_len - 1, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    torch.testing.assert_close(toeplitz(values, n), _loop_toeplitz(values, n))


def test_toeplitz_is_constant_on_diagonals():
    t = toeplitz(torch.arange(9.0), 5)  # offsets -4..4 at 0..8
    for k in range(-4, 5):
        diag = torch.diagonal(t, offset=-k)  # entries with i - j = k
        torch.testing.assert_close(diag, torch.full_like(diag, k + 4.0))


def _qkv(seed, b=2, h=3, n=5, d=4, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, h, n, d, generator=g, dtype=dtype) for _ in range(3)]


def test_rpe_equals_sdpa_with_float_mask():
    q, k, v = _qkv(0)
    bias = toeplitz(torch.randn(3, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(1)), 5)
    torch.testing.assert_close(relative_attention(q, k, v, bias), F.scaled_dot_product_attention(q, k, v, bias))


def test_urpe_matches_loop():
    q, k, v = _qkv(2, b=1, h=2, n=4, d=3)
    g = torch.Generator().manual_seed(3)
    bias = toeplitz(torch.randn(2, 7, generator=g, dtype=torch.float64), 4)
    c = toeplitz(torch.randn(2, 7, generator=g, dtype=torch.float64), 4)
    expected = torch.zeros_like(v)
    for hh in range(2):
        for i in range(4):
            s = torch.stack([q[0, hh, i] @ k[0, hh, j] / 3**0.5 + bias[hh, i, j] for j in range(4)])
            a = torch.exp(s) / torch.exp(s).sum()
            for j in range(4):
                expected[0, hh, i] += a[j] * c[hh, i, j] * v[0, hh, j]
    torch.testing.assert_close(relative_attention(q, k, v, bias, c), expected)


def test_urpe_with_unit_c_is_rpe():
    q, k, v = _qkv(4)
    bias = toeplitz(torch.randn(3, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(5)), 5)
    torch.testing.assert_close(
        relative_attention(q, k, v, bias, torch.ones(5, 5, dtype=torch.float64)), relative_attention(q, k, v, bias)
    )


@pytest.mark.parametrize("seed", range(5))
def test_rpe_rows_identical_on_constant_input(seed):
    """The theorem: softmax rows sum to 1, so a constant input gives one output at every position."""
    torch.manual_seed(seed)
    layer = RelativeAttention(8, 2, max_len=6)
    with torch.no_grad():
        layer.rel_bias.normal_(0, 3)
        out = layer(torch.randn(1, 1, 8).expand(3, 6, 8))
    assert float((out - out[:, :1]).abs().max()) < 1e-5


def test_urpe_rows_differ_on_constant_input():
    torch.manual_seed(0)
    layer = RelativeAttention(8, 2, max_len=6, universal=True)
    with torch.no_grad():
        layer.rel_scale.normal_(1, 0.5)
        out = layer(torch.randn(1, 1, 8).expand(3, 6, 8))
    assert float((out - out[:, :1]).abs().max()) > 1e-2


def test_module_shapes_and_gradcheck():
    torch.manual_seed(0)
    layer = RelativeAttention(6, 3, max_len=5, universal=True).double()
    x = torch.randn(2, 4, 6, dtype=torch.float64, requires_grad=True)
    out, w = layer(x, return_weights=True)
    assert out.shape == (2, 4, 6) and w.shape == (2, 3, 4, 4)
    assert torch.autograd.gradcheck(lambda x: layer(x), (x,))
