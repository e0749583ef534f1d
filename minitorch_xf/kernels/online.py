r"""The online softmax and FlashAttention's tiling, in plain torch: the algorithm of the Triton kernel, readable.

Shapes: ``s`` queries, ``t`` keys, ``d`` head dim; q ``(s, d)``, k and v ``(t, d)`` (one head: the kernel runs one
program per block of queries and per head, each doing exactly this).

A softmax state over a set of keys is $(m, \ell, o)$: the max logit $m$, the sum $\ell = \sum_j e^{x_j - m}$ and the
normalised output $o = \sum_j e^{x_j - m} v_j / \ell$. Two states over disjoint key sets merge exactly
(Milakov & Gimelshein, 2018; Dao et al., 2022):
$m = \max(m_1, m_2)$, $\ell = e^{m_1 - m}\ell_1 + e^{m_2 - m}\ell_2$,
$o = (e^{m_1 - m}\ell_1 o_1 + e^{m_2 - m}\ell_2 o_2)/\ell$.
"""

from __future__ import annotations

import torch

from .._validate import check_flag, check_positive, check_tensor

__all__ = ["block_state", "merge_states", "online_attention"]


def block_state(x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The state $(m, \ell, o)$ of logits ``x`` (s, n) over values ``v`` (n, d); a row of all ``-inf`` gives
    $(-\infty, 0, 0)$, the identity of :func:`merge_states`."""
    check_tensor("x", x, ndim=2, floating=True)
    check_tensor("v", v, ndim=2, floating=True)
    if x.shape[1] != v.shape[0]:
        raise ValueError(f"x has {x.shape[1]} columns but v has {v.shape[0]} rows: they must match")
    m = x.max(dim=1).values  # (s,)
    safe = torch.where(torch.isinf(m), torch.zeros_like(m), m)  # all-masked rows: no NaN from -inf - -inf
    p = torch.exp(x - safe[:, None])  # (s, n)
    ell = p.sum(1)
    o = (p @ v) / torch.where(ell > 0, ell, torch.ones_like(ell))[:, None]  # (s, d)
    return m, ell, o


def merge_states(state_1, state_2):
    r"""Merge two softmax states over disjoint key sets: $m = \max(m_1, m_2)$, rescale each by $e^{m_i - m}$."""
    (m1, l1, o1), (m2, l2, o2) = state_1, state_2
    m = torch.maximum(m1, m2)
    safe = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    a1, a2 = torch.exp(m1 - safe) * l1, torch.exp(m2 - safe) * l2  # (s,): each block's weight
    ell = a1 + a2
    o = (a1[:, None] * o1 + a2[:, None] * o2) / torch.where(ell > 0, ell, torch.ones_like(ell))[:, None]
    return m, ell, o


def online_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block: int = 16, causal: bool = False, scale=None
) -> tuple[torch.Tensor, dict]:
    r"""Attention by key blocks of size ``block``, merging states as the kernel does; returns the output (s, d) and a
    trace: ``max`` and ``sum`` (blocks + 1, s), the running $m$ and $\ell$ after each block (row 0: before any),
    and ``visited`` (s_blocks, t_blocks), which tiles a kernel with query blocks of size ``block`` computes."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, x, ndim=2, floating=True)
    if k.shape != v.shape or k.shape[1] != q.shape[1]:
        raise ValueError(f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}: expected (s, d), (t, d), (t, d)")
    block = check_positive("block", block)
    check_flag("causal", causal)
    s, t = q.shape[0], k.shape[0]
    scale = q.shape[1] ** -0.5 if scale is None else scale
    x = (q @ k.T) * scale  # (s, t): computed whole here for clarity; the kernel computes one tile at a time
    if causal:
        x = x.masked_fill(torch.ones(s, t, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
    state = (torch.full((s,), float("-inf"), dtype=q.dtype), torch.zeros(s, dtype=q.dtype), torch.zeros_like(q))
    maxes, sums = [state[0]], [state[1]]
    for start in range(0, t, block):
        state = merge_states(state, block_state(x[:, start : start + block], v[start : start + block]))
        maxes.append(state[0])
        sums.append(state[1])
    n_row_blocks, n_col_blocks = -(-s // block), -(-t // block)
    visited = torch.ones(n_row_blocks, n_col_blocks, dtype=torch.bool)
    if causal:  # query block i stops after the key block holding its last query
        visited = torch.arange(n_col_blocks)[None, :] * block <= (torch.arange(n_row_blocks)[:, None] + 1) * block - 1
    return state[2], {"max": torch.stack(maxes), "sum": torch.stack(sums), "visited": visited}
