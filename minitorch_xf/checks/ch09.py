r"""Checks for chapter 9's exercises: one GD step, the LSA weights that make it, minimum-norm least squares and the
best one-step learning rate.

References are independent of the package: ``torch.autograd`` on the least-squares loss, a plain loop for the LSA
layer, NumPy's ``lstsq`` (minimum norm), and a Monte-Carlo estimate for the learning rate.
"""

from __future__ import annotations

import numpy as np
import torch

from ._core import Checker

__all__ = ["check_best_eta", "check_gd_step", "check_lsa_gd_weights", "check_ols_min_norm"]
F64 = torch.float64


def _autograd_step(x: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, eta: float) -> torch.Tensor:
    """w0 - eta * grad of L(w) = 1/(2N) sum (w.x_i - y_i)^2, the gradient from autograd."""
    w = w0.clone().requires_grad_()
    (grad,) = torch.autograd.grad(0.5 * ((x @ w - y) ** 2).mean(), w)
    return (w0 - eta * grad).detach()


def _loop_lsa(tokens, w_k, w_q, w_v, p, n_context):
    """e_j + P W_V sum_{i < n_context} e_i (W_K e_i . W_Q e_j), one token at a time."""
    rows = []
    for e_j in tokens:
        total = torch.zeros_like(e_j)
        for e_i in tokens[:n_context]:
            total = total + (w_v @ e_i) * torch.dot(w_k @ e_i, w_q @ e_j)
        rows.append(e_j + p @ total)
    return torch.stack(rows)


def check_gd_step(gd_step, n_cases: int = 4, seed: int | None = None) -> None:
    """``gd_step(x, y, w0, eta)``: x (N, d), y (N,), w0 (d,) -> $w_1 = w_0 - \\eta \\nabla L(w_0)$ (d,)."""
    c = Checker("gd_step", seed)
    for i in range(n_cases):
        n, d = c.randint(1, 12), c.randint(1, 6)
        x, y, w0 = c.randn(n, d), c.randn(n), c.randn(d)
        eta = float(torch.rand((), generator=c.generator, dtype=F64)) + 0.05
        c.close(f"#{i} N={n} d={d} eta={eta:.3f}", _autograd_step(x, y, w0, eta), c.call(gd_step, x, y, w0, eta))
    c.done()


def check_lsa_gd_weights(lsa_gd_weights, n_cases: int = 3, seed: int | None = None) -> None:
    """``lsa_gd_weights(d, eta, n_context)`` -> (w_k, w_q, w_v, p), each (d+1, d+1), making one LSA layer one GD step
    from $w_0 = 0$: every token $(x_j, y_j)$ becomes $(x_j, y_j - w_1^\\top x_j)$."""
    c = Checker("lsa_gd_weights", seed)
    for i in range(n_cases):
        n, d, s = c.randint(2, 9), c.randint(1, 5), c.randint(1, 3)
        eta = float(torch.rand((), generator=c.generator, dtype=F64)) + 0.05
        x, y, xq = c.randn(n, d), c.randn(n), c.randn(s, d)
        weights = c.call(lsa_gd_weights, d, eta, n)
        if not isinstance(weights, (tuple, list)) or len(weights) != 4:
            c.fail(f"expected a tuple (w_k, w_q, w_v, p), received {type(weights).__name__}")
        for name, w in zip(("w_k", "w_q", "w_v", "p"), weights, strict=True):
            if not isinstance(w, torch.Tensor) or tuple(w.shape) != (d + 1, d + 1):
                shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
                c.fail(f"case #{i}: {name} should be a ({d + 1}, {d + 1}) tensor, received {shape}")
        tokens = torch.cat([torch.cat([x, y[:, None]], -1), torch.cat([xq, torch.zeros(s, 1, dtype=F64)], -1)])
        out = _loop_lsa(tokens, *(w.to(F64) for w in weights), n_context=n)
        w1 = _autograd_step(x, y, torch.zeros(d, dtype=F64), eta)
        expected = tokens.clone()
        expected[:, -1] -= tokens[:, :-1] @ w1
        c.close(f"#{i} N={n} d={d} eta={eta:.3f}: every token moves by (0, -w1.x_j)", expected, out, atol=1e-10)
    c.done()


def check_ols_min_norm(ols_min_norm, n_cases: int = 4, seed: int | None = None) -> None:
    """``ols_min_norm(x, y, x_query)``: x (N, d), y (N,), x_query (s, d) -> $x_q^\\top X^+ y$ (s,), finite when
    N < d or examples repeat."""
    c = Checker("ols_min_norm", seed)
    for i in range(n_cases):
        d = c.randint(2, 6)
        n = c.randint(1, d - 1) if i % 2 else c.randint(d, 12)  # odd cases: fewer examples than d (singular)
        x, y, xq = c.randn(n, d), c.randn(n), c.randn(3, d)
        expected = torch.from_numpy(xq.numpy() @ np.linalg.lstsq(x.numpy(), y.numpy(), rcond=None)[0])
        kind = "singular, N < d" if n < d else "full rank"
        c.close(f"#{i} N={n} d={d} ({kind})", expected, c.call(ols_min_norm, x, y, xq))
    x, y, xq = c.randn(1, 3).repeat(4, 1), c.randn(1).repeat(4), c.randn(2, 3)
    expected = torch.from_numpy(xq.numpy() @ np.linalg.lstsq(x.numpy(), y.numpy(), rcond=None)[0])
    c.close("one example repeated 4 times (rank 1)", expected, c.call(ols_min_norm, x, y, xq))
    c.done()


def check_best_eta(best_eta, seed: int | None = None) -> None:
    """``best_eta(n, d)`` -> the float $\\eta^\\star$ minimizing the expected one-step GD error from $w_0 = 0$, for
    $x, x_q, w \\sim \\mathcal N(0, I_d)$ and $y = w^\\top x$; compared with a Monte-Carlo estimate."""
    c = Checker("best_eta", seed)
    for n, d in ((c.randint(2, 12), c.randint(1, 6)), (c.randint(2, 12), c.randint(1, 6))):
        b = 40_000
        x, w, xq = c.randn(b, n, d), c.randn(b, d), c.randn(b, d)
        y, yq = (x @ w[..., None])[..., 0], (xq * w).sum(-1)  # (b, n), (b,)
        g = ((x.transpose(1, 2) @ y[..., None])[..., 0] * xq).sum(-1) / n  # (b,): the prediction at eta = 1
        estimate = float((g * yq).sum() / (g * g).sum())
        got = c.call(best_eta, n, d)
        try:
            got = float(got)
        except (TypeError, ValueError):
            c.fail(f"expected a number, received {type(got).__name__}")
        c.true(
            f"N={n} d={d}: Monte-Carlo estimate {estimate:.4f}",
            abs(got - estimate) < 0.03 * max(1.0, abs(estimate)),
            f"expected about {estimate:.4f} (Monte Carlo, 40000 prompts), received {got:.4f}",
        )
    c.done()
