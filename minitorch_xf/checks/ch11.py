"""Checks for chapter 11's exercises: RMS-normalizing scores across heads, HYLA, the hypernetwork weights of
multi-head attention, and Zadeh's fuzzy DNF.

References are independent of the package: plain loops over (head, query, key) written from the paper's equations,
torch's ``nn.MultiheadAttention`` for the rewriting, and Python's ``min``/``max`` for the fuzzy formula.
"""

from __future__ import annotations

import math

import torch

from ._core import Checker

__all__ = ["check_hyla_attention", "check_hypernetwork_weights", "check_rms_head_norm", "check_zadeh_dnf"]

EPS = 1e-6


def _loop_rms(scores: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(scores)
    b, h, s, t = scores.shape
    for i in range(b):
        for q in range(s):
            for k in range(t):
                rms = math.sqrt(sum(float(scores[i, j, q, k]) ** 2 for j in range(h)) / h + EPS)
                out[i, :, q, k] = scores[i, :, q, k] / rms
    return out


def _loop_hyla(x, w_q, w_k, w_v, w_o, n_heads):
    """HYLA_q = sum_k (sum_h a_hqk W_O^h) ReLU(sum_h a_hqk W_V^h x_k), with RMS-over-heads linear scores."""
    n, m = x.shape
    d = w_q.shape[0] // n_heads
    wq, wk, wv = (w.view(n_heads, d, m) for w in (w_q, w_k, w_v))
    wo = w_o.view(m, n_heads, d)
    raw = torch.zeros(1, n_heads, n, n, dtype=x.dtype)
    for h in range(n_heads):
        for q in range(n):
            for k in range(n):
                raw[0, h, q, k] = (wq[h] @ x[q]) @ (wk[h] @ x[k]) / math.sqrt(d)
    a = _loop_rms(raw)[0]
    out = torch.zeros(n, m, dtype=x.dtype)
    for q in range(n):
        for k in range(n):
            hidden = torch.relu(sum(a[h, q, k] * (wv[h] @ x[k]) for h in range(n_heads)))
            out[q] += sum(a[h, q, k] * (wo[:, h] @ hidden) for h in range(n_heads))
    return out


def check_rms_head_norm(rms_head_norm, n_cases: int = 4, seed: int | None = None) -> None:
    """``rms_head_norm(scores)``: (b, h, s, t) -> each (q, k) code divided by its RMS over heads (eps 1e-6)."""
    c = Checker("rms_head_norm", seed)
    for i in range(n_cases):
        scores = c.randn(c.randint(1, 2), c.randint(1, 5), c.randint(1, 4), c.randint(1, 4))
        c.close(f"#{i} scores{tuple(scores.shape)}", _loop_rms(scores), c.call(rms_head_norm, scores))
    scores = c.randn(1, 1, 3, 3) + 3.0  # one head, scores far from 0: each code becomes x / sqrt(x^2 + eps)
    expected = scores / (scores.pow(2) + EPS).sqrt()
    c.close("one head: x / sqrt(x^2 + eps), about +-1", expected, c.call(rms_head_norm, scores))
    c.done()


def check_hyla_attention(hyla_attention, n_cases: int = 3, seed: int | None = None) -> None:
    """``hyla_attention(x, w_q, w_k, w_v, w_o, n_heads)``: x (n, m), w_q/w_k/w_v (h d, m), w_o (m, h d) -> (n, m)."""
    c = Checker("hyla_attention", seed)
    for i in range(n_cases):
        n, h, d = c.randint(2, 5), c.randint(1, 3), c.randint(1, 3)
        m = c.randint(2, 6)
        x = c.randn(n, m)
        w_q, w_k, w_v, w_o = c.randn(h * d, m), c.randn(h * d, m), c.randn(h * d, m), c.randn(m, h * d)
        got = c.call(hyla_attention, x, w_q, w_k, w_v, w_o, h)
        c.close(f"#{i} n={n} heads={h} d={d} m={m}", _loop_hyla(x, w_q, w_k, w_v, w_o, h), got)
    c.done()


def check_hypernetwork_weights(hypernetwork_weights, n_cases: int = 3, seed: int | None = None) -> None:
    """``hypernetwork_weights(a, w_v, w_o)``: a (b, h, s, t), w_v (h e, m), w_o (m, h e) -> W (b, s, t, m, m) with
    ``sum_k W[:, q, k] @ x_k`` equal to torch's ``nn.MultiheadAttention`` (no biases)."""
    c = Checker("hypernetwork_weights", seed)
    for i in range(n_cases):
        h = c.randint(1, 4)
        m, n = h * c.randint(1, 3), c.randint(2, 5)
        mha = torch.nn.MultiheadAttention(m, h, bias=False, batch_first=True).double()
        with torch.no_grad():
            mha.in_proj_weight.copy_(c.randn(3 * m, m) / math.sqrt(m))
            mha.out_proj.weight.copy_(c.randn(m, m) / math.sqrt(m))
            x = c.randn(2, n, m)
            expected, a = mha(x, x, x, average_attn_weights=False)
        w_v = mha.in_proj_weight.detach()[2 * m :]
        got = c.call(hypernetwork_weights, a, w_v, mha.out_proj.weight.detach())
        shape = (2, n, n, m, m)
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != shape:
            c.fail(f"#{i}: expected a tensor of shape {shape}, got {getattr(got, 'shape', type(got).__name__)}")
        c.close(f"#{i} heads={h} m={m}: sum_k W_qk x_k = MHA", expected, torch.einsum("bstmn,btn->bsm", got, x))
    c.done()


def check_zadeh_dnf(zadeh_dnf, n_cases: int = 4, seed: int | None = None) -> None:
    """``zadeh_dnf(signs, x)``: signs (K, n) in {0, 1}, x (p, n) in [0, 1] -> (p,) max_j min_i literal."""
    c = Checker("zadeh_dnf", seed)
    for i in range(n_cases):
        k, n, p = c.randint(1, 4), c.randint(1, 5), c.randint(1, 6)
        signs = torch.randint(0, 2, (k, n), generator=c.generator)
        x = torch.rand(p, n, generator=c.generator, dtype=torch.float64)
        expected = torch.tensor(
            [
                max(min(xi if s else 1 - xi for s, xi in zip(conj, row, strict=True)) for conj in signs.tolist())
                for row in x.tolist()
            ],
            dtype=torch.float64,
        )
        c.close(f"#{i} K={k} n={n} p={p}", expected, c.call(zadeh_dnf, signs, x))
    c.done()
