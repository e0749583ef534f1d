"""Checks for chapter 12's exercises: the online-softmax combine, the linear-attention recurrence and the (m, u, w)
scan combine.

References are independent of the package: ``torch.softmax`` on whole rows, and a quadratic loop over tokens.
"""

from __future__ import annotations

import torch

from ._core import Checker

__all__ = ["check_linear_recurrence", "check_online_softmax", "check_scan_combine"]


def check_online_softmax(online_softmax_attention, n_cases: int = 5, seed: int | None = None) -> None:
    """``online_softmax_attention(scores, v, block)`` -> (s, e): softmax(scores) @ v, streaming over key blocks."""
    c = Checker("online_softmax_attention", seed)
    for i in range(n_cases):
        s, t, e, block = c.randint(1, 5), c.randint(1, 12), c.randint(1, 4), c.randint(1, 5)
        scale = [1.0, 30.0, 300.0][i % 3]  # large scores: a missing running max overflows
        scores = scale * torch.randn(s, t, generator=c.generator, dtype=torch.float64)
        v = torch.randn(t, e, generator=c.generator, dtype=torch.float64)
        expected = torch.softmax(scores, dim=-1) @ v
        c.close(
            f"#{i} s={s} t={t} block={block} scale={scale}",
            expected,
            c.call(online_softmax_attention, scores, v, block),
        )
    c.done()


def _phi(x):
    return torch.nn.functional.elu(x) + 1


def check_linear_recurrence(linear_attention_rnn, n_cases: int = 5, seed: int | None = None) -> None:
    """``linear_attention_rnn(q, k, v)`` -> (n, e): causal linear attention with phi = elu + 1, token by token."""
    c = Checker("linear_attention_rnn", seed)
    for i in range(n_cases):
        n, d, e = c.randint(1, 8), c.randint(1, 4), c.randint(1, 4)
        q, k = (torch.randn(n, d, generator=c.generator, dtype=torch.float64) for _ in range(2))
        v = torch.randn(n, e, generator=c.generator, dtype=torch.float64)
        expected = torch.stack(
            [
                sum((_phi(q[t]) @ _phi(k[j])) * v[j] for j in range(t + 1))
                / sum(_phi(q[t]) @ _phi(k[j]) for j in range(t + 1))
                for t in range(n)
            ]
        )
        c.close(f"#{i} n={n} d={d} e={e}", expected, c.call(linear_attention_rnn, q, k, v))
    c.done()


def check_scan_combine(combine, n_cases: int = 5, seed: int | None = None) -> None:
    """``combine((m_a, u_a, w_a), (m_b, u_b, w_b))`` -> (m, u, w): merging two blocks gives the softmax over both."""
    c = Checker("scan_combine", seed)
    for i in range(n_cases):
        ta, tb, e = c.randint(1, 5), c.randint(1, 5), c.randint(1, 3)
        s = [1.0, 50.0, 500.0][i % 3] * torch.randn(ta + tb, generator=c.generator, dtype=torch.float64)
        v = torch.randn(ta + tb, e, generator=c.generator, dtype=torch.float64)

        def state(lo, hi, s=s, v=v):
            m = s[lo:hi].max()
            p = torch.exp(s[lo:hi] - m)
            return m, p.sum(), p @ v[lo:hi]

        m, u, w = c.call(combine, state(0, ta), state(ta, ta + tb))
        c.close(f"#{i} max of {ta}+{tb} scores", s.max(), m)
        c.close(f"#{i} attention output w/u", torch.softmax(s, 0) @ v, w / u)
    c.done()
