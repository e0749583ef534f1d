"""Checks for chapter 3's exercises: the pairwise energy, its gradient, the descent (attention) step, ReLU as a
projected-gradient step.

References are independent of the package: a plain double loop over token pairs, ``torch.autograd`` on that loop,
``F.scaled_dot_product_attention`` for the equal-norm case, and ``torch.clamp`` for the projection.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._core import Checker

__all__ = ["check_descent_step", "check_energy_grad", "check_pairwise_energy", "check_relu_step"]


def _case(c: Checker):
    n, d = c.randint(2, 8), c.randint(2, 6)
    y = c.randn(n, d)
    w = c.randn(d, d) / d**0.5
    return y, w.T @ w, w


def _loop_energy(y: torch.Tensor, w_s: torch.Tensor) -> torch.Tensor:
    """E_1 by a double loop over ordered pairs (differentiable)."""
    total = y.new_zeros(())
    for i in range(y.shape[0]):
        for j in range(y.shape[0]):
            u = y[i] - y[j]
            total = total - torch.exp(-0.5 * (u @ w_s @ u))
    return total


def _loop_step(y: torch.Tensor, step: float, w_s: torch.Tensor) -> torch.Tensor:
    rows = []
    for i in range(y.shape[0]):
        weights = torch.stack([torch.exp(-0.5 * (y[i] - y[j]) @ w_s @ (y[i] - y[j])) for j in range(y.shape[0])])
        rows.append((1 - step) * y[i] + step * (weights[:, None] * y).sum(0) / weights.sum())
    return torch.stack(rows)


def check_pairwise_energy(pairwise_energy, n_cases: int = 4, seed: int | None = None) -> None:
    """``pairwise_energy(y, w_s)``: y (n, d), w_s (d, d) -> scalar $-\\sum_{i,j} e^{-\\frac12\\|y_i-y_j\\|_{W_s}^2}$."""
    c = Checker("pairwise_energy", seed)
    for i in range(n_cases):
        y, w_s, _ = _case(c)
        c.close(f"#{i} y{tuple(y.shape)}", _loop_energy(y, w_s), c.call(pairwise_energy, y, w_s))
    y = c.randn(1, 3)
    c.close(
        "a single token (only the diagonal term: -1)",
        torch.tensor(-1.0, dtype=torch.float64),
        c.call(pairwise_energy, y, torch.eye(3, dtype=torch.float64)),
    )
    c.done()


def check_energy_grad(energy_grad, n_cases: int = 4, seed: int | None = None) -> None:
    """``energy_grad(y, w_s)`` -> (n, d), the gradient of E_1; compared with autograd on a loop."""
    c = Checker("energy_grad", seed)
    for i in range(n_cases):
        y, w_s, _ = _case(c)
        leaf = y.clone().requires_grad_()
        (expected,) = torch.autograd.grad(_loop_energy(leaf, w_s), leaf)
        c.close(f"#{i} y{tuple(y.shape)}", expected, c.call(energy_grad, y, w_s))
    c.done()


def check_descent_step(descent_step, n_cases: int = 4, seed: int | None = None) -> None:
    """``descent_step(y, step, w_s)`` -> (n, d): $(1-\\alpha)Y + \\alpha D^{-1}BY$."""
    c = Checker("descent_step", seed)
    for i in range(n_cases):
        y, w_s, w = _case(c)
        step = float(torch.rand((), generator=c.generator, dtype=torch.float64)) * 0.9 + 0.1
        got = c.call(descent_step, y, step, w_s)
        c.close(f"#{i} y{tuple(y.shape)} step={step:.3f}", _loop_step(y, step, w_s), got)
        c.true(
            f"#{i} energy does not increase",
            float(_loop_energy(got, w_s)) <= float(_loop_energy(y, w_s)) + 1e-9,
            f"E went from {float(_loop_energy(y, w_s)):.6g} to {float(_loop_energy(got, w_s)):.6g}",
        )
        y_eq = y / (y @ w_s * y).sum(-1, keepdim=True).sqrt()  # equal W_s-norms: the step is softmax attention
        q = (y_eq @ w.T)[None]  # (1, n, d)
        expected = F.scaled_dot_product_attention(q, q, y_eq[None], scale=1.0)[0]
        c.close(f"#{i} equal norms, step 1 = softmax attention", expected, c.call(descent_step, y_eq, 1.0, w_s))
    c.done()


def check_relu_step(relu_step, n_cases: int = 4, seed: int | None = None) -> None:
    """``relu_step(x, w, b, step)``: projected gradient on $\\frac12 x^T(I-W)x - b^T x$ over $x \\ge 0$."""
    c = Checker("relu_step", seed)
    for i in range(n_cases):
        m, d = c.randint(1, 5), c.randint(2, 7)
        a = c.randn(d, d)
        w = (a + a.T) / 2
        b = c.randn(d)
        x = torch.relu(c.randn(m, d))
        step = float(torch.rand((), generator=c.generator, dtype=torch.float64)) + 0.2
        expected = torch.clamp(x - step * (x - x @ w - b), min=0.0)
        c.close(f"#{i} x{tuple(x.shape)} step={step:.3f}", expected, c.call(relu_step, x, w, b, step))
        c.close(f"#{i} step 1 = ReLU(xW + b)", torch.relu(x @ w + b), c.call(relu_step, x, w, b, 1.0))
    c.done()
