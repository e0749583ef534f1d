"""Shared by tests/kernels: the triton skip mark (with the reason), seeded inputs and per-dtype tolerances."""

from __future__ import annotations

import pytest
import torch

from minitorch_xf import kernels

needs_triton = pytest.mark.skipif(not kernels.triton_available(), reason=kernels.triton_reason() or "")


def randn(*shape, dtype=torch.float32, seed=0, device="cpu") -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(device=device, dtype=dtype)


def tol(dtype: torch.dtype) -> dict:
    """Tolerances against a float64 reference: the kernels accumulate in float32 and round to ``dtype``."""
    return {
        torch.float32: dict(atol=2e-5, rtol=1e-4),
        torch.float16: dict(atol=4e-3, rtol=4e-3),
        torch.bfloat16: dict(atol=3e-2, rtol=3e-2),
    }[dtype]


def cpu_or_gpu_dtypes() -> list[torch.dtype]:
    """fp32 and fp16 under the CPU interpreter (it mishandles bf16)."""
    return [torch.float32, torch.float16]
