r"""Relative-position attention (RPE) and universal RPE attention (URPE).

Shape glossary: b batch, h heads, n tokens (queries = keys), d head dim, m model dim, L max_len.

RPE attention adds a learned bias that depends only on the offset $i-j$ (Shaw et al., 2018; Raffel et al., 2020):
$$ \mathrm{RPE}(X) = \mathrm{softmax}\!\big(QK^\top/\sqrt d + B\big) V,\qquad B_{ij} = b_{i-j}. $$
URPE (Luo et al., 2022, eq. 4) multiplies the attention matrix entrywise by a learned Toeplitz matrix
$C_{ij} = c_{i-j}$, so that the rows no longer need to be stochastic:
$$ \mathrm{URPE}(X) = \big(\mathrm{softmax}(QK^\top/\sqrt d + B) \odot C\big) V. $$
The offsets $i-j \in \{-(L-1),\dots,L-1\}$ are stored at index $i-j+L-1$ of a vector of length $2L-1$.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validate import (
    check_divisible,
    check_flag,
    check_like_module,
    check_positive,
    check_same_device,
    check_same_dtype,
    check_size,
    check_tensor,
)
from .attention import softmax

__all__ = ["RelativeAttention", "relative_attention", "toeplitz"]


def toeplitz(values: torch.Tensor, n: int) -> torch.Tensor:
    r"""The (..., n, n) Toeplitz matrix $T_{ij} = \mathrm{values}[\ldots, i-j+L-1]$ from values (..., 2L-1), n <= L."""
    check_tensor("values", values, min_ndim=1)
    check_positive("n", n)
    check_size(f"toeplitz of values {tuple(values.shape)} and n={n}", math.prod(values.shape[:-1]) * n * n)
    size = values.shape[-1]
    if size % 2 == 0:
        raise ValueError(f"values has shape {tuple(values.shape)}: its last dim must be odd, 2 * max_len - 1")
    max_len = (size + 1) // 2
    if n > max_len:
        raise ValueError(f"n={n} exceeds max_len={max_len} (values has last dim {size} = 2 * max_len - 1)")
    i = torch.arange(n, device=values.device)[:, None]  # (n, 1)
    j = torch.arange(n, device=values.device)[None, :]  # (1, n)
    return values[..., i - j + max_len - 1]  # (..., n, n)


def relative_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: torch.Tensor,
    scale_matrix: torch.Tensor | None = None,
    return_weights: bool = False,
):
    r"""$(\mathrm{softmax}(QK^\top/\sqrt d + B) \odot C)\,V$; without ``scale_matrix`` ($C = 1$) this is RPE.

    Args:
        q, k: (b, h, n, d); v: (b, h, n, e).
        bias: (h, n, n) or (n, n), the matrix B (:func:`toeplitz` builds it from per-offset values).
        scale_matrix: None or (h, n, n) / (n, n), the matrix C.
        return_weights: also return the (b, h, n, n) matrix that multiplies V (softmax times C).
    """
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, x, ndim=4, floating=True)
    check_tensor("bias", bias, ndim=(2, 3), floating=True)
    if scale_matrix is not None:
        check_tensor("scale_matrix", scale_matrix, ndim=(2, 3), floating=True)
    check_same_dtype(q=q, k=k, v=v, bias=bias, scale_matrix=scale_matrix)
    check_same_device(q=q, k=k, v=v, bias=bias, scale_matrix=scale_matrix)
    check_flag("return_weights", return_weights)
    if q.shape != k.shape or v.shape[:3] != q.shape[:3]:
        raise ValueError(
            f"q, k must have one shape (b, h, n, d) and v (b, h, n, e): got q {tuple(q.shape)}, k {tuple(k.shape)}, "
            f"v {tuple(v.shape)}"
        )
    h, n = q.shape[1], q.shape[2]
    if n == 0:
        raise ValueError(f"q has shape {tuple(q.shape)}: n=0 tokens, so no query has a key to attend to")
    for name, m in (("bias", bias), ("scale_matrix", scale_matrix)):
        if m is not None:
            check_tensor(name, m, ndim=(2, 3))
            if m.shape[-2:] != (n, n) or (m.dim() == 3 and m.shape[0] not in (1, h)):
                raise ValueError(f"{name} has shape {tuple(m.shape)}; expected (h={h}, n={n}, n={n}) or ({n}, {n})")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) + bias  # (b, h, n, n)
    weights = softmax(scores, dim=-1)  # rows sum to 1
    if scale_matrix is not None:
        weights = weights * scale_matrix  # (b, h, n, n): rows no longer sum to 1
    out = weights @ v  # (b, h, n, e)
    return (out, weights) if return_weights else out


class RelativeAttention(nn.Module):
    r"""Multi-head RPE attention, or URPE attention with ``universal=True`` (Luo et al., 2022).

    Per head: a bias $b_{i-j}$ (initialised at 0) and, for URPE, a Toeplitz factor $c_{i-j}$ (initialised at 1, so
    URPE starts out as RPE). Input (b, n, m) with n <= ``max_len``; output (b, n, m).
    """

    def __init__(self, d_model: int, n_heads: int, max_len: int, universal: bool = False):
        super().__init__()
        check_divisible("d_model", d_model, "n_heads", n_heads)
        check_positive("max_len", max_len)
        check_flag("universal", universal)
        check_size(
            f"RelativeAttention(n_heads={n_heads}, max_len={max_len})'s per-offset tables (n_heads, 2 max_len - 1)",
            n_heads * (2 * max_len - 1),
        )
        check_size(f"RelativeAttention(d_model={d_model})'s projections", 4 * d_model * d_model)
        self.d_model, self.n_heads, self.d_head, self.max_len = d_model, n_heads, d_model // n_heads, max_len
        self.universal = universal
        self.w_qkv = nn.Linear(d_model, 3 * d_model)
        self.w_o = nn.Linear(d_model, d_model)
        self.rel_bias = nn.Parameter(torch.zeros(n_heads, 2 * max_len - 1))  # b_{i-j} per head
        self.rel_scale = nn.Parameter(torch.ones(n_heads, 2 * max_len - 1)) if universal else None  # c_{i-j}

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        check_tensor("x", x, ndim=3, floating=True)
        check_flag("return_weights", return_weights)
        b, n, m = x.shape
        if m != self.d_model:
            raise ValueError(f"x has shape {tuple(x.shape)}; its last dim must be d_model={self.d_model}")
        if not 1 <= n <= self.max_len:
            raise ValueError(f"x has shape {tuple(x.shape)}: n={n} tokens must lie in [1, max_len={self.max_len}]")
        check_like_module("x", x, self)
        qkv = self.w_qkv(x).view(b, n, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)  # (3, b, h, n, d)
        bias = toeplitz(self.rel_bias, n)  # (h, n, n)
        scale = toeplitz(self.rel_scale, n) if self.universal else None  # (h, n, n)
        out, weights = relative_attention(qkv[0], qkv[1], qkv[2], bias, scale, return_weights=True)
        out = self.w_o(out.transpose(1, 2).reshape(b, n, m))  # (b, n, m): heads concatenated
        return (out, weights) if return_weights else out
