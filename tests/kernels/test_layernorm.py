"""The LayerNorm kernel against ``F.layer_norm`` in float64: output and the gradients of x, weight and bias."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from kernel_cases import needs_triton, randn, tol

from minitorch_xf.kernels import layer_norm

pytestmark = [pytest.mark.ch13, needs_triton]


def _compare(x: torch.Tensor, eps: float = 1e-5) -> None:
    n = x.shape[-1]
    w = 1 + 0.5 * randn(n, dtype=x.dtype, seed=2, device=x.device)
    b = randn(n, dtype=x.dtype, seed=3, device=x.device)
    dy = randn(*x.shape, dtype=x.dtype, seed=4, device=x.device)
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    y = layer_norm(*leaves, eps=eps, backend="triton")
    y.backward(dy)
    refs = [t.double().requires_grad_() for t in (x, w, b)]
    y_ref = F.layer_norm(refs[0], (n,), refs[1], refs[2], eps)
    y_ref.backward(dy.double())
    assert y.dtype == x.dtype and y.shape == x.shape
    torch.testing.assert_close(y.double(), y_ref.detach(), **tol(x.dtype))
    scale = max(1.0, x.shape[:-1].numel() ** 0.5) if x.dtype != torch.float32 else 1.0  # dw, db sum over rows
    for name, got, ref in zip(("x", "weight", "bias"), leaves, refs, strict=True):
        t = tol(x.dtype)
        torch.testing.assert_close(
            got.grad.double(),
            ref.grad,
            atol=t["atol"] * scale,
            rtol=t["rtol"],
            msg=lambda m, name=name: f"grad of {name}: {m}",
        )


@pytest.mark.checks("lem-layernorm-backward")  # the kernel's backward is the lemma's formula; autograd is the reference
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("shape", [(5, 40), (2, 3, 64), (9, 1), (3, 129)])
def test_layer_norm_matches_torch(shape, dtype):
    _compare(randn(*shape, dtype=dtype) * 2 + 1)


def test_layer_norm_eps_matters_for_a_constant_row():
    x = torch.full((2, 8), 3.0)
    w, b = torch.ones(8), torch.zeros(8)
    torch.testing.assert_close(layer_norm(x, w, b, eps=0.1, backend="triton"), torch.zeros(2, 8))
    torch.testing.assert_close(
        layer_norm(x + randn(2, 8), w, b, eps=0.1, backend="triton"),
        F.layer_norm(x + randn(2, 8), (8,), w, b, 0.1),
    )


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("n", [768, 4096, 8192])
def test_layer_norm_on_cuda(n, dtype):
    _compare(randn(512, n, dtype=dtype, device="cuda") * 2 + 1)
