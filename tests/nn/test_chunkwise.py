"""Chunkwise causal linear attention (issue 23, sec. 1) against the recurrent form and a token loop, in float64."""

from __future__ import annotations

import pytest
import torch

from minitorch_xf.nn.chunkwise import causal_linear_chunkwise
from minitorch_xf.nn.kernelized import (
    NormAttention,
    elu_feature_map,
    linear_attention,
    linear_attention_recurrent,
    norm_linear_attention,
)
from minitorch_xf.nn.memory_efficient import saved_tensor_bytes

pytestmark = pytest.mark.ch12

C = 4  # a small chunk, so that the lengths below cross chunk boundaries
LENGTHS = [1, C - 1, C, C + 1, 2 * C + 3, 5 * C]


def _qkv(n, b=2, h=3, d=4, e=5, seed=0, grad=False):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, h, n, x, generator=g, dtype=torch.float64).requires_grad_(grad) for x in (d, d, e)]


def _loop_numerator(fq, fk, v):
    """sum_{j <= i} (fq_i . fk_j) v_j, one token at a time: the reference the chunk scan must equal."""
    out = torch.zeros(*fq.shape[:-1], v.shape[-1], dtype=fq.dtype)
    for i in range(fq.shape[-2]):
        for j in range(i + 1):
            out[..., i, :] += (fq[..., i, :] * fk[..., j, :]).sum(-1, keepdim=True) * v[..., j, :]
    return out


@pytest.mark.parametrize("n", LENGTHS)
def test_chunkwise_equals_the_recurrent_form_to_1e_10(n):
    q, k, v = _qkv(n, seed=n)
    chunkwise = linear_attention(q, k, v, causal=True, chunk_size=C)
    assert (chunkwise - linear_attention_recurrent(q, k, v)).abs().max() <= 1e-10
    assert (chunkwise - linear_attention(q, k, v, causal=True, form="parallel")).abs().max() <= 1e-10


@pytest.mark.parametrize("n", LENGTHS)
def test_unnormalised_chunkwise_equals_a_token_loop_to_1e_10(n):
    q, k, v = _qkv(n, seed=100 + n)
    fq, fk = elu_feature_map(q), elu_feature_map(k)
    assert (causal_linear_chunkwise(fq, fk, v, chunk_size=C) - _loop_numerator(fq, fk, v)).abs().max() <= 1e-10
    raw = _loop_numerator(fq, fk, v)
    normed = raw * torch.rsqrt(raw.pow(2).mean(-1, keepdim=True) + 1e-6)
    assert (norm_linear_attention(q, k, v, causal=True, chunk_size=C) - normed).abs().max() <= 1e-10


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_every_chunk_size_gives_the_same_result(chunk):
    q, k, v = _qkv(11, seed=5)
    torch.testing.assert_close(
        linear_attention(q, k, v, causal=True, chunk_size=chunk),
        linear_attention(q, k, v, causal=True, form="parallel"),
        atol=1e-12,
        rtol=1e-12,
    )


@pytest.mark.parametrize("n", [1, C + 1, 2 * C + 3])
def test_gradcheck_chunkwise(n):
    q, k, v = _qkv(n, b=1, h=2, seed=7, grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: linear_attention(a, b, c, causal=True, chunk_size=C), (q, k, v))
    assert torch.autograd.gradcheck(
        lambda a, b, c: norm_linear_attention(a, b, c, causal=True, chunk_size=C), (q, k, v)
    )
    assert torch.autograd.gradcheck(lambda a, b, c: causal_linear_chunkwise(a, b, c, chunk_size=C), (q, k, v))


def test_gradients_match_the_parallel_form_with_broadcast_batch_dims():
    q, _, _ = _qkv(9, seed=8, grad=True)
    k, v = (x[:, :1].detach().clone().requires_grad_() for x in _qkv(9, seed=9)[1:])  # one key/value head for all
    grads = []
    for form in ("chunkwise", "parallel"):
        out = linear_attention(q, k, v, causal=True, form=form, chunk_size=C)
        grads.append(torch.autograd.grad(out.pow(2).sum(), (q, k, v)))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_norm_attention_module_uses_the_chunkwise_form():
    torch.manual_seed(0)
    layer = NormAttention(8, 2, causal=True).double()
    x = torch.randn(2, 9, 8, dtype=torch.float64)
    out = layer(x)
    q, k, v = layer.w_qkv(x).view(2, 9, 3, 2, 4).permute(2, 0, 3, 1, 4)
    raw = _loop_numerator(elu_feature_map(q), elu_feature_map(k), v).transpose(1, 2).reshape(2, 9, 8)
    torch.testing.assert_close(out, layer.w_o(layer.norm(raw)))


def test_chunkwise_keeps_o_n_bytes_for_backward_where_the_parallel_form_keeps_n_d_e():
    """Counted: the parallel form saves the (n, d, e) prefix sums; the chunkwise form phi(q), phi(k), v and the
    denominator's pieces, O(n (d + e)), growing linearly with n."""
    kept = {}
    for form in ("chunkwise", "parallel"):
        for n in (256, 512):
            q, k, v = (torch.randn(1, 1, n, 32, requires_grad=True) for _ in range(3))
            kept[form, n] = saved_tensor_bytes(linear_attention, q, k, v, causal=True, form=form)[1]
    assert kept["chunkwise", 512] == 2 * kept["chunkwise", 256]
    assert kept["chunkwise", 512] <= kept["parallel", 512] / 4, kept
    assert kept["chunkwise", 512] <= 12 * 512 * 32 * 4, kept  # a dozen (n, d) float32 arrays at most
