r"""Attention that fits in memory: blockwise forward with the online softmax, and a backward that recomputes.

Shape glossary: b batch, h heads, s queries, t keys, d head dim, e value dim; ``...`` any batch dims; a block of
queries has ``bq`` rows and a block of keys ``bk`` columns.

Forward (Milakov & Gimelshein, 2018; Dao et al., 2022, FlashAttention, alg. 1): stream over key blocks keeping the
row max $m$, the normaliser $\ell$ and the unnormalised output, and keep only the log-sum-exp
$L_i = m_i + \log \ell_i$ of each row. Backward (FlashAttention, alg. 2): recompute each block of probabilities
$P_{ij} = e^{S_{ij} - L_i}$ from q, k and L, and with $D_i = \sum_c dO_{ic} O_{ic}$
$$ dV = P^\top dO,\qquad dP = dO\,V^\top,\qquad dS = P \odot (dP - D),\qquad dQ = dS\,K\cdot\mathrm{scale},\qquad
   dK = dS^\top Q\cdot\mathrm{scale}. $$
Saved for backward: q, k, v, the output and L -- O((s + t)(d + e)) per head -- never an (s, t) matrix. The working
memory is one (bq, bk) block. Plain autograd through the same loops would save every block: O(s t) again.

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


def _block_scores(qs, k, i0, j0, causal, offset):
    """Scores of the (already scaled) query block i0 against key block j0, masked: (..., bq, bk).

    Only a block that crosses the diagonal is masked: one wholly below it sees every key."""
    sc = qs @ k.transpose(-2, -1)  # (..., bq, bk)
    if causal and j0 + k.shape[-2] - 1 > i0 + offset:
        rows = torch.arange(i0, i0 + qs.shape[-2], device=qs.device)[:, None] + offset  # (bq, 1)
        cols = torch.arange(j0, j0 + k.shape[-2], device=qs.device)[None, :]  # (1, bk)
        sc.masked_fill_(cols > rows, float("-inf"))
    return sc


def _skip(causal, i0, bq, j0, offset):
    """True when the key block starting at j0 lies entirely in the future of the query block [i0, i0 + bq)."""
    return causal and j0 > i0 + bq - 1 + offset


class _MemoryEfficientAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, causal, scale, block):
        s, t = q.shape[-2], k.shape[-2]
        offset = t - s  # bottom-right causal alignment, as in scaled_dot_product_attention
        qs = q * scale  # scaled once, not once per block
        out = q.new_empty((*q.shape[:-1], v.shape[-1]))  # (..., s, e)
        lse = q.new_empty(q.shape[:-1])  # (..., s)
        for i0 in range(0, s, block):
            qi = qs[..., i0 : i0 + block, :]  # (..., bq, d)
            m = q.new_full(qi.shape[:-1], float("-inf"))  # (..., bq)
            ell = q.new_zeros(qi.shape[:-1])  # (..., bq)
            o = q.new_zeros((*qi.shape[:-1], v.shape[-1]))  # (..., bq, e)
            for j0 in range(0, t, block):
                if _skip(causal, i0, qi.shape[-2], j0, offset):
                    break
                sc = _block_scores(qi, k[..., j0 : j0 + block, :], i0, j0, causal, offset)
                m_new = torch.maximum(m, sc.amax(-1))
                m_safe = torch.where(torch.isfinite(m_new), m_new, torch.zeros_like(m_new))
                alpha = torch.exp(m - m_safe)  # (..., bq): rescales the old sums
                p = sc.sub_(m_safe[..., None]).exp_()  # (..., bq, bk), in the scores' memory
                ell = alpha * ell + p.sum(-1)
                o = (p @ v[..., j0 : j0 + block, :]).add_(o * alpha[..., None])
                m = m_new
            out[..., i0 : i0 + block, :] = o / torch.where(ell > 0, ell, torch.ones_like(ell))[..., None]
            lse[..., i0 : i0 + block] = torch.where(ell > 0, m + torch.log(ell), torch.full_like(m, float("-inf")))
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.causal, ctx.scale, ctx.block = causal, scale, block
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, out, lse = ctx.saved_tensors
        causal, scale, block = ctx.causal, ctx.scale, ctx.block
        s, t = q.shape[-2], k.shape[-2]
        offset = t - s
        qs = q * scale  # dK = dS^T Q scale = dS^T (Q scale)
        dq, dk, dv = torch.empty_like(q), torch.zeros_like(k), torch.zeros_like(v)
        big_d = (dout * out).sum(-1)  # (..., s): D_i = dO_i . O_i
        lse_safe = torch.where(torch.isfinite(lse), lse, torch.full_like(lse, float("inf")))  # masked row: P = 0
        for i0 in range(0, s, block):
            qi, doi = qs[..., i0 : i0 + block, :], dout[..., i0 : i0 + block, :]  # (..., bq, d), (..., bq, e)
            li, di = lse_safe[..., i0 : i0 + block, None], big_d[..., i0 : i0 + block, None]  # (..., bq, 1)
            dqi = torch.zeros_like(qi)  # (..., bq, d): accumulated here, written once
            for j0 in range(0, t, block):
                if _skip(causal, i0, qi.shape[-2], j0, offset):
                    break
                kj, vj = k[..., j0 : j0 + block, :], v[..., j0 : j0 + block, :]
                p = _block_scores(qi, kj, i0, j0, causal, offset).sub_(li).exp_()  # (..., bq, bk): P recomputed
                dv[..., j0 : j0 + block, :] += p.transpose(-2, -1) @ doi  # (..., bk, e)
                ds = (doi @ vj.transpose(-2, -1)).sub_(di).mul_(p)  # (..., bq, bk): P (dP - D)
                dqi += ds @ kj
                dk[..., j0 : j0 + block, :] += ds.transpose(-2, -1) @ qi
            dq[..., i0 : i0 + block, :] = dqi * scale
        return dq, dk, dv, None, None, None


def memory_efficient_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    scale: float | None = None,
    block_size: int = 128,
) -> torch.Tensor:
    r"""$\mathrm{softmax}(QK^\top\cdot\mathrm{scale})V$ in O((s + t)(d + e) + bq\,bk) memory, forward and backward.

    Args:
        q: (..., s, d), k: (..., t, d), v: (..., t, e); batch dims broadcast as in
            :func:`~minitorch_xf.nn.attention.scaled_dot_product_attention`.
        causal: bottom-right aligned, as there (the same as torch's ``is_causal`` when s == t).
        scale: a finite number > 0, default $1/\sqrt d$.  block_size: rows and columns of one block.
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
    q = q.expand(*batch, *q.shape[-2:])  # broadcast batch dims; autograd sums the gradient back
    k = k.expand(*batch, *k.shape[-2:])
    v = v.expand(*batch, *v.shape[-2:])
    return _MemoryEfficientAttention.apply(q, k, v, causal, scale, block_size)


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
