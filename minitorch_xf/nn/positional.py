r"""Positional information: sinusoidal and learned absolute encodings, and rotary embeddings (RoPE).

Shapes: b batch, n positions, m model dim, h heads, d head dim.

Sinusoidal (Vaswani et al., 2017, sec. 3.5):
$PE_{p,2i} = \sin(p / 10000^{2i/m})$, $PE_{p,2i+1} = \cos(p / 10000^{2i/m})$.

RoPE (Su et al., 2021): rotate each pair $(x_{i}, x_{i+d/2})$ of a query/key at position $p$ by the angle
$p\,\theta_i$ with $\theta_i = \mathrm{base}^{-2i/d}$, so that $\langle R_p q, R_r k\rangle$ depends on $p-r$ only.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import check_like_module, check_number, check_positive, check_size, check_tensor

__all__ = ["LearnedPositionalEmbedding", "RotaryEmbedding", "SinusoidalPositionalEncoding", "sinusoidal_table"]


def sinusoidal_table(n: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """The (n, m) table of sinusoidal encodings; m must be even and ``base`` a finite number > 0."""
    check_positive("n", n)
    check_positive("d_model", d_model)
    if d_model % 2:
        raise ValueError(f"d_model={d_model} must be even for sinusoidal encodings")
    base = check_number("base", base, low=0, low_open=True)
    check_size(f"sinusoidal_table(n={n}, d_model={d_model})", n * d_model)
    pos = torch.arange(n, dtype=torch.float64)[:, None]  # (n, 1)
    freq = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (m/2,)
    table = torch.zeros(n, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table.float()


def _check_positions(x: torch.Tensor, max_len: int, d_model: int) -> None:
    check_tensor("x", x, ndim=3, floating=True)
    if x.shape[-1] != d_model:
        raise ValueError(f"x has shape {tuple(x.shape)}; its last dim must be d_model={d_model}")
    if x.shape[1] > max_len:
        raise ValueError(f"sequence length {x.shape[1]} exceeds max_len={max_len}")


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table to x (b, n, m); no parameters."""

    def __init__(self, d_model: int, max_len: int = 512):
        super().__init__()
        check_positive("d_model", d_model)
        check_positive("max_len", max_len)
        self.d_model, self.max_len = d_model, max_len
        self.register_buffer("table", sinusoidal_table(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_positions(x, self.max_len, self.d_model)
        return x + self.table[: x.shape[1]].to(x.dtype)  # (b, n, m)


class LearnedPositionalEmbedding(nn.Module):
    """Adds a learned (max_len, m) table to x (b, n, m) (GPT-2 style)."""

    def __init__(self, d_model: int, max_len: int = 512):
        super().__init__()
        check_positive("d_model", d_model)
        check_positive("max_len", max_len)
        check_size(f"LearnedPositionalEmbedding(d_model={d_model}, max_len={max_len})'s table", max_len * d_model)
        self.d_model, self.max_len = d_model, max_len
        self.table = nn.Parameter(0.02 * torch.randn(max_len, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_positions(x, self.max_len, self.d_model)
        check_like_module("x", x, self)  # a float64 x would silently come back float64 from a float32 table
        return x + self.table[: x.shape[1]]


class RotaryEmbedding(nn.Module):
    """Rotary position embedding applied to queries or keys of shape (..., n, d); d must be even.

    ``offset`` (an int >= 0, with offset + n <= 2**24, where float32 positions stay exact) shifts the positions
    (useful with cached keys); ``base`` is a finite number > 0.
    """

    def __init__(self, dim: int, base: float = 10000.0):
        super().__init__()
        check_positive("dim", dim)
        if dim % 2:
            raise ValueError(f"RoPE needs an even head dim, got dim={dim}")
        check_size(f"RotaryEmbedding(dim={dim})'s frequencies", dim // 2)
        base = check_number("base", base, low=0, low_open=True)
        self.dim, self.base = dim, base
        self.register_buffer(
            "inv_freq", base ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim), persistent=False
        )

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        check_tensor("x", x, min_ndim=2, floating=True)
        if x.shape[-1] != self.dim:
            raise ValueError(f"x has shape {tuple(x.shape)}; its last dim must be the RoPE dim {self.dim}")
        offset = check_positive("offset", offset, allow_zero=True)
        n = x.shape[-2]
        if offset + n > 2**24:  # positions are float32: integers past 2**24 are no longer exact
            raise ValueError(
                f"offset={offset} + n={n} positions exceed 2**24, past which float32 positions are inexact"
            )
        pos = torch.arange(offset, offset + n, device=x.device, dtype=torch.float32)  # (n,)
        angles = pos[:, None] * self.inv_freq.to(x.device)[None, :]  # (n, d/2)
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        x1, x2 = x[..., : self.dim // 2], x[..., self.dim // 2 :]  # (..., n, d/2) each
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)  # (..., n, d)
