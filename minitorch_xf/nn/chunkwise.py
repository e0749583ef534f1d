r"""Chunkwise-parallel causal linear attention: quadratic inside a chunk, a d x e state carried between chunks.

Shape glossary: b batch, h heads, n tokens, d feature dim (of $\phi(q)$, $\phi(k)$), e value dim; ``...`` any batch
dims; the sequence is cut into N = ceil(n / C) chunks of C tokens (the last one zero-padded).

Causal linear attention needs, for every token i, $o_i = \sum_{j \le i} (\phi(q_i)^\top\phi(k_j))\, v_j$
(Katharopoulos et al., 2020, eq. 9). The parallel form keeps every prefix sum $S_i = \sum_{j\le i}\phi(k_j)v_j^\top$:
O(n d e) memory. The recurrent form keeps one $S$ but visits the tokens one by one. The chunkwise form (Hua et al.,
2022, FLASH, sec. 3.3; Yang et al., 2024, GLA, sec. 3.2) splits the sum at the start of token i's chunk c:
$$ o_i = \underbrace{\phi(q_i)^\top S_{[c]}}_{\text{earlier chunks}}
       + \underbrace{\sum_{j \in c,\, j \le i} (\phi(q_i)^\top\phi(k_j))\, v_j}_{\text{inside the chunk}},\qquad
   S_{[c]} = \sum_{c' < c} \phi(K_{c'})^\top V_{c'} . $$
Every chunk is one batched matrix product: time O(n (C d + C e + d e)), memory O(n C + (n / C) d e), no loop over
tokens. The gradient is three more calls of the same product (sums over $i \ge j$ for dK and dV), so the backward
pass saves only $\phi(q)$, $\phi(k)$ and v.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validate import check_positive, check_same_device, check_same_dtype, check_tensor

__all__ = ["causal_linear_chunkwise"]


def _chunk_scan(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk: int, reverse: bool = False) -> torch.Tensor:
    r"""$o_i = \sum_{j \le i} (q_i^\top k_j)\, v_j$ ($j \ge i$ when ``reverse``), chunk by chunk, for checked tensors.

    q, k: (..., n, d), v: (..., n, e) with the same batch dims -> (..., n, e).
    """
    *batch, n, d = q.shape
    e = v.shape[-1]
    pad = (-n) % chunk  # zero rows at the end: a zero key or value adds nothing, a padded query is dropped
    if pad:
        q, k, v = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
    n_chunks = (n + pad) // chunk
    qc = q.reshape(-1, n_chunks, chunk, d)  # (B, N, C, d), B = product of the batch dims
    kc = k.reshape(-1, n_chunks, chunk, d)  # (B, N, C, d)
    vc = v.reshape(-1, n_chunks, chunk, e)  # (B, N, C, e)
    scores = qc @ kc.transpose(-2, -1)  # (B, N, C, C)
    scores = scores.triu_() if reverse else scores.tril_()  # key j against query i inside one chunk
    kv = kc.transpose(-2, -1) @ vc  # (B, N, d, e): phi(K_c)^T V_c of every chunk
    state = torch.empty_like(kv)  # (B, N, d, e): the sum over the chunks before (after, when reverse) chunk c
    order = range(n_chunks - 1, -1, -1) if reverse else range(n_chunks)
    prev = None
    for c in order:  # N additions of a (B, d, e) state: the only loop, over chunks, never over tokens
        if prev is None:
            state[:, c].zero_()
        else:
            state[:, c].copy_(state[:, prev]).add_(kv[:, prev])  # in place: torch.add(out=<a view>) is slow
        prev = c
    out = torch.baddbmm(  # inside the chunk + from the earlier (later) chunks, in one product
        (scores @ vc).view(-1, chunk, e), qc.view(-1, chunk, d), state.view(-1, d, e)
    )  # (B N, C, e)
    return out.view(-1, n_chunks * chunk, e)[:, :n].reshape(*batch, n, e)  # (..., n, e)


class _CausalLinearChunkwise(torch.autograd.Function):
    """Forward: :func:`_chunk_scan`. Backward, with $o_i = \\sum_{j\\le i}(q_i^\\top k_j) v_j$:
    $dq_i = \\sum_{j \\le i} (dO_i^\\top v_j) k_j$, $dk_j = \\sum_{i \\ge j} (v_j^\\top dO_i) q_i$,
    $dv_j = \\sum_{i \\ge j} (k_j^\\top q_i)\\, dO_i$: three more chunk scans, nothing of size n d e saved."""

    @staticmethod
    def forward(ctx, q, k, v, chunk):
        ctx.save_for_backward(q, k, v)
        ctx.chunk = chunk
        return _chunk_scan(q, k, v, chunk)

    @staticmethod
    def backward(ctx, dout):
        q, k, v = ctx.saved_tensors
        chunk, need = ctx.chunk, ctx.needs_input_grad
        dout = dout.contiguous()
        dq = _chunk_scan(dout, v, k, chunk) if need[0] else None
        dk = _chunk_scan(v, dout, q, chunk, reverse=True) if need[1] else None
        dv = _chunk_scan(k, q, dout, chunk, reverse=True) if need[2] else None
        return dq, dk, dv, None


def _causal_product(fq: torch.Tensor, fk: torch.Tensor, v: torch.Tensor, chunk: int) -> torch.Tensor:
    """The chunkwise product with its own backward, for already-checked tensors (batch dims broadcast here)."""
    batch = torch.broadcast_shapes(fq.shape[:-2], fk.shape[:-2], v.shape[:-2])
    fq, fk, v = (x.expand(*batch, *x.shape[-2:]) for x in (fq, fk, v))  # autograd sums a broadcast gradient back
    return _CausalLinearChunkwise.apply(fq, fk, v, chunk)


def causal_linear_chunkwise(fq: torch.Tensor, fk: torch.Tensor, v: torch.Tensor, chunk_size: int = 64) -> torch.Tensor:
    r"""$o_i = \sum_{j\le i} (\phi(q_i)^\top \phi(k_j))\, v_j$ chunk by chunk, with a backward that saves O(n (d + e)).

    Args:
        fq: (..., n, d) query features $\phi(q)$.  fk: (..., n, d) key features $\phi(k)$.  v: (..., n, e).
            Batch dims broadcast.
        chunk_size: C, the tokens per chunk (any C > 0 gives the same result; 64 is fast on a CPU).
    Returns:
        (..., n, e): causal linear attention's numerator; :func:`~minitorch_xf.nn.kernelized.linear_attention`
        (``causal=True``) divides it by $\phi(q_i)^\top \sum_{j \le i}\phi(k_j)$.
    """
    for name, x in (("fq", fq), ("fk", fk), ("v", v)):
        check_tensor(name, x, min_ndim=2, floating=True)
    check_same_dtype(fq=fq, fk=fk, v=v)
    check_same_device(fq=fq, fk=fk, v=v)
    check_positive("chunk_size", chunk_size)
    if fq.shape[-1] != fk.shape[-1] or not fq.shape[-2] == fk.shape[-2] == v.shape[-2]:
        raise ValueError(
            f"fq {tuple(fq.shape)} and fk {tuple(fk.shape)} must share n and d, and v {tuple(v.shape)} must have n "
            f"rows: causal linear attention has one key and one value per query"
        )
    try:
        torch.broadcast_shapes(fq.shape[:-2], fk.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"fq {tuple(fq.shape)}, fk {tuple(fk.shape)} and v {tuple(v.shape)} have batch dims that do not broadcast"
        ) from None
    return _causal_product(fq, fk, v, chunk_size)
