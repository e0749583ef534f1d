"""GPU checks (marked ``gpu``; skipped without CUDA): the same ops on CUDA agree with CPU and with torch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from minitorch_xf.nn import Decoder, chunked_attention, scaled_dot_product_attention

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_attention_on_cuda_matches_torch(dtype):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 128, 32, generator=g).cuda().to(dtype) for _ in range(3))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    tol = {"atol": 2e-3, "rtol": 2e-3} if dtype == torch.float16 else {"atol": 1e-5, "rtol": 1e-4}
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, causal=True), expected, **tol)
    torch.testing.assert_close(chunked_attention(q, k, v, causal=True, chunk_size=32), expected, **tol)


def test_model_on_cuda_matches_cpu():
    torch.manual_seed(0)
    model = Decoder(11, d_model=32, n_heads=4, n_layers=2, max_len=32)
    tokens = torch.randint(0, 11, (3, 17))
    cpu = model(tokens)
    torch.testing.assert_close(model.cuda()(tokens.cuda()).cpu(), cpu, atol=1e-4, rtol=1e-4)
