"""The fused softmax kernel against torch: forward and backward against float64 autograd, on CPU through
Triton's interpreter (fp32, fp16, tiny shapes) and on CUDA under the ``gpu`` marker."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from kernel_cases import needs_triton, randn, tol

from minitorch_xf.kernels import softmax

pytestmark = [pytest.mark.ch13, needs_triton]


def _compare(x: torch.Tensor, dy: torch.Tensor) -> None:
    leaf = x.clone().requires_grad_()
    y = softmax(leaf, backend="triton")
    y.backward(dy)
    ref = x.double().requires_grad_()
    y_ref = torch.softmax(ref, dim=-1)  # independent reference: torch's own softmax and autograd, in float64
    y_ref.backward(dy.double())
    assert y.dtype == x.dtype and y.shape == x.shape
    torch.testing.assert_close(y.double(), y_ref.detach(), **tol(x.dtype))
    torch.testing.assert_close(leaf.grad.double(), ref.grad, **tol(x.dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("shape", [(7, 33), (2, 3, 64), (1, 1), (4, 130)])
def test_softmax_matches_torch(shape, dtype):
    _compare(randn(*shape, dtype=dtype) * 3, randn(*shape, dtype=dtype, seed=1))


def test_softmax_is_stable_for_large_logits():
    x = torch.tensor([[1000.0, 1001.0, 999.0], [-1e4, -1e4, -1e4]])
    torch.testing.assert_close(softmax(x, backend="triton"), torch.softmax(x, dim=-1))


def test_masked_entries_get_zero_probability():
    x = randn(3, 20)
    x[:, 5:] = float("-inf")
    y = softmax(x, backend="triton")
    assert torch.all(y[:, 5:] == 0)
    torch.testing.assert_close(y.sum(-1), torch.ones(3))


@given(shift=st.floats(-50, 50), seed=st.integers(0, 2**16))
def test_rows_sum_to_one_and_shift_invariance(shift, seed):
    x = randn(3, 17, seed=seed)
    y = softmax(x, backend="triton")
    torch.testing.assert_close(y.sum(-1), torch.ones(3))
    torch.testing.assert_close(softmax(x + shift, backend="triton"), y, atol=1e-5, rtol=1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("n", [1000, 4096, 8192])
def test_softmax_on_cuda(n, dtype):
    _compare(randn(256, n, dtype=dtype, device="cuda") * 3, randn(256, n, dtype=dtype, seed=1, device="cuda"))
