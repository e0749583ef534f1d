"""Checks for chapter 2's exercises: the Euler sub-flow, Lie--Trotter and Strang--Marchuk splitting.

References are closed forms for linear vector fields $F(x) = xA^\top$, $G(x) = xB^\top$: exact flows are
matrix exponentials (``torch.linalg.matrix_exp``), so the expected values share no code with the package.
"""

from __future__ import annotations

import torch

from ._core import Checker

__all__ = ["check_euler_flow", "check_lie_trotter_step", "check_strang_step"]


def _case(c: Checker):
    """Random linear fields A, B (d, d), particles x (n, d), a step size gamma in [0.05, 0.5]."""
    d = int(torch.randint(2, 6, (1,), generator=c.generator))
    n = int(torch.randint(1, 6, (1,), generator=c.generator))
    a = torch.randn(d, d, generator=c.generator, dtype=torch.float64) / d**0.5
    b = torch.randn(d, d, generator=c.generator, dtype=torch.float64) / d**0.5
    x = torch.randn(n, d, generator=c.generator, dtype=torch.float64)
    gamma = float(0.05 + 0.45 * torch.rand(1, generator=c.generator, dtype=torch.float64))
    return a, b, x, gamma


def _exact(mat: torch.Tensor):
    def flow(y: torch.Tensor, gamma: float) -> torch.Tensor:
        return y @ torch.linalg.matrix_exp(gamma * mat).T

    return flow


def check_euler_flow(euler_flow, n_cases: int = 4, seed: int | None = None) -> None:
    """``euler_flow(field)`` returns ``flow(x, gamma) = x + gamma * field(x)``."""
    c = Checker("euler_flow", seed)
    for i in range(n_cases):
        a, _, x, gamma = _case(c)
        flow = c.call(euler_flow, lambda y, a=a: y @ a.T)
        if not callable(flow):
            c.fail(f"case #{i}: euler_flow(field) must return a function flow(x, gamma), got {type(flow).__name__}")
        expected = x @ (torch.eye(a.shape[0], dtype=a.dtype) + gamma * a).T
        c.close(f"#{i} linear field, x{tuple(x.shape)}, gamma={gamma:.3f}", expected, c.call(flow, x, gamma))
    c.done()


def check_lie_trotter_step(lie_trotter_step, n_cases: int = 4, seed: int | None = None) -> None:
    """``lie_trotter_step(x, gamma, flow_f, flow_g)`` = flow_g(flow_f(x, gamma), gamma)."""
    c = Checker("lie_trotter_step", seed)
    for i in range(n_cases):
        a, b, x, gamma = _case(c)
        expected = x @ (torch.linalg.matrix_exp(gamma * b) @ torch.linalg.matrix_exp(gamma * a)).T
        got = c.call(lie_trotter_step, x, gamma, _exact(a), _exact(b))
        c.close(
            f"#{i} exact linear sub-flows, x{tuple(x.shape)}, gamma={gamma:.3f} (F first, then G)",
            expected,
            got,
            atol=1e-9,
            rtol=1e-8,
        )
    c.done()


def check_strang_step(strang_step, n_cases: int = 4, seed: int | None = None) -> None:
    """``strang_step(x, gamma, flow_f, flow_g)`` = flow_g(flow_f(flow_g(x, gamma/2), gamma), gamma/2)."""
    c = Checker("strang_step", seed)
    for i in range(n_cases):
        a, b, x, gamma = _case(c)
        half = torch.linalg.matrix_exp(0.5 * gamma * b)
        expected = x @ (half @ torch.linalg.matrix_exp(gamma * a) @ half).T
        got = c.call(strang_step, x, gamma, _exact(a), _exact(b))
        c.close(
            f"#{i} exact linear sub-flows, x{tuple(x.shape)}, gamma={gamma:.3f} (G/2, F, G/2)",
            expected,
            got,
            atol=1e-9,
            rtol=1e-8,
        )
    a, b, x, _ = _case(c)
    errs = []
    for gamma in (0.05, 0.1):
        exact = x @ torch.linalg.matrix_exp(gamma * (a + b)).T
        errs.append(float(torch.linalg.vector_norm(c.call(strang_step, x, gamma, _exact(a), _exact(b)) - exact)))
    ratio = errs[1] / max(errs[0], 1e-300)
    c.true(
        "halving gamma divides the local error by about 8 (O(gamma^3))",
        5.0 < ratio < 11.0,
        f"error ratio e(0.1)/e(0.05) = {ratio:.2f}, expected about 8",
    )
    c.done()
