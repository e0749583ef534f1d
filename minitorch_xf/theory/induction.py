r"""Chapter 14: Width, depth and sparsity. TODO: one line on what this module computes.

Shapes: ``n`` tokens, ``d`` features; ``...`` any batch dims.
"""

from __future__ import annotations

import torch

from .._validate import check_tensor

__all__ = ["centred", "mean_pool"]


def mean_pool(x: torch.Tensor) -> torch.Tensor:
    r"""$\bar x = \frac1n \sum_{i=1}^n x_i$ (TODO: source). ``x`` (..., n, d) -> (..., d)."""
    x = check_tensor("x", x, min_ndim=2, floating=True)
    if x.shape[-2] == 0:
        raise ValueError(f"x has shape {tuple(x.shape)}: mean pooling needs at least one token (n >= 1)")
    return x.sum(dim=-2) / x.shape[-2]  # (..., d)


def centred(x: torch.Tensor) -> torch.Tensor:
    r"""$x_i - \bar x$ for every token (TODO: source). ``x`` (..., n, d) -> (..., n, d)."""
    return x - mean_pool(x).unsqueeze(-2)  # (..., n, d)
