"""Checks for chapter 8's exercises: the row-wise Khatri--Rao product, tensor attention, and the Match3 labels.

References are independent of the package: explicit loops over rows and over (query, key pair) with ``math.exp``,
and a triple loop over positions (i, j, k). The learner's function gets plain tensors and ints and returns a tensor.
"""

from __future__ import annotations

import math

import torch

from ._core import Checker

__all__ = ["check_khatri_rao", "check_match3_labels", "check_tensor_attention"]


def check_khatri_rao(khatri_rao, n_cases: int = 5, seed: int | None = None) -> None:
    """``khatri_rao(a, b)`` for a (t1, d), b (t2, d) -> (t1 * t2, d), row ``j * t2 + k`` equal to ``a[j] * b[k]``."""
    c = Checker("khatri_rao", seed)
    for i in range(n_cases):
        t1, t2, d = c.randint(1, 4), c.randint(1, 5), c.randint(1, 4)
        a, b = c.randn(t1, d), c.randn(t2, d)
        expected = torch.stack([a[j] * b[k] for j in range(t1) for k in range(t2)])
        c.close(f"#{i} t1={t1} t2={t2} d={d}", expected, c.call(khatri_rao, a, b))
    c.done()


def _loop_tensor_attention(q, k1, k2, v1, v2) -> torch.Tensor:
    out = torch.zeros(q.shape[0], v1.shape[1], dtype=torch.float64)
    for i in range(q.shape[0]):
        pairs = [(j, k) for j in range(k1.shape[0]) for k in range(k2.shape[0])]
        scores = [float((q[i] * k1[j] * k2[k]).sum()) for j, k in pairs]
        top = max(scores)
        weights = [math.exp(s - top) for s in scores]
        total = sum(weights)
        for (j, k), w in zip(pairs, weights, strict=True):
            out[i] += (w / total) * v1[j] * v2[k]
    return out


def check_tensor_attention(tensor_attention, n_cases: int = 6, seed: int | None = None) -> None:
    r"""``tensor_attention(q, k1, k2, v1, v2)`` -> (s, e): $D^{-1}\exp(Q(K_1\oslash K_2)^\top)(V_1\oslash V_2)$.

    q (s, d), k1 (t1, d), k2 (t2, d), v1 (t1, e), v2 (t2, e); no scaling of the scores. Some cases have scores in the
    hundreds: subtract each row's max before exponentiating.
    """
    c = Checker("tensor_attention", seed)
    for i in range(n_cases):
        s, t1, t2 = c.randint(1, 4), c.randint(1, 4), c.randint(1, 4)
        d, e = c.randint(1, 3), c.randint(1, 3)
        scale = [1.0, 3.0, 12.0][i % 3]  # 12^3-sized scores overflow exp without the max
        q, k1, k2 = scale * c.randn(s, d), scale * c.randn(t1, d), scale * c.randn(t2, d)
        v1, v2 = c.randn(t1, e), c.randn(t2, e)
        expected = _loop_tensor_attention(q, k1, k2, v1, v2)
        c.close(
            f"#{i} s={s} t1={t1} t2={t2} d={d} e={e} scale={scale}",
            expected,
            c.call(tensor_attention, q, k1, k2, v1, v2),
        )
    c.done()


def check_match3_labels(match3_labels, n_cases: int = 8, seed: int | None = None) -> None:
    """``match3_labels(x, modulus)`` for x (n,) long residues -> (n,) float tensor, 1.0 where some j, k (repeats
    allowed) give x[i] + x[j] + x[k] = 0 mod ``modulus``, else 0.0."""
    c = Checker("match3_labels", seed)
    fixed = [([3, 1], 7), ([0, 1], 5), ([1, 2, 4], 7)]  # j = k = i allowed; 0 matches itself; a plain triple
    for i in range(n_cases):
        if i < len(fixed):
            row, m = fixed[i]
        else:
            n, m = c.randint(1, 7), c.randint(2, 19)
            row = torch.randint(0, m, (n,), generator=c.generator).tolist()
        n = len(row)
        expected = torch.tensor(
            [
                1.0 if any((row[a] + row[b] + row[k]) % m == 0 for b in range(n) for k in range(n)) else 0.0
                for a in range(n)
            ],
            dtype=torch.float64,
        )
        got = c.call(match3_labels, torch.tensor(row, dtype=torch.long), m)
        if isinstance(got, torch.Tensor):
            got = got.to(torch.float64)
        c.close(f"#{i} x={row} modulus={m}", expected, got, atol=0.0, rtol=0.0)
    c.done()
