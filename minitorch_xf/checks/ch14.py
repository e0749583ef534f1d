r"""Checks for chapter 14's exercises (Width, depth and sparsity): mean pooling, scaled mean pooling, centring.

References are independent of the package: plain Python loops over the tokens.
"""

from __future__ import annotations

import torch

from ._core import Checker

__all__ = ["check_centred", "check_mean_pool", "check_scaled_mean_pool"]


def _loop_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of the rows of x (n, d), one row at a time."""
    total = torch.zeros(x.shape[-1], dtype=x.dtype)
    for row in x:
        total = total + row
    return total / x.shape[0]


def check_mean_pool(mean_pool, n_cases: int = 4, seed: int | None = None) -> None:
    """``mean_pool(x)``: x (n, d) -> (d,), the mean of the tokens."""
    c = Checker("mean_pool", seed)
    for i in range(n_cases):
        n, d = c.randint(1, 7), c.randint(1, 5)
        x = c.randn(n, d)
        c.close(f"#{i} n={n} d={d}", _loop_mean(x), c.call(mean_pool, x))
    c.done()


def check_scaled_mean_pool(scaled_mean_pool, n_cases: int = 4, seed: int | None = None) -> None:
    """``scaled_mean_pool(x, scale)``: scale times the mean of the tokens."""
    c = Checker("scaled_mean_pool", seed)
    for i in range(n_cases):
        n, d = c.randint(1, 7), c.randint(1, 5)
        x, scale = c.randn(n, d), float(c.randn(1)) + 2.0
        c.close(f"#{i} n={n} scale={scale:.3f}", scale * _loop_mean(x), c.call(scaled_mean_pool, x, scale))
    c.done()


def check_centred(centred, n_cases: int = 4, seed: int | None = None) -> None:
    """``centred(x)``: every token minus the mean of the tokens."""
    c = Checker("centred", seed)
    for i in range(n_cases):
        n, d = c.randint(2, 7), c.randint(1, 5)
        x = c.randn(n, d)
        c.close(f"#{i} n={n} d={d}", torch.stack([row - _loop_mean(x) for row in x]), c.call(centred, x))
    c.done()
