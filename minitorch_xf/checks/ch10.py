"""Checks for chapter 10's exercises: the attention model, its gradient, the Att-SVM margins, one normalized GD step
and the balanced factorization behind the nuclear norm.

References are independent of the package: plain loops over sequences and tokens, ``torch.autograd`` on those
loops, and ``torch.linalg`` for the nuclear norm.
"""

from __future__ import annotations

import torch

from ._core import Checker

__all__ = [
    "check_attention_output",
    "check_balanced_factors",
    "check_loss_grad",
    "check_normalized_step",
    "check_svm_margins",
]


def _case(c: Checker):
    """A random problem: x (n, T, d), y (n,) in {-1, 1}, z (n, d), w (d, d), v (d,), float64."""
    n, t, d = c.randint(1, 5), c.randint(2, 6), c.randint(2, 5)
    g = c.generator
    x = torch.randn(n, t, d, generator=g, dtype=torch.float64)
    y = torch.where(torch.rand(n, generator=g, dtype=torch.float64) > 0.5, 1.0, -1.0).double()
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    w = torch.randn(d, d, generator=g, dtype=torch.float64)
    v = torch.randn(d, generator=g, dtype=torch.float64)
    return x, y, z, w, v


def _loop_output(x, z, w, v):
    outs = []
    for i in range(x.shape[0]):
        logits = torch.stack([x[i, t] @ w @ z[i] for t in range(x.shape[1])])
        s = torch.softmax(logits, 0)
        outs.append(sum(s[t] * (x[i, t] @ v) for t in range(x.shape[1])))
    return torch.stack(outs)


def _loop_loss(x, y, z, w, v):
    f = _loop_output(x, z, w, v)
    return torch.stack([torch.log1p(torch.exp(-y[i] * f[i])) for i in range(x.shape[0])]).mean()


def check_attention_output(attention_output, n_cases: int = 5, seed: int | None = None) -> None:
    """``attention_output(x, z, w, v)`` -> (n,): $f(X_i) = v^T X_i^T \\mathrm{softmax}(X_i W z_i)$."""
    c = Checker("attention_output", seed)
    for i in range(n_cases):
        x, _, z, w, v = _case(c)
        c.close(f"#{i} x{tuple(x.shape)}", _loop_output(x, z, w, v), c.call(attention_output, x, z, w, v))
    x, _, z, w, v = _case(c)
    expected = (x @ v).mean(-1)  # W = 0: uniform attention, the mean value
    c.close("W = 0 gives the mean of v^T x_it", expected, c.call(attention_output, x, z, torch.zeros_like(w), v))
    c.done()


def check_loss_grad(loss_grad, n_cases: int = 5, seed: int | None = None) -> None:
    """``loss_grad(x, y, z, w, v)`` -> (d, d): the gradient of the mean logistic loss, compared with autograd."""
    c = Checker("loss_grad", seed)
    for i in range(n_cases):
        x, y, z, w, v = _case(c)
        leaf = w.clone().requires_grad_()
        (expected,) = torch.autograd.grad(_loop_loss(x, y, z, leaf, v), leaf)
        c.close(f"#{i} x{tuple(x.shape)}", expected, c.call(loss_grad, x, y, z, w, v))
    c.done()


def check_svm_margins(svm_margins, n_cases: int = 5, seed: int | None = None) -> None:
    """``svm_margins(x, z, opt, w)`` -> (n, T): $(x_{i,opt_i} - x_{it})^T W z_i$, zero at $t = opt_i$."""
    c = Checker("svm_margins", seed)
    for i in range(n_cases):
        x, _, z, w, _ = _case(c)
        n, t = x.shape[:2]
        opt = torch.randint(0, t, (n,), generator=c.generator)
        expected = torch.tensor(
            [[float((x[a, opt[a]] - x[a, b]) @ w @ z[a]) for b in range(t)] for a in range(n)], dtype=torch.float64
        )
        c.close(f"#{i} x{tuple(x.shape)} opt={opt.tolist()}", expected, c.call(svm_margins, x, z, opt, w))
    c.done()


def check_normalized_step(normalized_step, n_cases: int = 5, seed: int | None = None) -> None:
    """``normalized_step(x, y, z, w, v, lr)`` -> (d, d): $W - \\eta \\nabla L / \\lVert\\nabla L\\rVert_F$."""
    c = Checker("normalized_step", seed)
    for i in range(n_cases):
        x, y, z, w, v = _case(c)
        lr = float(torch.rand((), generator=c.generator)) * 0.5 + 0.01
        leaf = w.clone().requires_grad_()
        (g,) = torch.autograd.grad(_loop_loss(x, y, z, leaf, v), leaf)
        got = c.call(normalized_step, x, y, z, w, v, lr)
        c.close(f"#{i} x{tuple(x.shape)} lr={lr:.3f}", w - lr * g / g.norm(), got)
        step = float((got - w).norm()) if isinstance(got, torch.Tensor) else float("nan")
        c.true(f"#{i} the step has length lr", abs(step - lr) < 1e-6, f"||W_new - W|| = {step:.6g}, lr = {lr:.6g}")
    c.done()


def check_balanced_factors(balanced_factors, n_cases: int = 5, seed: int | None = None) -> None:
    """``balanced_factors(w)`` -> (K, Q) with $KQ^T = W$ and $\\frac12(\\lVert K\\rVert^2 + \\lVert Q\\rVert^2) =
    \\lVert W\\rVert_\\star$ (the minimum of the variational form)."""
    c = Checker("balanced_factors", seed)
    for i in range(n_cases):
        d, r = c.randint(2, 6), c.randint(1, 3)
        w = torch.randn(d, r, generator=c.generator, dtype=torch.float64) @ torch.randn(
            r, d, generator=c.generator, dtype=torch.float64
        )  # rank <= r
        out = c.call(balanced_factors, w)
        if not (isinstance(out, tuple | list) and len(out) == 2):
            c.fail(f"case #{i}: expected a pair (K, Q), received {type(out).__name__}")
        k, q = out
        c.close(f"#{i} K Q^T = W, d={d}, rank<={r}", w, k @ q.T)
        cost = 0.5 * (k.norm() ** 2 + q.norm() ** 2)
        c.close(f"#{i} (|K|^2 + |Q|^2)/2 = nuclear norm", torch.linalg.matrix_norm(w, "nuc"), cost)
    c.done()
