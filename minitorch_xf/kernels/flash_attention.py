r"""FlashAttention in Triton (Dao et al., 2022; Dao, 2023): $O = \mathrm{softmax}(\tau QK^\top + M)V$ without the
$s \times t$ matrix in memory.

Shapes: ``b`` batch, ``h`` heads, ``s`` queries, ``t`` keys, ``d`` head dim (16 to 128); q ``(b, h, s, d)``,
k and v ``(b, h, t, d)``. The causal mask is top-left aligned (key j is visible to query i when j <= i), as in
``F.scaled_dot_product_attention(is_causal=True)``.

Forward: one program per (block of ``BLOCK_M`` queries, batch-head). It walks the key blocks and keeps, per query, the
running max $m$, the running sum $\ell$ of $e^{x - m}$ and the unnormalised output: the online softmax
(Milakov & Gimelshein, 2018). It saves $O$ and the log-sum-exp $L = m + \log \ell$ per query (in base 2 inside the
kernels), nothing of size $s \times t$. Backward: recompute $P = e^{\tau QK^\top - L}$ block by block; with
$\delta_i = \sum_c dO_{ic} O_{ic}$, $dS = P \odot (dO V^\top - \delta)$, $dV = P^\top dO$, $dK = \tau\, dS^\top Q$,
$dQ = \tau\, dS K$. One kernel owns a key block (accumulates dK, dV), another a query block (accumulates dQ),
so no atomics are needed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._validate import check_flag, check_number, check_same_device, check_same_dtype, check_tensor
from ..nn.attention import scaled_dot_product_attention
from ..nn.dispatch import register_attention_backend
from ._backend import INTERPRET, triton, triton_reason, use_triton

__all__ = ["HEAD_DIMS", "attention_reference", "flash_attention"]

HEAD_DIMS = (16, 128)  # the kernel's range of head dims (tl.dot needs at least 16)
LOG2E = 1.4426950408889634

if triton is not None:
    import triton.language as tl

    @triton.jit
    def _attn_fwd(
        q_ptr,
        k_ptr,
        v_ptr,
        o_ptr,
        lse_ptr,
        s_len,
        t_len,
        head_dim,
        qk_scale,
        CAUSAL: tl.constexpr,
        PRECISION: tl.constexpr,
        BLOCK_M: tl.constexpr,
        BLOCK_N: tl.constexpr,
        BLOCK_D: tl.constexpr,
    ):
        start_m = tl.program_id(0)
        bh = tl.program_id(1).to(tl.int64)
        offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_n = tl.arange(0, BLOCK_N)
        offs_d = tl.arange(0, BLOCK_D)
        q_base = q_ptr + bh * s_len * head_dim
        k_base = k_ptr + bh * t_len * head_dim
        v_base = v_ptr + bh * t_len * head_dim
        d_ok = offs_d < head_dim
        q = tl.load(
            q_base + offs_m[:, None] * head_dim + offs_d[None, :],
            mask=(offs_m[:, None] < s_len) & d_ok[None, :],
            other=0.0,
        )
        m_i = tl.full([BLOCK_M], -float("inf"), dtype=tl.float32)  # running max (base-2 logits)
        l_i = tl.zeros([BLOCK_M], dtype=tl.float32)  # running sum of 2^(x - m)
        acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)  # unnormalised output
        hi = t_len
        if CAUSAL:
            hi = tl.minimum(t_len, (start_m + 1) * BLOCK_M)
        for start_n in range(0, hi, BLOCK_N):
            cols = start_n + offs_n
            kt = tl.load(
                k_base + cols[None, :] * head_dim + offs_d[:, None],
                mask=(cols[None, :] < t_len) & d_ok[:, None],
                other=0.0,
            )  # (D, N)
            x = tl.dot(q, kt, input_precision=PRECISION) * qk_scale  # (M, N), base-2 logits
            valid = cols[None, :] < t_len
            if CAUSAL:
                valid = valid & (cols[None, :] <= offs_m[:, None])
            x = tl.where(valid, x, -float("inf"))
            m_new = tl.maximum(m_i, tl.max(x, axis=1))
            p = tl.exp2(x - m_new[:, None])
            alpha = tl.exp2(m_i - m_new)  # rescales what was summed under the old max
            l_i = l_i * alpha + tl.sum(p, axis=1)
            v = tl.load(
                v_base + cols[:, None] * head_dim + offs_d[None, :],
                mask=(cols[:, None] < t_len) & d_ok[None, :],
                other=0.0,
            )  # (N, D)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
            m_i = m_new
        acc = acc / l_i[:, None]
        row_ok = offs_m < s_len
        tl.store(
            o_ptr + bh * s_len * head_dim + offs_m[:, None] * head_dim + offs_d[None, :],
            acc.to(o_ptr.dtype.element_ty),
            mask=row_ok[:, None] & d_ok[None, :],
        )
        tl.store(lse_ptr + bh * s_len + offs_m, m_i + tl.log2(l_i), mask=row_ok)

    @triton.jit
    def _attn_bwd_dkdv(
        q_ptr,
        k_ptr,
        v_ptr,
        do_ptr,
        lse_ptr,
        delta_ptr,
        dk_ptr,
        dv_ptr,
        s_len,
        t_len,
        head_dim,
        qk_scale,
        scale,
        CAUSAL: tl.constexpr,
        PRECISION: tl.constexpr,
        BLOCK_M: tl.constexpr,
        BLOCK_N: tl.constexpr,
        BLOCK_D: tl.constexpr,
    ):
        start_n = tl.program_id(0)
        bh = tl.program_id(1).to(tl.int64)
        offs_n = start_n * BLOCK_N + tl.arange(0, BLOCK_N)
        offs_m = tl.arange(0, BLOCK_M)
        offs_d = tl.arange(0, BLOCK_D)
        d_ok = offs_d < head_dim
        kv_mask = (offs_n[:, None] < t_len) & d_ok[None, :]
        kv_off = bh * t_len * head_dim + offs_n[:, None] * head_dim + offs_d[None, :]
        k = tl.load(k_ptr + kv_off, mask=kv_mask, other=0.0)  # (N, D)
        v = tl.load(v_ptr + kv_off, mask=kv_mask, other=0.0)
        dk = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
        dv = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
        lo = 0
        if CAUSAL:
            lo = (start_n * BLOCK_N // BLOCK_M) * BLOCK_M  # earlier queries see none of these keys
        for start_m in range(lo, s_len, BLOCK_M):
            rows = start_m + offs_m
            row_ok = rows < s_len
            q_off = bh * s_len * head_dim + rows[:, None] * head_dim + offs_d[None, :]
            q = tl.load(q_ptr + q_off, mask=row_ok[:, None] & d_ok[None, :], other=0.0)  # (M, D)
            do = tl.load(do_ptr + q_off, mask=row_ok[:, None] & d_ok[None, :], other=0.0)
            lse = tl.load(lse_ptr + bh * s_len + rows, mask=row_ok, other=0.0)
            delta = tl.load(delta_ptr + bh * s_len + rows, mask=row_ok, other=0.0)
            x = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale  # (M, N)
            valid = row_ok[:, None] & (offs_n[None, :] < t_len)
            if CAUSAL:
                valid = valid & (offs_n[None, :] <= rows[:, None])
            p = tl.where(valid, tl.exp2(x - lse[:, None]), 0.0)  # recomputed probabilities
            dv += tl.dot(tl.trans(p.to(do.dtype)), do, input_precision=PRECISION)
            ds = p * (tl.dot(do, tl.trans(v), input_precision=PRECISION) - delta[:, None])
            dk += tl.dot(tl.trans(ds.to(q.dtype)), q, input_precision=PRECISION)
        tl.store(dk_ptr + kv_off, (dk * scale).to(dk_ptr.dtype.element_ty), mask=kv_mask)
        tl.store(dv_ptr + kv_off, dv.to(dv_ptr.dtype.element_ty), mask=kv_mask)

    @triton.jit
    def _attn_bwd_dq(
        q_ptr,
        k_ptr,
        v_ptr,
        do_ptr,
        lse_ptr,
        delta_ptr,
        dq_ptr,
        s_len,
        t_len,
        head_dim,
        qk_scale,
        scale,
        CAUSAL: tl.constexpr,
        PRECISION: tl.constexpr,
        BLOCK_M: tl.constexpr,
        BLOCK_N: tl.constexpr,
        BLOCK_D: tl.constexpr,
    ):
        start_m = tl.program_id(0)
        bh = tl.program_id(1).to(tl.int64)
        offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_n = tl.arange(0, BLOCK_N)
        offs_d = tl.arange(0, BLOCK_D)
        d_ok = offs_d < head_dim
        row_ok = offs_m < s_len
        q_off = bh * s_len * head_dim + offs_m[:, None] * head_dim + offs_d[None, :]
        q = tl.load(q_ptr + q_off, mask=row_ok[:, None] & d_ok[None, :], other=0.0)  # (M, D)
        do = tl.load(do_ptr + q_off, mask=row_ok[:, None] & d_ok[None, :], other=0.0)
        lse = tl.load(lse_ptr + bh * s_len + offs_m, mask=row_ok, other=0.0)
        delta = tl.load(delta_ptr + bh * s_len + offs_m, mask=row_ok, other=0.0)
        dq = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
        hi = t_len
        if CAUSAL:
            hi = tl.minimum(t_len, (start_m + 1) * BLOCK_M)
        for start_n in range(0, hi, BLOCK_N):
            cols = start_n + offs_n
            kv_off = bh * t_len * head_dim + cols[:, None] * head_dim + offs_d[None, :]
            kv_mask = (cols[:, None] < t_len) & d_ok[None, :]
            k = tl.load(k_ptr + kv_off, mask=kv_mask, other=0.0)  # (N, D)
            v = tl.load(v_ptr + kv_off, mask=kv_mask, other=0.0)
            x = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale  # (M, N)
            valid = row_ok[:, None] & (cols[None, :] < t_len)
            if CAUSAL:
                valid = valid & (cols[None, :] <= offs_m[:, None])
            p = tl.where(valid, tl.exp2(x - lse[:, None]), 0.0)
            ds = p * (tl.dot(do, tl.trans(v), input_precision=PRECISION) - delta[:, None])
            dq += tl.dot(ds.to(k.dtype), k, input_precision=PRECISION)
        tl.store(dq_ptr + q_off, (dq * scale).to(dq_ptr.dtype.element_ty), mask=row_ok[:, None] & d_ok[None, :])


def _blocks(d: int) -> tuple[int, int, int, int]:
    """(BLOCK_M, BLOCK_N, BLOCK_D, num_warps): larger tiles on a GPU, 32 under the interpreter (fewer programs)."""
    block_d = max(16, 1 << (d - 1).bit_length())
    if INTERPRET:
        return 32, 32, block_d, 4
    return (128, 64, block_d, 8) if block_d <= 64 else (64, 64, block_d, 4)


def _precision(x: torch.Tensor) -> str:
    """float32 products in full precision ("ieee"), not TF32: the kernel must match float32 attention."""
    return "ieee" if x.dtype == torch.float32 else "tf32"


class FlashAttentionFunction(torch.autograd.Function):
    """Triton forward (saves q, k, v, O and the log-sum-exp) and backward (recomputes P by blocks)."""

    @staticmethod
    def forward(ctx, q, k, v, causal, scale):
        b, h, s, d = q.shape
        t = k.shape[2]
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        o = torch.empty_like(q)
        lse = torch.empty(b, h, s, device=q.device, dtype=torch.float32)  # base-2 log-sum-exp per query
        bm, bn, bd, warps = _blocks(d)
        grid = (triton.cdiv(s, bm), b * h)
        _attn_fwd[grid](
            q,
            k,
            v,
            o,
            lse,
            s,
            t,
            d,
            scale * LOG2E,
            CAUSAL=causal,
            PRECISION=_precision(q),
            BLOCK_M=bm,
            BLOCK_N=bn,
            BLOCK_D=bd,
            num_warps=warps,
        )
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.causal, ctx.scale = causal, scale
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        b, h, s, d = q.shape
        t = k.shape[2]
        do = do.contiguous()
        delta = (do.float() * o.float()).sum(-1)  # (b, h, s): rowsum(dO ∘ O) = rowsum(P ∘ dP)
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        bm, bn, bd, warps = _blocks(d)
        common = dict(CAUSAL=ctx.causal, PRECISION=_precision(q), BLOCK_M=bm, BLOCK_N=bn, BLOCK_D=bd, num_warps=warps)
        qk_scale = ctx.scale * LOG2E
        _attn_bwd_dkdv[(triton.cdiv(t, bn), b * h)](
            q, k, v, do, lse, delta, dk, dv, s, t, d, qk_scale, ctx.scale, **common
        )
        _attn_bwd_dq[(triton.cdiv(s, bm), b * h)](q, k, v, do, lse, delta, dq, s, t, d, qk_scale, ctx.scale, **common)
        return dq, dk, dv, None, None


def attention_reference(q, k, v, causal: bool = False, scale: float | None = None) -> torch.Tensor:
    r"""Plain attention $\mathrm{softmax}(\tau QK^\top + M)V$ with the $s \times t$ matrix materialised: chapter 1's
    :func:`~minitorch_xf.nn.attention.scaled_dot_product_attention`, with the causal mask aligned top-left like the
    kernels and torch (key j > query i masked; chapter 1 aligns it bottom-right, the same when s == t).

    q ``(..., s, d)``, k and v ``(..., t, d)`` of one floating dtype and device; ``causal`` a bool; ``scale`` > 0.
    """
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, x, min_ndim=2, floating=True)
    check_same_dtype(q=q, k=k, v=v)
    check_same_device(q=q, k=k, v=v)
    check_flag("causal", causal)
    if scale is not None:
        scale = check_number("scale", scale, low=0, low_open=True)
    mask = None
    if causal:
        s, t = q.shape[-2], k.shape[-2]
        mask = torch.ones(s, t, dtype=torch.bool, device=q.device).tril().view((1,) * (q.dim() - 2) + (s, t))
    return scaled_dot_product_attention(q, k, v, mask=mask, scale=scale)  # (b, h, s, d)


def flash_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    scale: float | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    r"""FlashAttention, $\mathrm{softmax}(\tau QK^\top + M)V$ with $\tau$ = ``scale`` (default $d^{-1/2}$).

    q ``(b, h, s, d)``, k and v ``(b, h, t, d)``; ``causal`` masks key j > query i (top-left, as torch).
    ``backend``: ``"auto"`` (the kernel when it can run, else ``F.scaled_dot_product_attention`` with a warning),
    ``"triton"`` or ``"torch"``.
    """
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, x, ndim=4, floating=True)
    check_same_dtype(q=q, k=k, v=v)
    check_same_device(q=q, k=k, v=v)
    b, h, s, d = q.shape
    if k.shape[:2] != (b, h) or k.shape[3] != d:
        raise ValueError(f"k has shape {tuple(k.shape)} but q has {tuple(q.shape)}: expected ({b}, {h}, t, {d})")
    if v.shape != k.shape:
        raise ValueError(f"v has shape {tuple(v.shape)} but k has {tuple(k.shape)}: they must match")
    if min(s, k.shape[2], d) == 0:
        raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)} must have s, t, d >= 1")
    check_flag("causal", causal)
    scale = 1.0 / math.sqrt(d) if scale is None else check_number("scale", scale, low=0, low_open=True)
    reason = triton_reason(q=q)
    if reason is None and not HEAD_DIMS[0] <= d <= HEAD_DIMS[1]:
        reason = f"head dim d={d} is outside the kernel's range {HEAD_DIMS}"
    if not use_triton("flash_attention", backend, reason) or b * h == 0:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)
    return FlashAttentionFunction.apply(q, k, v, causal, scale)


def _dispatched(q, k, v, mask, causal: bool, scale: float) -> torch.Tensor:
    """The dispatcher's ``"triton"`` backend (:mod:`minitorch_xf.nn.dispatch`): the kernel masks top-left, which is
    the dispatcher's bottom-right only when s == t."""
    if causal and q.shape[-2] != k.shape[-2]:
        raise ValueError(f"backend='triton' with causal=True needs s == t, got q {tuple(q.shape)}, k {tuple(k.shape)}")
    return flash_attention(q, k, v, causal=causal, scale=scale, backend="triton")


if triton is not None:  # registered only where the kernels can run
    register_attention_backend("triton", _dispatched, takes_mask=False)
