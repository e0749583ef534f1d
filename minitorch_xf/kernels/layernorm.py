r"""LayerNorm in Triton, forward and backward (Ba et al., 2016): $y = (x - \mu)/\sqrt{\sigma^2 + \epsilon} \odot w + b$.

Shapes: ``x`` is ``(..., n)``, seen as ``(m, n)``; ``weight`` and ``bias`` are ``(n,)``. The forward runs one
program per row and saves the row statistics ``mean`` and ``rstd`` (m floats each). With
$\hat x = (x-\mu)\,\mathrm{rstd}$ and $g = w \odot dy$ the backward is
$dx = \mathrm{rstd}\,(g - \hat x\,\overline{g \hat x} - \overline{g})$ (bars: means over the row), and
$dw = \sum_{\text{rows}} dy \odot \hat x$, $db = \sum_{\text{rows}} dy$: each backward program walks a strided set of
rows, keeps its partial $dw, db$ in registers, and torch sums the few partial rows.
"""

from __future__ import annotations

import torch

from .._validate import check_number, check_same_device, check_same_dtype, check_tensor
from ._backend import INTERPRET, triton, triton_reason, use_triton

__all__ = ["MAX_COLS", "layer_norm"]

MAX_COLS = 1 << 16

if triton is not None:
    import triton.language as tl

    @triton.jit
    def _ln_fwd(x_ptr, y_ptr, w_ptr, b_ptr, mean_ptr, rstd_ptr, n_cols, eps, BLOCK: tl.constexpr):
        row = tl.program_id(0).to(tl.int64)
        cols = tl.arange(0, BLOCK)
        mask = cols < n_cols
        x = tl.load(x_ptr + row * n_cols + cols, mask=mask, other=0.0).to(tl.float32)
        mean = tl.sum(x, axis=0) / n_cols
        xc = tl.where(mask, x - mean, 0.0)
        rstd = 1.0 / tl.sqrt(tl.sum(xc * xc, axis=0) / n_cols + eps)
        w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
        b = tl.load(b_ptr + cols, mask=mask, other=0.0).to(tl.float32)
        tl.store(y_ptr + row * n_cols + cols, (xc * rstd * w + b).to(y_ptr.dtype.element_ty), mask=mask)
        tl.store(mean_ptr + row, mean)
        tl.store(rstd_ptr + row, rstd)

    @triton.jit
    def _ln_bwd(x_ptr, dy_ptr, dx_ptr, w_ptr, mean_ptr, rstd_ptr, dw_ptr, db_ptr, n_rows, n_cols, BLOCK: tl.constexpr):
        pid = tl.program_id(0)
        n_prog = tl.num_programs(0)
        cols = tl.arange(0, BLOCK)
        mask = cols < n_cols
        w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
        dw = tl.zeros([BLOCK], dtype=tl.float32)
        db = tl.zeros([BLOCK], dtype=tl.float32)
        for row in range(pid, n_rows, n_prog):
            off = tl.cast(row, tl.int64) * n_cols
            x = tl.load(x_ptr + off + cols, mask=mask, other=0.0).to(tl.float32)
            dy = tl.load(dy_ptr + off + cols, mask=mask, other=0.0).to(tl.float32)
            rstd = tl.load(rstd_ptr + row)
            xhat = tl.where(mask, (x - tl.load(mean_ptr + row)) * rstd, 0.0)
            g = w * dy
            dx = rstd * (g - xhat * (tl.sum(g * xhat, axis=0) / n_cols) - tl.sum(g, axis=0) / n_cols)
            tl.store(dx_ptr + off + cols, dx.to(dx_ptr.dtype.element_ty), mask=mask)
            dw += dy * xhat
            db += dy
        tl.store(dw_ptr + pid * n_cols + cols, dw, mask=mask)
        tl.store(db_ptr + pid * n_cols + cols, db, mask=mask)


def _warps(block: int) -> int:
    return 4 if block <= 2048 else 8 if block <= 8192 else 16


class LayerNormFunction(torch.autograd.Function):
    """Triton forward and backward; saves ``x``, ``weight`` and the row statistics (2 m floats)."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        n = x.shape[-1]
        x2 = x.contiguous().view(-1, n)  # (m, n)
        m = x2.shape[0]
        y = torch.empty_like(x2)
        mean = torch.empty(m, device=x.device, dtype=torch.float32)
        rstd = torch.empty(m, device=x.device, dtype=torch.float32)
        block = triton.next_power_of_2(n)
        _ln_fwd[(m,)](
            x2, y, weight.contiguous(), bias.contiguous(), mean, rstd, n, eps, BLOCK=block, num_warps=_warps(block)
        )
        ctx.save_for_backward(x2, weight, mean, rstd)
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, dy):
        x2, weight, mean, rstd = ctx.saved_tensors
        m, n = x2.shape
        dy2 = dy.contiguous().view(-1, n)
        dx = torch.empty_like(x2)
        if INTERPRET:
            programs = min(m, 4)
        else:
            programs = min(m, 4 * torch.cuda.get_device_properties(x2.device).multi_processor_count)
        dw = torch.empty(programs, n, device=x2.device, dtype=torch.float32)  # partial sums, one row per program
        db = torch.empty(programs, n, device=x2.device, dtype=torch.float32)
        block = triton.next_power_of_2(n)
        _ln_bwd[(programs,)](
            x2, dy2, dx, weight.contiguous(), mean, rstd, dw, db, m, n, BLOCK=block, num_warps=_warps(block)
        )
        return dx.view(dy.shape), dw.sum(0).to(weight.dtype), db.sum(0).to(weight.dtype), None


def layer_norm(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5, backend: str = "auto"
) -> torch.Tensor:
    r"""LayerNorm over the last dim, $\frac{x-\mu}{\sqrt{\sigma^2+\epsilon}} \odot w + b$ (biased variance, as torch).

    ``backend``: ``"auto"`` (the kernel when it can run, else ``F.layer_norm`` with a warning), ``"triton"`` or
    ``"torch"``.
    """
    check_tensor("x", x, min_ndim=1, floating=True)
    n = x.shape[-1]
    for name, t in (("weight", weight), ("bias", bias)):
        check_tensor(name, t, ndim=1, floating=True)
        if t.shape[0] != n:
            raise ValueError(f"{name} has shape {tuple(t.shape)} but x's last dim is {n}: expected ({n},)")
    check_same_dtype(x=x, weight=weight, bias=bias)
    check_same_device(x=x, weight=weight, bias=bias)
    eps = check_number("eps", eps, low=0, low_open=True)
    if n == 0:
        raise ValueError(f"x must have a non-empty last dim, got shape {tuple(x.shape)}")
    reason = triton_reason(x=x)
    if reason is None and n > MAX_COLS:
        reason = f"x has {n} columns, more than the kernel's MAX_COLS={MAX_COLS}"
    if not use_triton("layer_norm", backend, reason) or x.numel() == 0:
        return torch.nn.functional.layer_norm(x, (n,), weight, bias, eps)
    return LayerNormFunction.apply(x, weight, bias, eps)
