"""Chunkwise causal linear attention (issue 23, sec. 1) against the recurrent form and a token loop, in float64."""

from __future__ import annotations

import pytest
import torch

from minitorch_xf.nn import chunkwise
from minitorch_xf.nn.chunkwise import causal_linear_chunkwise
from minitorch_xf.nn.kernelized import (
    NormAttention,
    elu_feature_map,
    linear_attention,
    linear_attention_recurrent,
    norm_linear_attention,
)
from minitorch_xf.nn.memory_efficient import peak_memory, saved_tensor_bytes

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


@pytest.mark.parametrize("rows", [1, 7, 40])
def test_slices_of_heads_give_the_same_values_and_gradients(rows, monkeypatch):
    """Both passes run over slices of the b h heads (``_SLICE_ROWS`` heads x padded tokens): one head at a time,
    uneven slices and all at once agree with the parallel form."""
    monkeypatch.setattr(chunkwise, "_SLICE_ROWS", rows)
    q, k, v = _qkv(2 * C + 3, seed=11, grad=True)
    grads = []
    for form in ("chunkwise", "parallel"):
        out = linear_attention(q, k, v, causal=True, form=form, chunk_size=C)
        grads.append((out, *torch.autograd.grad(out.pow(2).sum(), (q, k, v))))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_gradcheck_normaliser_with_another_feature_map():
    """A feature map other than elu + 1 runs under autograd; the sums and the normaliser stay in the Function."""
    q, k, v = _qkv(2 * C + 1, b=1, h=2, seed=12, grad=True)
    fn = lambda a, b, c: linear_attention(a, b, c, causal=True, feature_map=torch.exp, chunk_size=C)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (q, k, v))
    ref = linear_attention(q, k, v, causal=True, feature_map=torch.exp, form="parallel")
    torch.testing.assert_close(fn(q, k, v), ref, atol=1e-10, rtol=1e-10)


def test_nan_input_is_named():
    q, k, v = _qkv(5)
    q[0, 1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="q has NaN"):
        linear_attention(q, k, v, causal=True)


def test_forward_backward_peak_memory_is_the_gradients_and_one_slice(monkeypatch):
    """Measured (resident memory does not depend on the machine's load): one causal forward+backward pass at
    b h = 8, n = 4096, d = e = 64 in float32, one head per slice, grows the resident set by the three gradients and
    the temporaries of one slice: at most 28 (n, d) arrays of one head (observed 17 to 21), against the 8-head arrays
    (about 26) the unfused version kept under autograd."""
    monkeypatch.setattr(chunkwise, "_SLICE_ROWS", 4096)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    leaves = [torch.randn(1, 8, 4096, 64, generator=g).requires_grad_() for _ in range(3)]

    def fwd_bwd():
        linear_attention(*leaves, causal=True).sum().backward()

    fwd_bwd()
    for x in leaves:
        x.grad = None
    head = 4096 * 64 * 4  # bytes of one head's (n, d) float32 array
    peak = peak_memory(fwd_bwd)[1]
    assert peak <= 3 * 8 * head + 28 * head, f"peak {peak / 2**20:.1f} MiB; one head's array is {head / 2**20:.0f} MiB"
