r"""Prompt encodings for in-context linear regression (chapter 9), on top of :class:`LinearRegressionTask`.

``pair_tokens`` puts one whole example and the next query in each token,
$$ t_i = (x_{i-1},\, y_{i-1},\, x_i) \in \mathbb R^{2d+1}, \qquad t_1 = (0, 0, x_1), $$
so a causal transformer reads the examples $(x_j, y_j)_{j<i}$ and the query $x_i$ up to position $i$ and predicts
$y_i$ there: one token per example instead of Garg et al.'s two ($x_i$ and $y_i$ interleaved, ``interleave``),
half the sequence length, and no need to pair an $x$ token with the $y$ token after it. The labels are those of
:meth:`LinearRegressionTask.sample_xyw`; position $i$ (0-based) has seen $k = i$ examples.

Shapes: b batch, n examples per prompt, d input dim; ``x`` (b, n, d), ``y`` (b, n) -> tokens (b, n, 2d + 1).
"""

from __future__ import annotations

import torch

from .._validate import check_like, check_tensor

__all__ = ["pair_tokens"]


def pair_tokens(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Tokens $t_i = (x_{i-1}, y_{i-1}, x_i)$ with $t_1 = (0, 0, x_1)$: (b, n, d), (b, n) -> (b, n, 2d + 1)."""
    check_tensor("x", x, ndim=3, floating=True)
    check_tensor("y", y, ndim=2, floating=True)
    if tuple(y.shape) != tuple(x.shape[:2]):
        raise ValueError(f"y has shape {tuple(y.shape)}; expected (b, n) = {tuple(x.shape[:2])}")
    check_like("y", y, "x", x)
    if x.shape[1] == 0 or x.shape[2] == 0:
        raise ValueError(f"x has shape {tuple(x.shape)}; it needs n >= 1 examples of dimension d >= 1")
    prev_x = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)  # (b, n, d): x_{i-1}, zeros first
    prev_y = torch.cat([torch.zeros_like(y[:, :1]), y[:, :-1]], dim=1)  # (b, n): y_{i-1}, zero first
    return torch.cat([prev_x, prev_y[..., None], x], dim=-1)  # (b, n, 2d + 1)
