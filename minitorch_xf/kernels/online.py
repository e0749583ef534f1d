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

from .._validate import check_flag, check_number, check_positive, check_same_device, check_same_dtype, check_tensor

__all__ = ["block_state", "merge_states", "online_attention"]


def block_state(x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The state $(m, \ell, o)$ of logits ``x`` (s, n) over values ``v`` (n, d); a row of all ``-inf`` gives
    $(-\infty, 0, 0)$, the identity of :func:`merge_states`."""
    check_tensor("x", x, ndim=2, floating=True)
    check_tensor("v", v, ndim=2, floating=True)
    check_same_dtype(x=x, v=v)
    check_same_device(x=x, v=v)
    if x.shape[1] != v.shape[0]:
        raise ValueError(f"x has {x.shape[1]} columns but v has {v.shape[0]} rows: they must match")
    if x.shape[1] == 0:
        raise ValueError(f"x has shape {tuple(x.shape)}: a block needs at least one key (column)")
    m = x.max(dim=1).values  # (s,)
    safe = torch.where(torch.isinf(m), torch.zeros_like(m), m)  # all-masked rows: no NaN from -inf - -inf
    p = torch.exp(x - safe[:, None])  # (s, n)
    ell = p.sum(1)
    o = (p @ v) / torch.where(ell > 0, ell, torch.ones_like(ell))[:, None]  # (s, d)
    return m, ell, o


def _check_state(name: str, state) -> None:
    """``state`` is a triple (m (s,), ell (s,), o (s, d)) of floating tensors of one dtype and device."""
    if not isinstance(state, (tuple, list)) or len(state) != 3:
        raise TypeError(f"{name} must be a triple (m, ell, o) as block_state returns, got {type(state).__name__}")
    m, ell, o = state
    check_tensor(f"{name}[0] (m)", m, ndim=1, floating=True)
    check_tensor(f"{name}[1] (ell)", ell, ndim=1, floating=True)
    check_tensor(f"{name}[2] (o)", o, ndim=2, floating=True)
    if ell.shape != m.shape or o.shape[0] != m.shape[0]:
        raise ValueError(
            f"{name} has m {tuple(m.shape)}, ell {tuple(ell.shape)}, o {tuple(o.shape)}: expected (s,), (s,), (s, d)"
        )
    check_same_dtype(**{f"{name}.m": m, f"{name}.ell": ell, f"{name}.o": o})
    check_same_device(**{f"{name}.m": m, f"{name}.ell": ell, f"{name}.o": o})


def merge_states(state_1, state_2):
    r"""Merge two softmax states over disjoint key sets: $m = \max(m_1, m_2)$, rescale each by $e^{m_i - m}$.

    Each state is a triple ``(m (s,), ell (s,), o (s, d))`` as :func:`block_state` returns; both have one shape.
    """
    _check_state("state_1", state_1)
    _check_state("state_2", state_2)
    if state_1[2].shape != state_2[2].shape:
        raise ValueError(
            f"state_1 has o of shape {tuple(state_1[2].shape)} but state_2 has {tuple(state_2[2].shape)}: they must "
            "be states of the same queries and value dim"
        )
    check_same_dtype(state_1=state_1[0], state_2=state_2[0])
    check_same_device(state_1=state_1[0], state_2=state_2[0])
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
    and ``visited`` (s_blocks, t_blocks), which tiles a kernel with query blocks of size ``block`` computes.

    ``scale`` is a finite number > 0 (default $d^{-1/2}$); q, k and v share one dtype and device, with s, t, d >= 1.
    """
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, x, ndim=2, floating=True)
    check_same_dtype(q=q, k=k, v=v)
    check_same_device(q=q, k=k, v=v)
    if k.shape != v.shape or k.shape[1] != q.shape[1]:
        raise ValueError(f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}: expected (s, d), (t, d), (t, d)")
    if min(q.shape[0], k.shape[0], q.shape[1]) == 0:
        raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)} must have s, t, d >= 1")
    block = check_positive("block", block)
    check_flag("causal", causal)
    s, t = q.shape[0], k.shape[0]
    scale = q.shape[1] ** -0.5 if scale is None else check_number("scale", scale, low=0, low_open=True)
    x = (q @ k.T) * scale  # (s, t): computed whole here for clarity; the kernel computes one tile at a time
    if causal:
        x = x.masked_fill(torch.ones(s, t, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
    state = (
        torch.full((s,), float("-inf"), dtype=q.dtype, device=q.device),
        torch.zeros(s, dtype=q.dtype, device=q.device),
        torch.zeros_like(q),
    )
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
