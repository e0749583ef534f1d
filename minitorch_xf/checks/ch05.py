"""Checks for chapter 5's exercises: the Toeplitz matrix of a relative bias, RPE attention, URPE attention, and the
permutation-equivariance gap.

References are independent of the package: explicit loops over (i, j), ``F.scaled_dot_product_attention`` with an
additive float mask for RPE, and a loop over rows for URPE.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._core import Checker

__all__ = ["check_equivariance_gap", "check_rpe_attention", "check_toeplitz", "check_urpe_attention"]


def _loop_toeplitz(values: torch.Tensor, n: int) -> torch.Tensor:
    out = values.new_empty(n, n)
    for i in range(n):
        for j in range(n):
            out[i, j] = values[i - j + n - 1]
    return out


def check_toeplitz(toeplitz, n_cases: int = 4, seed: int | None = None) -> None:
    """``toeplitz(values, n)``: values (2n-1,) -> (n, n) with entry (i, j) = values[i - j + n - 1]."""
    c = Checker("toeplitz", seed)
    for i in range(n_cases):
        n = c.randint(1, 7)
        values = c.randn(2 * n - 1)
        c.close(f"#{i} n={n}", _loop_toeplitz(values, n), c.call(toeplitz, values, n))
    c.done()


def _case(c: Checker):
    n, d = c.randint(2, 7), c.randint(1, 5)
    q, k, v = c.randn(n, d), c.randn(n, d), c.randn(n, c.randint(1, 4))
    return n, q, k, v, c.randn(2 * n - 1) * 2


def check_rpe_attention(rpe_attention, n_cases: int = 4, seed: int | None = None) -> None:
    r"""``rpe_attention(q, k, v, b)``: q, k (n, d), v (n, e), b (2n-1,) -> $\mathrm{softmax}(QK^\top/\sqrt d + B)V$."""
    c = Checker("rpe_attention", seed)
    for i in range(n_cases):
        n, q, k, v, b = _case(c)
        expected = F.scaled_dot_product_attention(q[None], k[None], v[None], attn_mask=_loop_toeplitz(b, n)[None])[0]
        c.close(f"#{i} n={n} d={q.shape[1]}", expected, c.call(rpe_attention, q, k, v, b))
    n, _, _, v, b = _case(c)
    x = c.randn(1, 3).expand(n, 3)  # a constant input: q_i, k_j, v_j all equal
    got = c.call(rpe_attention, x, x, x, b)
    c.close("constant input: every row is the input token (rows of the softmax sum to 1)", x, got)
    c.done()


def check_urpe_attention(urpe_attention, n_cases: int = 4, seed: int | None = None) -> None:
    r"""``urpe_attention(q, k, v, b, c)`` -> $(\mathrm{softmax}(QK^\top/\sqrt d + B) \odot C)V$, B and C Toeplitz."""
    ch = Checker("urpe_attention", seed)
    for i in range(n_cases):
        n, q, k, v, b = _case(ch)
        cvals = ch.randn(2 * n - 1)
        bias, cmat = _loop_toeplitz(b, n), _loop_toeplitz(cvals, n)
        rows = []
        for r in range(n):
            scores = torch.stack([q[r] @ k[j] / q.shape[1] ** 0.5 + bias[r, j] for j in range(n)])
            a = torch.softmax(scores, 0)
            rows.append(sum(a[j] * cmat[r, j] * v[j] for j in range(n)))
        ch.close(f"#{i} n={n} d={q.shape[1]}", torch.stack(rows), ch.call(urpe_attention, q, k, v, b, cvals))
    n, q, k, v, b = _case(ch)
    ones = torch.ones(2 * n - 1, dtype=torch.float64)
    expected = F.scaled_dot_product_attention(q[None], k[None], v[None], attn_mask=_loop_toeplitz(b, n)[None])[0]
    ch.close("C = 1 gives RPE attention", expected, ch.call(urpe_attention, q, k, v, b, ones))
    ch.done()


def _as_float(c: Checker, case: str, value) -> float:
    if isinstance(value, bool):
        c.fail(f"case '{case}': expected a number, received {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        c.fail(f"case '{case}': expected a number (a float or a 0-d tensor), received {type(value).__name__}")


def check_equivariance_gap(equivariance_gap, n_cases: int = 3, seed: int | None = None) -> None:
    r"""``equivariance_gap(fn, x, perm)`` -> float $\max\lvert f(x[:, \pi]) - f(x)[:, \pi]\rvert$, x (b, n, d)."""
    c = Checker("equivariance_gap", seed)
    for i in range(n_cases):
        n = c.randint(3, 7)
        x = c.randn(2, n, 3)
        perm = torch.randperm(n, generator=c.generator)
        while torch.equal(perm, torch.arange(n)):
            perm = torch.randperm(n, generator=c.generator)

        def prefix(z):  # not equivariant: position j sums tokens 0..j
            return z.cumsum(1)

        expected = float((prefix(x[:, perm]) - prefix(x)[:, perm]).abs().max())
        case = f"#{i} prefix sums (not equivariant), n={n}"
        got = _as_float(c, case, c.call(equivariance_gap, prefix, x, perm))
        c.true(case, abs(got - expected) < 1e-9, f"expected {expected:.6g}, received {got:.6g}")
        case = f"#{i} x * mean(x) (equivariant), n={n}"
        got = _as_float(c, case, c.call(equivariance_gap, lambda z: z * z.mean(1, keepdim=True), x, perm))
        c.true(case, abs(got) < 1e-9, f"expected 0, received {got:.6g}")
    c.done()
