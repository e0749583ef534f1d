r"""A fused row softmax in Triton: $y_i = e^{x_i - \max_j x_j} / \sum_j e^{x_j - \max_j x_j}$ in one pass over memory.

Shapes: ``x`` is ``(..., n)``; the kernel sees it as ``(m, n)`` with ``m`` the product of the leading dims, one
program per row. Unfused, torch reads and writes the row several times (max, subtract, exp, sum, divide); the kernel
loads each row once into registers and writes it once: 2 m n elements of traffic forward, 3 m n backward
($dx = y \odot (dy - \langle y, dy\rangle)$).
"""

from __future__ import annotations

import torch

from .._validate import check_tensor
from ._backend import triton, triton_reason, use_triton

__all__ = ["MAX_COLS", "softmax"]

MAX_COLS = 1 << 16  # one row must fit in one program's registers

if triton is not None:
    import triton.language as tl

    @triton.jit
    def _softmax_fwd(x_ptr, y_ptr, n_cols, BLOCK: tl.constexpr):
        row = tl.program_id(0).to(tl.int64)
        cols = tl.arange(0, BLOCK)
        mask = cols < n_cols
        x = tl.load(x_ptr + row * n_cols + cols, mask=mask, other=-float("inf")).to(tl.float32)
        num = tl.exp(x - tl.max(x, axis=0))
        y = num / tl.sum(num, axis=0)
        tl.store(y_ptr + row * n_cols + cols, y.to(y_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def _softmax_bwd(y_ptr, dy_ptr, dx_ptr, n_cols, BLOCK: tl.constexpr):
        row = tl.program_id(0).to(tl.int64)
        cols = tl.arange(0, BLOCK)
        mask = cols < n_cols
        y = tl.load(y_ptr + row * n_cols + cols, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + row * n_cols + cols, mask=mask, other=0.0).to(tl.float32)
        dx = y * (dy - tl.sum(y * dy, axis=0))
        tl.store(dx_ptr + row * n_cols + cols, dx.to(dx_ptr.dtype.element_ty), mask=mask)


def _warps(block: int) -> int:
    return 4 if block <= 2048 else 8 if block <= 8192 else 16


class SoftmaxFunction(torch.autograd.Function):
    """Triton forward and backward; saves only the output ``y`` (the backward needs nothing else)."""

    @staticmethod
    def forward(ctx, x):
        n = x.shape[-1]
        x2 = x.contiguous().view(-1, n)  # (m, n)
        y = torch.empty_like(x2)
        block = triton.next_power_of_2(n)
        _softmax_fwd[(x2.shape[0],)](x2, y, n, BLOCK=block, num_warps=_warps(block))
        ctx.save_for_backward(y)
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved_tensors  # (m, n)
        n = y.shape[-1]
        dy2 = dy.contiguous().view(-1, n)
        dx = torch.empty_like(y)
        block = triton.next_power_of_2(n)
        _softmax_bwd[(y.shape[0],)](y, dy2, dx, n, BLOCK=block, num_warps=_warps(block))
        return dx.view(dy.shape)


def softmax(x: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    r"""Softmax over the last dim, $y = e^{x - \max x} / \sum e^{x - \max x}$ (Triton kernel, torch fallback).

    ``backend``: ``"auto"`` (the kernel when it can run, else ``torch.softmax`` with a warning), ``"triton"``
    (the kernel or a ``RuntimeError`` saying why not) or ``"torch"``.
    """
    check_tensor("x", x, min_ndim=1, floating=True)
    if x.shape[-1] == 0:
        raise ValueError(f"x must have a non-empty last dim, got shape {tuple(x.shape)}")
    reason = triton_reason(x=x)
    if reason is None and x.shape[-1] > MAX_COLS:
        reason = f"x has {x.shape[-1]} columns, more than the kernel's MAX_COLS={MAX_COLS}"
    if not use_triton("softmax", backend, reason) or x.numel() == 0:
        return torch.softmax(x, dim=-1)
    return SoftmaxFunction.apply(x)
