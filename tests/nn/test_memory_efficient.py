"""Memory-efficient attention (custom backward): values and gradients vs naive attention and torch's SDPA, the
backend switch, and the memory it saves."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from minitorch_xf.nn import Decoder, Encoder
from minitorch_xf.nn.attention import chunked_attention, scaled_dot_product_attention
from minitorch_xf.nn.memory_efficient import (
    attention,
    memory_efficient_attention,
    peak_memory,
    saved_tensor_bytes,
    set_attention_backend,
)

pytestmark = pytest.mark.ch12


def _qkv(s, t, seed=0, b=2, h=3, d=8, e=5, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, s, d, generator=g, dtype=dtype)
    return q, torch.randn(b, h, t, d, generator=g, dtype=dtype), torch.randn(b, h, t, e, generator=g, dtype=dtype)


def _grads(fn, q, k, v, dout):
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    out = fn(*leaves)
    return (out, *torch.autograd.grad(out, leaves, dout))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("s", "t", "block"), [(17, 17, 4), (16, 16, 16), (5, 23, 8), (9, 9, 100)])
def test_values_and_gradients_match_sdpa_and_naive(causal, s, t, block):
    q, k, v = _qkv(s, t, seed=s + t)
    dout = torch.randn(*q.shape[:-1], v.shape[-1], generator=torch.Generator().manual_seed(1), dtype=q.dtype)
    ours = _grads(lambda a, b, c: memory_efficient_attention(a, b, c, causal=causal, block_size=block), q, k, v, dout)
    naive = _grads(lambda a, b, c: scaled_dot_product_attention(a, b, c, causal=causal), q, k, v, dout)
    for x, y in zip(ours, naive, strict=True):
        torch.testing.assert_close(x, y)
    if s == t:  # torch's is_causal is top-left aligned: the same as ours only when s == t
        sdpa = _grads(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=causal), q, k, v, dout)
        for x, y in zip(ours, sdpa, strict=True):
            torch.testing.assert_close(x, y)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("causal", [False, True])
def test_large_scores_keep_the_log_sum_exp_exact(causal, dtype):
    """Scores in the thousands, with near-ties and rows dominated by one key: the forward reads L_i off the largest
    probability (L = m - log max P) and the backward recomputes P = exp(S - L) from it, so a wrong L shows in every
    gradient. Against naive attention (its own softmax and autograd)."""
    q, k, v = (x.to(dtype) for x in _qkv(21, 21, seed=7))
    q = q * 40.0  # |scores| up to about 1e3: exp overflows unless the max is taken out
    k[..., 3, :] = k[..., 4, :]  # an exact tie between two keys
    dout = torch.randn(*q.shape[:-1], v.shape[-1], generator=torch.Generator().manual_seed(3), dtype=dtype)
    ours = _grads(lambda a, b, c: memory_efficient_attention(a, b, c, causal=causal, block_size=8), q, k, v, dout)
    naive = _grads(lambda a, b, c: scaled_dot_product_attention(a, b, c, causal=causal), q, k, v, dout)
    tol = {"atol": 1e-4, "rtol": 1e-4} if dtype == torch.float32 else {}
    for x, y in zip(ours, naive, strict=True):
        assert torch.isfinite(x).all()
        torch.testing.assert_close(x, y, **tol)


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck_float64(causal):
    q, k, v = (x.requires_grad_() for x in _qkv(5, 5, seed=2, b=1, h=2, d=3, e=2))
    assert torch.autograd.gradcheck(
        lambda a, b, c: memory_efficient_attention(a, b, c, causal, block_size=2), (q, k, v)
    )


def test_query_that_sees_no_key_outputs_zero_with_zero_gradient():
    q, k, v = (x.requires_grad_() for x in _qkv(6, 3, seed=3))  # s > t: the first 3 queries see no key
    out = memory_efficient_attention(q, k, v, causal=True, block_size=2)
    assert torch.equal(out[..., :3, :], torch.zeros_like(out[..., :3, :]))
    out.sum().backward()
    assert torch.isfinite(q.grad).all() and torch.equal(q.grad[..., :3, :], torch.zeros_like(q.grad[..., :3, :]))


def test_broadcast_batch_dims_sum_their_gradient():
    q, k, v = _qkv(4, 4, seed=4)
    k1, v1 = k[:, :1].clone().requires_grad_(), v[:, :1].clone().requires_grad_()  # one key head shared
    memory_efficient_attention(q, k1, v1).sum().backward()
    k2, v2 = k[:, :1].clone().requires_grad_(), v[:, :1].clone().requires_grad_()
    scaled_dot_product_attention(q, k2, v2).sum().backward()
    torch.testing.assert_close(k1.grad, k2.grad)
    torch.testing.assert_close(v1.grad, v2.grad)


@pytest.mark.parametrize("backend", ["reference", "memory_efficient", "sdpa"])
@pytest.mark.parametrize(("s", "t"), [(6, 6), (3, 7)])
def test_backends_agree(backend, s, t):
    q, k, v = _qkv(s, t, seed=5, dtype=torch.float32)
    for causal in (False, True):
        expected = scaled_dot_product_attention(q, k, v, causal=causal)
        torch.testing.assert_close(attention(q, k, v, causal=causal, backend=backend), expected)


def test_sdpa_backend_takes_a_mask_and_causal_together():
    q, k, v = _qkv(4, 6, seed=6, dtype=torch.float32)
    mask = torch.rand(1, 1, 4, 6, generator=torch.Generator().manual_seed(0)) > 0.3
    mask[..., -1] = True  # every query keeps its own (last) key
    expected = scaled_dot_product_attention(q, k, v, mask=mask, causal=True)
    torch.testing.assert_close(attention(q, k, v, causal=True, backend="sdpa", mask=mask), expected)


@pytest.mark.parametrize("model_cls", [Encoder, Decoder])
def test_models_give_the_same_logits_and_gradients_with_every_backend(model_cls):
    torch.manual_seed(7)
    model = model_cls(vocab_size=11, d_model=16, n_heads=2, n_layers=2, max_len=16)
    tokens = torch.randint(0, 11, (3, 9), generator=torch.Generator().manual_seed(8))
    results = {}
    for backend in ("reference", "memory_efficient", "sdpa"):
        set_attention_backend(model, backend)
        model.zero_grad()
        logits = model(tokens)
        logits.square().mean().backward()
        results[backend] = (logits.detach(), model.embed.weight.grad.clone())
    for backend in ("memory_efficient", "sdpa"):
        torch.testing.assert_close(results[backend][0], results["reference"][0])
        torch.testing.assert_close(results[backend][1], results["reference"][1])


def test_default_backend_is_the_reference():
    model = Encoder(vocab_size=5, d_model=8, n_heads=2)
    assert {m.backend for m in model.modules() if hasattr(m, "backend")} == {"reference"}


def test_forward_backward_memory_is_a_fraction_of_naive():
    torch.set_num_threads(1)
    q, k, v = (x.float().requires_grad_() for x in _qkv(1024, 1024, seed=9, b=1, h=2, d=32, e=32))

    def fwd_bwd(fn):
        return lambda: fn(q, k, v, causal=True).sum().backward()

    _, naive = peak_memory(fwd_bwd(scaled_dot_product_attention))
    _, ours = peak_memory(fwd_bwd(memory_efficient_attention))
    assert ours <= naive / 4, f"memory-efficient peak {ours / 2**20:.1f} MiB vs naive {naive / 2**20:.1f} MiB"


def test_saved_tensor_bytes_counts_each_storage_once():
    x, y = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    _, both = saved_tensor_bytes(lambda: x * y.float())  # saves x and the float copy of y
    assert both == 2 * 6 * 4 * 4
    _, halves = saved_tensor_bytes(lambda: x[:3] * x[3:])  # two views of one storage: x counted once, in full
    assert halves == x.untyped_storage().nbytes() == 6 * 4 * 4
    _, nothing = saved_tensor_bytes(lambda: x + 1)  # addition needs nothing for its backward
    assert nothing == 0
    with torch.no_grad():
        assert saved_tensor_bytes(lambda: x * y.float())[1] == 0


def test_memory_efficient_keeps_q_k_v_o_and_the_log_sum_exp_only():
    q, k, v = (x.float().requires_grad_() for x in _qkv(40, 56, seed=8, b=2, h=2, d=8, e=6))
    for causal in (False, True):
        out, kept = saved_tensor_bytes(memory_efficient_attention, q, k, v, causal=causal, block_size=16)
        lse = 4 * out.shape[:-1].numel()  # one float32 per query
        assert kept == sum(x.untyped_storage().nbytes() for x in (q, k, v, out)) + lse


def test_blockwise_forward_under_plain_autograd_keeps_quadratic_bytes():
    """chunked_attention's online softmax saves every block for autograd: Theta(s t) bytes, about as many as naive
    attention without a mask and about half with a causal mask (blocks above the diagonal are
    skipped). Counted bytes, so exact across machines."""
    ratios, growth = {}, {}
    for causal in (False, True):
        kept = {}
        for n in (256, 1024):
            q, k, v = (x.float().requires_grad_() for x in _qkv(n, n, seed=9, b=1, h=1, d=32, e=32))
            kept[n] = (
                saved_tensor_bytes(chunked_attention, q, k, v, causal=causal)[1],
                saved_tensor_bytes(scaled_dot_product_attention, q, k, v, causal=causal)[1],
            )
        ratios[causal] = kept[1024][0] / kept[1024][1]
        growth[causal] = math.log(kept[1024][0] / kept[256][0], 4)  # exponent of n
    assert 0.8 <= ratios[False] <= 1.2 and 0.4 <= ratios[True] <= 0.7, ratios
    assert all(1.7 <= g <= 2.05 for g in growth.values()), growth  # bytes grow as n^2


@pytest.mark.parametrize("elements", [1, 40, 1 << 19])
@pytest.mark.parametrize(("s", "t"), [(13, 13), (6, 19), (19, 6)])
def test_head_groups_give_the_same_values_and_gradients(elements, s, t, monkeypatch):
    """Query blocks of several heads are taken together when their scores fit in ``_TEMP_ELEMENTS`` numbers: one
    head at a time, uneven groups and all heads at once agree with naive attention (causal, also with more queries
    than keys, where the first queries see no key)."""
    from minitorch_xf.nn import memory_efficient

    monkeypatch.setattr(memory_efficient, "_TEMP_ELEMENTS", elements)
    q, k, v = _qkv(s, t, seed=3 * s + t)
    dout = torch.randn(*q.shape[:-1], v.shape[-1], generator=torch.Generator().manual_seed(2), dtype=q.dtype)
    ours = _grads(lambda a, b, c: memory_efficient_attention(a, b, c, causal=True, block_size=4), q, k, v, dout)
    naive = _grads(lambda a, b, c: scaled_dot_product_attention(a, b, c, causal=True), q, k, v, dout)
    for x, y in zip(ours, naive, strict=True):
        torch.testing.assert_close(x, y)
