"""The FlashAttention kernel against attention computed in float64 with the full matrix (and against
``F.scaled_dot_product_attention``): outputs and the gradients of q, k, v; causal and not; s != t; head dims
16-128; on CPU through the interpreter (fp32, fp16) and on CUDA under ``gpu`` (fp16, bf16, realistic shapes)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from kernel_cases import needs_triton, randn, tol

from minitorch_xf.kernels import attention_reference, flash_attention
from minitorch_xf.nn.memory_efficient import saved_tensor_bytes

pytestmark = [pytest.mark.ch13, needs_triton]


def _naive(q, k, v, causal):
    """Independent of the package: explicit loops over query rows in float64."""
    s, t, d = q.shape[-2], k.shape[-2], q.shape[-1]
    rows = []
    for i in range(s):
        x = (q[..., i : i + 1, :] @ k.transpose(-2, -1)) / d**0.5  # (b, h, 1, t)
        if causal:
            x[..., i + 1 :] = float("-inf")
        rows.append(torch.softmax(x, dim=-1) @ v)
    del t
    return torch.cat(rows, dim=-2)


def _compare(b, h, s, t, d, causal, dtype, device="cpu", grad_scale=1.0):
    q, k, v = (randn(b, h, n, d, dtype=dtype, seed=i, device=device) for i, n in enumerate((s, t, t)))
    do = randn(b, h, s, d, dtype=dtype, seed=9, device=device)
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    o = flash_attention(*leaves, causal=causal, backend="triton")
    o.backward(do)
    refs = [x.double().requires_grad_() for x in (q, k, v)]
    o_ref = (_naive if s * t <= 4096 else attention_reference)(*refs, causal)
    o_ref.backward(do.double())
    assert o.dtype == dtype and o.shape == (b, h, s, d)
    torch.testing.assert_close(o.double(), o_ref.detach(), **tol(dtype))
    t_ = tol(dtype)
    for name, got, ref in zip("qkv", leaves, refs, strict=True):
        torch.testing.assert_close(
            got.grad.double(),
            ref.grad,
            atol=t_["atol"] * grad_scale,
            rtol=t_["rtol"],
            msg=lambda m, name=name: f"d{name}: {m}",
        )


@pytest.mark.checks("lem-attention-backward", "prop-flash-memory")  # the backward kernels are the lemma's formulas
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize(
    ("s", "t", "d"), [(40, 40, 16), (33, 70, 24), (64, 17, 32), (1, 5, 16), (20, 20, 128)], ids=str
)
def test_flash_attention_matches_float64(s, t, d, causal, dtype):
    _compare(2, 2, s, t, d, causal, dtype, grad_scale=2.0)


@pytest.mark.checks("prop-flash-memory")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_flash_attention_keeps_q_k_v_o_and_the_log_sum_exp(causal, dtype):
    """Counted with saved_tensors_hooks: e (2s + 2t) d + 4s bytes per head (L in float32), nothing of size s x t."""
    b, h, s, t, d = 2, 3, 24, 40, 16
    q, k, v = (randn(b, h, n, d, dtype=dtype, seed=i).requires_grad_() for i, n in enumerate((s, t, t)))
    _, kept = saved_tensor_bytes(flash_attention, q, k, v, causal=causal, backend="triton")
    e = q.element_size()
    assert kept == b * h * (e * (2 * s + 2 * t) * d + 4 * s), kept


def test_flash_attention_matches_torch_sdpa():
    q, k, v = (randn(1, 3, 50, 32, seed=i) for i in range(3))
    for causal in (False, True):
        torch.testing.assert_close(
            flash_attention(q, k, v, causal=causal, scale=0.3, backend="triton"),
            F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=0.3),
            atol=2e-5,
            rtol=1e-4,
        )


def test_causal_first_query_sees_only_the_first_key():
    q, k, v = (randn(1, 1, 8, 16, seed=i) for i in range(3))
    o = flash_attention(q, k, v, causal=True, backend="triton")
    torch.testing.assert_close(o[0, 0, 0], v[0, 0, 0])


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("d", [64, 128])
def test_flash_attention_on_cuda(d, causal, dtype):
    _compare(2, 4, 1024, 1024, d, causal, dtype, device="cuda", grad_scale=4.0)
