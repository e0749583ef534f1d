r"""Checks for chapter 14's exercises (Width, depth and sparsity): the parameter count of a block, the
previous-token head and the induction head of the two-layer construction.

References are independent of the package: parameters counted by ``numel`` on ``torch.nn`` layers built here, and
attention written out one query at a time with an explicit softmax over the keys it may see.
"""

from __future__ import annotations

import torch
from torch import nn

from ._core import Checker

__all__ = ["check_block_param_count", "check_induction_head", "check_previous_token_head"]


def _torch_block_count(d: int, f: int) -> int:
    """A pre-norm block built from torch layers: Q, K, V, O projections, the FFN and two layer norms, with biases."""
    layers = [nn.Linear(d, d) for _ in range(4)] + [nn.Linear(d, f), nn.Linear(f, d), nn.LayerNorm(d), nn.LayerNorm(d)]
    return sum(p.numel() for layer in layers for p in layer.parameters())


def check_block_param_count(block_param_count, n_cases: int = 6, seed: int | None = None) -> None:
    """``block_param_count(d_model, d_ff)``: the number of parameters of one pre-norm block."""
    c = Checker("block_param_count", seed)
    cases = [(c.randint(1, 64), c.randint(1, 200)) for _ in range(n_cases)] + [(8, 32), (1, 1)]
    for d, f in cases:
        got = c.call(block_param_count, d, f)
        want = _torch_block_count(d, f)
        c.true(f"d_model={d}, d_ff={f}", isinstance(got, int) and got == want, f"expected {want}, received {got!r}")
    c.done()


def _loop_attention(score, values: torch.Tensor) -> torch.Tensor:
    """Row t = sum_{k <= t} softmax_k(score(t, k)) values[k], written out for one query at a time."""
    n = values.shape[0]
    rows = []
    for t in range(n):
        s = torch.tensor([score(t, k) for k in range(t + 1)], dtype=torch.float64)
        w = torch.exp(s - s.max())
        rows.append((w[:, None] * values[: t + 1]).sum(0) / w.sum())
    return torch.stack(rows)


def _onehot(c: Checker, n: int, v: int) -> torch.Tensor:
    tokens = torch.randint(v, (n,), generator=c.generator)
    return torch.eye(v, dtype=torch.float64)[tokens]  # (n, V)


def check_previous_token_head(previous_token_head, n_cases: int = 5, seed: int | None = None) -> None:
    r"""``previous_token_head(onehot, beta)``: causal attention with score $\beta\,[k = t-1]$, values the tokens."""
    c = Checker("previous_token_head", seed)
    for i in range(n_cases):
        n, v = c.randint(1, 9), c.randint(2, 5)
        beta = [0.0, 1.5, 4.0, 30.0][i % 4]
        x = _onehot(c, n, v)
        expected = _loop_attention(lambda t, k, beta=beta: beta * float(k == t - 1), x)
        c.close(f"#{i} n={n} V={v} beta={beta}", expected, c.call(previous_token_head, x, beta))
    x = _onehot(c, 6, 3)
    got = c.call(previous_token_head, x, 60.0)
    c.close("large beta: row t is the token at t-1 (row 0 its own)", torch.cat([x[:1], x[:-1]]), got, atol=1e-8)
    c.done()


def check_induction_head(induction_head, n_cases: int = 5, seed: int | None = None) -> None:
    r"""``induction_head(onehot, prev, beta, gamma)``: causal attention with score
    $\beta(\langle \mathrm{prev}_k, e_{x_t}\rangle + \gamma k)$, values the tokens."""
    c = Checker("induction_head", seed)
    for i in range(n_cases):
        n, v = c.randint(1, 9), c.randint(2, 5)
        x = _onehot(c, n, v)
        prev = torch.rand(n, v, generator=c.generator, dtype=torch.float64)
        beta, gamma = [0.5, 2.0, 7.0, 20.0, 1.0][i % 5], [0.0, 0.05, 0.3][i % 3]
        expected = _loop_attention(lambda t, k: beta * (float(prev[k] @ x[t]) + gamma * k), x)  # noqa: B023
        c.close(f"#{i} n={n} V={v} beta={beta} gamma={gamma}", expected, c.call(induction_head, x, prev, beta, gamma))
    # the induction pattern itself: 1 is followed by 2, then by 3; with the exact previous tokens the last 1 copies 3
    seq = torch.tensor([1, 2, 0, 1, 3, 0, 1])
    x = torch.eye(4, dtype=torch.float64)[seq]
    prev = torch.cat([x[:1], x[:-1]])
    got = c.call(induction_head, x, prev, 200.0, 1 / 14)
    c.true(
        "1 2 0 1 3 0 1: the last position copies 3",
        isinstance(got, torch.Tensor) and got.shape == (7, 4) and int(got[-1].argmax()) == 3,
        f"received {got if not isinstance(got, torch.Tensor) else got[-1]}",
    )
    c.done()
