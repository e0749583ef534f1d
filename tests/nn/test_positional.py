"""Sinusoidal table against numpy; RoPE: relative-position property, norm preservation, complex reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch_xf.nn.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    sinusoidal_table,
)

pytestmark = pytest.mark.ch01

F64 = torch.float64


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_sinusoidal_table_matches_numpy():
    n, m = 50, 16
    table = np.zeros((n, m))
    for p in range(n):
        for i in range(m // 2):
            angle = p / 10000 ** (2 * i / m)
            table[p, 2 * i], table[p, 2 * i + 1] = math.sin(angle), math.cos(angle)
    ours = sinusoidal_table(n, m)
    torch.testing.assert_close(ours, torch.from_numpy(table).float())


def test_sinusoidal_module_adds_table():
    pe = SinusoidalPositionalEncoding(8, max_len=10)
    x = torch.randn(2, 7, 8)
    torch.testing.assert_close(pe(x) - x, sinusoidal_table(7, 8).expand(2, 7, 8))
    assert len(list(pe.parameters())) == 0


def test_learned_positions_shape_and_params():
    pe = LearnedPositionalEmbedding(8, max_len=10)
    x = torch.zeros(2, 4, 8)
    torch.testing.assert_close(pe(x), pe.table[:4].expand(2, 4, 8))


def rope_complex_reference(x: torch.Tensor, base: float = 10000.0, offset: int = 0) -> torch.Tensor:
    """Pair (x_i, x_{i+d/2}) as the complex number x_i + i x_{i+d/2} and multiply by exp(i p theta_i)."""
    n, d = x.shape[-2], x.shape[-1]
    theta = base ** (-np.arange(0, d, 2) / d)
    pos = np.arange(offset, offset + n)[:, None]
    rot = np.exp(1j * pos * theta)  # (n, d/2)
    xn = x.detach().numpy()
    z = (xn[..., : d // 2] + 1j * xn[..., d // 2 :]) * rot
    return torch.from_numpy(np.concatenate([z.real, z.imag], axis=-1))


@pytest.mark.parametrize("offset", [0, 5])
def test_rope_matches_complex_reference(offset):
    rope = RotaryEmbedding(8)
    x = rand(2, 3, 6, 8)
    torch.testing.assert_close(rope(x, offset=offset), rope_complex_reference(x, offset=offset), atol=1e-5, rtol=1e-5)


@pytest.mark.checks("prop-rope-relative")
def test_rope_preserves_norm():
    x = rand(2, 7, 16)
    torch.testing.assert_close(RotaryEmbedding(16)(x).norm(dim=-1), x.norm(dim=-1))


@pytest.mark.checks("prop-rope-relative")
@settings(deadline=None, max_examples=25)
@given(p=st.integers(0, 60), r=st.integers(0, 60), shift=st.integers(0, 60), seed=st.integers(0, 1000))
def test_rope_dot_product_depends_only_on_offset(p, r, shift, seed):
    rope = RotaryEmbedding(8)
    q, k = rand(1, 8, seed=seed), rand(1, 8, seed=seed + 1)
    dot = (rope(q, offset=p) * rope(k, offset=r)).sum()
    shifted = (rope(q, offset=p + shift) * rope(k, offset=r + shift)).sum()
    torch.testing.assert_close(dot, shifted, atol=1e-5, rtol=1e-5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="d_model=7"):
        sinusoidal_table(4, 7)
    with pytest.raises(ValueError, match="dim=5"):
        RotaryEmbedding(5)
    with pytest.raises(ValueError, match="RoPE dim 8"):
        RotaryEmbedding(8)(torch.randn(3, 6))
    with pytest.raises(ValueError, match="sequence length 11 exceeds max_len=10"):
        SinusoidalPositionalEncoding(8, max_len=10)(torch.randn(1, 11, 8))
    with pytest.raises(ValueError, match="sequence length 11 exceeds max_len=10"):
        LearnedPositionalEmbedding(8, max_len=10)(torch.randn(1, 11, 8))
    with pytest.raises(TypeError, match="int64"):
        RotaryEmbedding(8)(torch.ones(3, 8, dtype=torch.long))
