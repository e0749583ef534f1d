r"""Attention as an RNN: the (m, u, w) state, its associative combine and the parallel prefix scan (Feng et al., 2024).

Shape glossary: b batch, h heads, n tokens, d head dim, e value dim; ``...`` any batch dims.

For one query q and keys up to position k, with scores $s_j = q^\top k_j / \sqrt d$, softmax attention is the ratio
$o_k = w_k / u_k$ of the running sums
$$ m_k = \max_{j\le k} s_j,\qquad u_k = \sum_{j\le k} e^{s_j - m_k},\qquad w_k = \sum_{j\le k} e^{s_j-m_k} v_j . $$
Two partial states over disjoint, adjacent blocks A then B merge with the associative operator
$$ (m_A,u_A,w_A)\oplus(m_B,u_B,w_B) = \big(m,\; u_A e^{m_A-m} + u_B e^{m_B-m},\; w_A e^{m_A-m} + w_B e^{m_B-m}\big),
   \quad m = \max(m_A, m_B), $$
so all n prefix outputs come from a parallel prefix scan in $\lceil\log_2 n\rceil$ rounds (Hillis and Steele), and a new
token updates the state in O(1): an RNN.
"""

from __future__ import annotations

import math

import torch

from .._validate import check_like, check_number, check_tensor
from .dispatch import _check_qkv

__all__ = ["attention_rnn", "prefix_scan_attention", "scan_combine"]

State = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def scan_combine(a: State, b: State) -> State:
    r"""$(m_A,u_A,w_A)\oplus(m_B,u_B,w_B)$: m, u of shape (...,), w of shape (..., e); A comes before B.

    An empty block is $(-\infty, 0, 0)$, the identity of $\oplus$.
    """
    for name, state in (("a", a), ("b", b)):
        if not isinstance(state, tuple | list) or len(state) != 3:
            raise TypeError(f"{name} must be a state (m, u, w) of three tensors, got {type(state).__name__}")
    (m_a, u_a, w_a), (m_b, u_b, w_b) = a, b
    for name, x in (("m_a", m_a), ("u_a", u_a), ("w_a", w_a), ("m_b", m_b), ("u_b", u_b), ("w_b", w_b)):
        check_tensor(name, x, floating=True)
        if x is not m_a:
            check_like(name, x, "m_a", m_a)
    for name, x in (("u_a", u_a), ("m_b", m_b), ("u_b", u_b)):
        if x.shape != m_a.shape:
            raise ValueError(f"{name} has shape {tuple(x.shape)} but m_a has {tuple(m_a.shape)}: m and u share a shape")
    for name, x in (("w_a", w_a), ("w_b", w_b)):
        if x.shape[:-1] != m_a.shape or x.dim() != m_a.dim() + 1:
            raise ValueError(f"{name} has shape {tuple(x.shape)}; it must be m's shape {tuple(m_a.shape)} plus (e,)")
    if w_a.shape != w_b.shape:
        raise ValueError(f"w_a has shape {tuple(w_a.shape)} but w_b has {tuple(w_b.shape)}")
    m = torch.maximum(m_a, m_b)
    m_safe = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # two empty blocks: scale by exp(-inf) = 0
    ca, cb = torch.exp(m_a - m_safe), torch.exp(m_b - m_safe)  # (...,): both <= 1
    return m, u_a * ca + u_b * cb, w_a * ca[..., None] + w_b * cb[..., None]


def _scores(q, k, v, scale):
    check_tensor("q", q, min_ndim=1, floating=True)
    check_tensor("k", k, min_ndim=2, floating=True)
    check_tensor("v", v, min_ndim=2, floating=True)
    if q.dim() not in (k.dim(), k.dim() - 1):
        raise ValueError(
            f"q has shape {tuple(q.shape)} and k {tuple(k.shape)}: q must be (..., d) with k's batch dims (one query "
            f"per sequence) or (..., n, d) like k (one per position)"
        )
    per_position = q.dim() == k.dim()
    _check_qkv(q if per_position else q[..., None, :], k, v)
    d, n = k.shape[-1], k.shape[-2]
    if per_position and q.shape[-2] != n:
        raise ValueError(f"q has shape {tuple(q.shape)}: one query per position needs q.shape[-2] = n = {n}")
    scale = 1.0 / math.sqrt(d) if scale is None else check_number("scale", scale, low=0, low_open=True)
    if per_position:
        return (q @ k.transpose(-2, -1)) * scale, v[..., None, :, :], True  # (..., n, n), (..., 1, n, e)
    return (k @ q[..., :, None]).squeeze(-1) * scale, v, False  # (..., n), (..., n, e)


def prefix_scan_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None = None):
    r"""All prefix outputs $o_k = \mathrm{softmax}(s_{1..k})\,v_{1..k}$ by a parallel prefix scan of $\oplus$.

    Args:
        q: (..., d) one query per sequence (Aaren's learned query), or (..., n, d) one query per position.
        k: (..., n, d), v: (..., n, e).  scale: default $1/\sqrt d$.
    Returns:
        (..., n, e): row k attends to keys 1..k. With q of shape (..., n, d) this is causal softmax attention
        (query k against its prefix; O(n^2 e) memory), with q of shape (..., d) that of the repeated query.
    """
    s, vals, per_position = _scores(q, k, v, scale)
    m, u, w = s, torch.ones_like(s), vals.expand(*s.shape, v.shape[-1])  # leaves: (s_j, 1, v_j)
    n, shift = s.shape[-1], 1
    while shift < n:  # Hillis-Steele: after the round with offset 2^r each entry covers 2^(r+1) tokens
        pad = (m.new_full((*m.shape[:-1], shift), float("-inf")), m.new_zeros((*u.shape[:-1], shift)))
        m_prev = torch.cat([pad[0], m[..., :-shift]], dim=-1)  # (..., n): the block ending `shift` earlier
        u_prev = torch.cat([pad[1], u[..., :-shift]], dim=-1)
        w_prev = torch.cat([w.new_zeros((*w.shape[:-2], shift, w.shape[-1])), w[..., :-shift, :]], dim=-2)
        m, u, w = scan_combine((m_prev, u_prev, w_prev), (m, u, w))
        shift *= 2
    out = w / u[..., None]  # (..., n, e) or (..., n, n, e)
    return out.diagonal(dim1=-3, dim2=-2).transpose(-2, -1) if per_position else out


def attention_rnn(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None = None):
    r"""The same prefix outputs token by token: $(m,u,w) \leftarrow (m,u,w) \oplus (s_k, 1, v_k)$, O(1) state.

    q: (..., d) one query per sequence; k: (..., n, d), v: (..., n, e) -> (..., n, e).
    """
    check_tensor("q", q, min_ndim=1, floating=True)
    check_tensor("k", k, min_ndim=2, floating=True)
    if q.dim() != k.dim() - 1:
        raise ValueError(f"attention_rnn takes one query per sequence, q (..., d), got q of shape {tuple(q.shape)}")
    s, vals, _ = _scores(q, k, v, scale)
    m = s.new_full(s.shape[:-1], float("-inf"))  # (...,): the empty prefix
    u, w = s.new_zeros(s.shape[:-1]), s.new_zeros((*s.shape[:-1], v.shape[-1]))
    outs = []
    for j in range(s.shape[-1]):
        m, u, w = scan_combine((m, u, w), (s[..., j], torch.ones_like(u), vals[..., j, :]))
        outs.append(w / u[..., None])
    return torch.stack(outs, dim=-2)  # (..., n, e)
