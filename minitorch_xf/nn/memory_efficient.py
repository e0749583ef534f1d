r"""Attention that fits in memory: blockwise forward with the online softmax, and a backward that recomputes.

Shape glossary: b batch, h heads, s queries, t keys, d head dim, e value dim; ``...`` any batch dims; a block of
queries has ``bq`` rows and a block of keys ``bk`` columns.

Forward (Milakov & Gimelshein, 2018; Dao et al., 2022, FlashAttention, alg. 1): stream over key blocks keeping the
row max $m$, the normaliser $\ell$ and the unnormalised output, and keep only the log-sum-exp
$L_i = m_i + \log \ell_i$ of each row. Backward (FlashAttention, alg. 2): recompute each block of probabilities
$P_{ij} = e^{S_{ij} - L_i}$ from q, k and L, and with $D_i = \sum_c dO_{ic} O_{ic}$
$$ dV = P^\top dO,\qquad dP = dO\,V^\top,\qquad dS = P \odot (dP - D),\qquad dQ = dS\,K\cdot\mathrm{scale},\qquad
   dK = dS^\top Q\cdot\mathrm{scale}. $$
Saved for backward: q, k, v, the output and L -- O((s + t)(d + e)) per head -- never an (s, t) matrix. Both passes
take a block of bq query rows against the whole key range it may see ([0, i0 + bq + t - s) when causal) as one
product, for a group of heads at once while the block fits in ``_TEMP_ELEMENTS`` numbers: few, large products, and
few points where the CPU threads wait for each other. The forward normalises a block with torch's fused softmax (its
passes over a row run while the row is in cache) and reads L off the result: the largest entry of row i of P is
$e^0/\ell_i$, so $L_i = m_i - \log\max_j P_{ij}$. The backward adds $-L$ (for P) and $-D$ (for dS) inside the
products (``baddbmm``) rather than in extra passes. The working memory is two such blocks (the scores and P, or P
and dS), at most 2 max(_TEMP_ELEMENTS, bq t) numbers: linear in t. Plain autograd through the same loops would save
every block: O(s t) again.

Registered with the dispatcher (:mod:`~minitorch_xf.nn.dispatch`) as ``"memory_efficient"``. Also:
:func:`set_attention_backend`, which sets the backend of every attention layer of a model;
:func:`saved_tensor_bytes`, which counts the bytes autograd keeps for the backward pass; and :func:`peak_memory`,
which measures a function's peak resident memory on Linux.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import torch

from .._validate import check_callable, check_choice, check_flag, check_positive
from .attention import MultiHeadAttention
from .dispatch import (
    _check_qkv,
    _check_scale,
    attention,  # noqa: F401  (the switch lived here: minitorch_xf.nn.dispatch.attention now)
    attention_backends,
    register_attention_backend,
)

__all__ = [
    "memory_efficient_attention",
    "peak_memory",
    "saved_tensor_bytes",
    "set_attention_backend",
]


_TEMP_ELEMENTS = 1 << 21  # a head group's (G, bq, t) scores hold at most max(this, bq t) numbers (see _groups)


def _groups(heads: int, bq: int, t: int):
    """Ranges of G heads covering range(heads), G = max(1, _TEMP_ELEMENTS // (bq t)): the heads whose query blocks
    are taken together, so that a (G, bq, t) block of scores holds at most max(_TEMP_ELEMENTS, bq t) numbers."""
    step = max(1, _TEMP_ELEMENTS // max(bq * t, 1))
    return [slice(i, min(i + step, heads)) for i in range(0, heads, step)]


def _first_row(s: int, t: int, causal: bool) -> int:
    """The first query row that sees a key: rows i < s - t see none when causal (bottom-right alignment, s > t)."""
    return min(s, max(0, s - t)) if causal else (s if t == 0 else 0)


def _masked_scores(qs, k, i0, causal, offset, shift=None):
    """Scores (G, bq, t_i) of the (already scaled) query rows [i0, i0 + bq) against the keys they may see,
    [0, t_i) with t_i = min(t, i0 + bq + offset) when causal (all t keys otherwise), plus ``shift`` (G, bq, 1) if
    given (added inside the product, by ``baddbmm``); the keys past a row's diagonal (only in the last bq columns)
    set to -inf. The caller starts at a row that sees a key, so t_i >= 1."""
    bq, t = qs.shape[-2], k.shape[-2]
    t_i = min(t, i0 + bq + offset) if causal else t
    kt = k[:, :t_i].transpose(-2, -1)  # (G, d, t_i)
    sc = qs @ kt if shift is None else torch.baddbmm(shift, qs, kt)  # one product against the visible key range
    j0 = max(0, i0 + offset + 1)  # the first column some row of the block may not see
    if causal and j0 < t_i:
        rows = torch.arange(i0, i0 + bq, device=qs.device)[:, None] + offset  # (bq, 1)
        cols = torch.arange(j0, t_i, device=qs.device)[None, :]  # (1, t_i - j0)
        sc[..., j0:].masked_fill_(cols > rows, float("-inf"))
    return sc


class _MemoryEfficientAttention(torch.autograd.Function):
    """q (B, s, d), k (B, t, d), v (B, t, e) -> (B, s, e); saves q, k, v, the output and the log-sum-exp."""

    @staticmethod
    def forward(ctx, q, k, v, causal, scale, block):
        s, t = q.shape[-2], k.shape[-2]
        offset = t - s  # bottom-right causal alignment, as in scaled_dot_product_attention
        out = q.new_zeros((*q.shape[:-1], v.shape[-1]))  # (B, s, e): a row that sees no key outputs 0
        lse = q.new_full(q.shape[:-1], float("-inf"))  # (B, s): and keeps L = -inf
        first = _first_row(s, t, causal)
        for g in _groups(q.shape[0], min(block, s - first), t):
            for i0 in range(first, s, block):
                qi = q[g, i0 : i0 + block] * scale  # (G, bq, d): scaled per block, no scaled copy of q
                sc = _masked_scores(qi, k[g], i0, causal, offset)  # (G, bq, t_i); every row sees a key
                m = sc.amax(-1, keepdim=True)  # (G, bq, 1): the row max
                p = torch.softmax(sc, -1)  # (G, bq, t_i): one fused pass per row, in cache
                del sc
                # the max entry of row i is e^0 / l_i: L_i = m_i + log l_i = m_i - log max_j P_ij
                lse[g, i0 : i0 + block] = (m - p.amax(-1, keepdim=True).log()).squeeze(-1)
                torch.bmm(p, v[g, : p.shape[-1]], out=out[g, i0 : i0 + block])
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.causal, ctx.scale, ctx.block = causal, scale, block
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, out, lse = ctx.saved_tensors
        causal, scale, block = ctx.causal, ctx.scale, ctx.block
        s, t = q.shape[-2], k.shape[-2]
        offset = t - s
        dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
        neg_d = -(dout * out).sum(-1, keepdim=True)  # (B, s, 1): -D_i = -dO_i . O_i
        neg_lse = -lse[..., None]  # (B, s, 1)
        first = _first_row(s, t, causal)
        for g in _groups(q.shape[0], min(block, s - first), t):
            for i0 in range(first, s, block):
                qi = q[g, i0 : i0 + block] * scale  # (G, bq, d); dK = dS^T Q scale = dS^T (Q scale)
                doi = dout[g, i0 : i0 + block]  # (G, bq, e)
                # P = exp(S - L) recomputed: the subtraction rides in the product (baddbmm), the mask and exp in place
                p = _masked_scores(qi, k[g], i0, causal, offset, shift=neg_lse[g, i0 : i0 + block]).exp_()
                t_i = p.shape[-1]
                dv[g, :t_i].baddbmm_(p.transpose(-2, -1), doi)  # dV += P^T dO
                # dS = P (dP - D) with dP = dO V^T: -D rides in the product, then one pass
                ds = torch.baddbmm(neg_d[g, i0 : i0 + block], doi, v[g, :t_i].transpose(-2, -1)).mul_(p)
                del p
                torch.bmm(ds, k[g, :t_i], out=dq[g, i0 : i0 + block])  # dQ = dS K (scaled below)
                dk[g, :t_i].baddbmm_(ds.transpose(-2, -1), qi)  # dK += dS^T (Q scale)
        return dq.mul_(scale), dk, dv, None, None, None


def memory_efficient_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    scale: float | None = None,
    block_size: int = 128,
) -> torch.Tensor:
    r"""$\mathrm{softmax}(QK^\top\cdot\mathrm{scale})V$ in O((s + t)(d + e) + bq\,t) memory, forward and backward.

    Args:
        q: (..., s, d), k: (..., t, d), v: (..., t, e); batch dims broadcast as in
            :func:`~minitorch_xf.nn.attention.scaled_dot_product_attention`.
        causal: bottom-right aligned, as there (the same as torch's ``is_causal`` when s == t).
        scale: a finite number > 0, default $1/\sqrt d$.
        block_size: bq, the query rows of one block (taken against every key they may see).
    Returns:
        (..., s, e); a query that sees no key outputs 0.
    """
    batch = _check_qkv(q, k, v)
    check_flag("causal", causal)
    check_positive("block_size", block_size)
    return _memory_efficient(q, k, v, None, causal, _check_scale(scale, q.shape[-1]), block_size, batch)


def _memory_efficient(q, k, v, mask, causal: bool, scale: float, block_size: int = 128, batch=None) -> torch.Tensor:
    """:func:`memory_efficient_attention` on checked arguments (``mask`` is None): the ``"memory_efficient"``
    backend of the dispatcher."""
    if batch is None:
        batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    q, k, v = (x.expand(*batch, *x.shape[-2:]).reshape(-1, *x.shape[-2:]) for x in (q, k, v))  # (B, ., .)
    out = _MemoryEfficientAttention.apply(q, k, v, causal, scale, block_size)  # autograd sums a broadcast back
    return out.view(*batch, *out.shape[-2:])


register_attention_backend("memory_efficient", _memory_efficient, takes_mask=False)


def set_attention_backend(model: torch.nn.Module, backend: str) -> torch.nn.Module:
    """Set ``backend`` on every :class:`~minitorch_xf.nn.attention.MultiHeadAttention` inside ``model``; return it.

    ``backend``: one of :func:`~minitorch_xf.nn.dispatch.attention_backends`.
    """
    check_choice("backend", backend, attention_backends())
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    for module in model.modules():
        if isinstance(module, MultiHeadAttention):
            module.backend = backend
    return model


def saved_tensor_bytes(fn, *args, **kwargs) -> tuple[object, int]:
    """Run ``fn(*args, **kwargs)``; return (its result, the bytes of the tensors autograd saved for the backward pass).

    Counted, not timed: every tensor packed by ``torch.autograd.graph.saved_tensors_hooks`` during the call, each
    distinct storage once at its full size (a saved view holds its whole storage; q and ``k.transpose(-2, -1)``
    saved together count k's storage once). Inputs that are saved count too. Tensors on the ``meta`` device have no
    storage to tell apart: pass real ones.
    """
    check_callable("fn", fn)
    kept: dict[tuple[str, int], torch.Tensor] = {}  # (device, storage address) -> one tensor on it, kept alive

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        kept.setdefault((str(t.device), storage.data_ptr()), t)  # holding t keeps the address from being reused
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = fn(*args, **kwargs)
    total = sum(t.untyped_storage().nbytes() for t in kept.values())
    return result, total


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line")


def peak_memory(fn, *args, **kwargs) -> tuple[object, int]:
    """Run ``fn(*args, **kwargs)``; return (its result, the peak growth of resident memory in bytes).

    Linux only: frees the allocator's cached heap (``malloc_trim``), resets the kernel's high-water mark
    (``/proc/self/clear_refs``), and reads ``VmHWM - VmRSS`` measured before the call. Counts every allocation,
    torch's included (which ``tracemalloc`` does not see), at page granularity; run it with nothing else in the
    process allocating (one thread).
    """
    check_callable("fn", fn)
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.malloc_trim(0)
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError as err:
        raise RuntimeError(f"peak_memory needs Linux's /proc/self/clear_refs, which failed: {err}") from err
    before = _rss_kib("VmRSS")
    result = fn(*args, **kwargs)
    return result, 1024 * max(_rss_kib("VmHWM") - before, 0)
