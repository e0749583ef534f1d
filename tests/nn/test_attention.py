"""Attention against torch's own implementation: values, gradients, masks, chunking and bad inputs."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.overrides import TorchFunctionMode

from minitorch_xf.nn.attention import (
    MultiHeadAttention,
    causal_mask,
    chunked_attention,
    padding_mask,
    scaled_dot_product_attention,
)

pytestmark = pytest.mark.ch01

F64 = torch.float64


def rand(*shape, seed=0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64).requires_grad_(requires_grad)


def qkv(b=2, h=3, s=5, t=5, d=4, e=6, seed=0):
    return (
        rand(b, h, s, d, seed=seed, requires_grad=True),
        rand(b, h, t, d, seed=seed + 1, requires_grad=True),
        rand(b, h, t, e, seed=seed + 2, requires_grad=True),
    )


def grads(out, inputs, seed=99):
    """Gradients of <out, R> for a fixed random R (the same R for ours and torch's)."""
    r = rand(*out.shape, seed=seed)
    return torch.autograd.grad((out * r).sum(), inputs, retain_graph=True)


def assert_same_values_and_grads(ours, ref, inputs):
    torch.testing.assert_close(ours, ref)
    for g_ours, g_ref in zip(grads(ours, inputs), grads(ref, inputs), strict=True):
        torch.testing.assert_close(g_ours, g_ref)


def random_mask(*shape, seed=0, p=0.5):
    """A random bool mask (True = may attend) that leaves at least one key per query row."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(*shape, generator=g) < p
    mask[..., 0] |= ~mask.any(-1)  # a row with no key gets key 0
    return mask


# ---------------------------------------------------------------- masks


def test_causal_mask_square_is_lower_triangular():
    torch.testing.assert_close(causal_mask(4), torch.ones(4, 4).tril().bool())


def test_causal_mask_bottom_right_alignment_with_cached_keys():
    # s = 2 new queries after 3 cached keys: query i sees keys j <= i + (t - s)
    expected = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    torch.testing.assert_close(causal_mask(2, 5), expected)


def test_padding_mask():
    m = padding_mask(torch.tensor([2, 0, 3]), 3)
    assert m.shape == (3, 1, 1, 3)
    torch.testing.assert_close(m[:, 0, 0].int(), torch.tensor([[1, 1, 0], [0, 0, 0], [1, 1, 1]], dtype=torch.int32))


# ---------------------------------------------------------------- scaled dot-product attention vs torch


def test_sdpa_no_mask_matches_torch():
    q, k, v = qkv()
    assert_same_values_and_grads(
        scaled_dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k, v), (q, k, v)
    )


def test_sdpa_s_ne_t_matches_torch():
    q, k, v = qkv(s=3, t=7)
    assert_same_values_and_grads(
        scaled_dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k, v), (q, k, v)
    )


@pytest.mark.parametrize("mask_shape", [(1, 1, 5, 5), (2, 1, 5, 5), (2, 3, 5, 5), (1, 1, 1, 5), (2, 1, 1, 5)])
def test_sdpa_bool_mask_matches_torch(mask_shape):
    q, k, v = qkv()
    mask = random_mask(*mask_shape, seed=3)
    ours = scaled_dot_product_attention(q, k, v, mask=mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_same_values_and_grads(ours, ref, (q, k, v))


def test_sdpa_causal_square_matches_torch_is_causal():
    q, k, v = qkv(s=6, t=6)
    ours = scaled_dot_product_attention(q, k, v, causal=True)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert_same_values_and_grads(ours, ref, (q, k, v))


@pytest.mark.parametrize(("s", "t"), [(3, 7), (7, 3)])
def test_sdpa_causal_s_ne_t_is_bottom_right_aligned(s, t):
    # torch's is_causal aligns top-left; ours aligns bottom-right: compare with the explicit mask j <= i + t - s
    q, k, v = qkv(s=s, t=t)
    i, j = torch.arange(s)[:, None], torch.arange(t)[None, :]
    explicit = j <= i + (t - s)
    ours = scaled_dot_product_attention(q, k, v, causal=True)
    if s > t:  # the first s - t queries see no key at all: our output is 0 there, torch's is NaN
        ref = F.scaled_dot_product_attention(q[..., s - t :, :], k, v, attn_mask=explicit[s - t :])
        ref = torch.cat([torch.zeros_like(ours[..., : s - t, :]), ref], dim=-2)
        assert not explicit[: s - t].any()
        torch.testing.assert_close(ours, ref)
        assert all(torch.isfinite(g).all() for g in grads(ours, (q, k, v)))
    else:
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=explicit)
        assert_same_values_and_grads(ours, ref, (q, k, v))


def loop_causal_attention(q, k, v):
    """Plain-loop reference for causal attention aligned bottom-right: query i sees keys j <= i + (t - s)."""
    s, t = q.shape[-2], k.shape[-2]
    out = torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype)
    for i in range(s):
        last = i + (t - s)  # the last key query i may see
        if last < 0:
            continue  # no key at all: the output stays 0
        scores = (q[..., i, :, None] * k[..., : last + 1, :].transpose(-2, -1)).sum(-2) / q.shape[-1] ** 0.5
        out[..., i, :] = (torch.softmax(scores, dim=-1)[..., None] * v[..., : last + 1, :]).sum(-2)
    return out


@pytest.mark.parametrize(("s", "t"), [(3, 7), (7, 3), (1, 5), (5, 5)])
def test_causal_queries_ne_keys_match_a_loop(s, t):
    # the documented bottom-right alignment, for every implementation, against a reference with no mask tensor
    q, k, v = qkv(b=1, h=2, s=s, t=t)
    expected = loop_causal_attention(q, k, v)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, causal=True), expected)
    torch.testing.assert_close(chunked_attention(q, k, v, causal=True, chunk_size=2), expected)
    if s < t:  # torch's is_causal is top-left aligned: it differs as soon as s != t
        top_left = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        assert (top_left - expected).abs().max() > 1e-3


def test_mha_cross_attention_causal_is_bottom_right_aligned():
    mha = make_mha()
    ref = torch_mha_from(mha)
    x, ctx = rand(2, 3, 12), rand(2, 6, 12, seed=1)  # s = 3 queries after 3 cached keys
    blocked = ~causal_mask(3, 6)  # torch: True = NOT allowed
    ref_out, _ = ref(x, ctx, ctx, attn_mask=blocked)
    torch.testing.assert_close(mha(x, context=ctx, causal=True), ref_out)


def test_sdpa_scale_and_weights():
    q, k, v = qkv()
    out, w = scaled_dot_product_attention(q, k, v, scale=0.3, return_weights=True)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=0.3))
    torch.testing.assert_close(w, torch.softmax(q @ k.transpose(-2, -1) * 0.3, dim=-1))


def test_sdpa_gradcheck():
    q, k, v = qkv(b=1, h=2, s=3, t=4, d=3, e=2)
    mask = random_mask(1, 1, 3, 4, seed=1)
    assert torch.autograd.gradcheck(lambda a, b_, c: scaled_dot_product_attention(a, b_, c, mask=mask), (q, k, v))
    assert torch.autograd.gradcheck(lambda a, b_, c: scaled_dot_product_attention(a, b_, c, causal=True), (q, k, v))


def test_fully_masked_rows_give_zero_values_and_finite_grads():
    q, k, v = qkv(b=1, h=2, s=4, t=5)
    mask = random_mask(1, 1, 4, 5, seed=2)
    mask[..., 1, :] = False  # query 1 may look at nothing
    out = scaled_dot_product_attention(q, k, v, mask=mask)
    torch.testing.assert_close(out[..., 1, :], torch.zeros_like(out[..., 1, :]))
    assert not torch.isnan(out).any()
    for g in grads(out, (q, k, v)):
        assert torch.isfinite(g).all(), f"non-finite gradient {g}"
    assert torch.autograd.gradcheck(lambda a, b_, c: scaled_dot_product_attention(a, b_, c, mask=mask), (q, k, v))
    # the other rows still agree with torch
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    keep = torch.tensor([0, 2, 3])
    torch.testing.assert_close(out[..., keep, :], ref[..., keep, :])


@settings(deadline=None, max_examples=25)
@given(s=st.integers(1, 6), t=st.integers(1, 6), seed=st.integers(0, 10_000), p=st.floats(0.1, 1.0))
def test_attention_rows_sum_to_one(s, t, seed, p):
    q, k, v = qkv(b=2, h=2, s=s, t=t, seed=seed)
    mask = random_mask(2, 1, s, t, seed=seed, p=p)
    _, w = scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, s, dtype=F64))
    assert (w.masked_select(~mask.expand_as(w)) == 0).all()


# ---------------------------------------------------------------- chunked attention


@pytest.mark.checks("prop-online-softmax")
@pytest.mark.parametrize("chunk", [1, 3, 4, 64])
@pytest.mark.parametrize(("s", "t"), [(7, 7), (5, 9), (9, 5)])
@pytest.mark.parametrize("causal", [False, True])
def test_chunked_matches_sdpa(chunk, s, t, causal):
    q, k, v = qkv(s=s, t=t)
    ours = chunked_attention(q, k, v, causal=causal, chunk_size=chunk)
    ref = scaled_dot_product_attention(q, k, v, causal=causal)
    assert_same_values_and_grads(ours, ref, (q, k, v))


@pytest.mark.parametrize("chunk", [1, 2, 16])
def test_chunked_key_padding_matches_sdpa(chunk):
    q, k, v = qkv(b=3, s=6, t=6)
    lengths = torch.tensor([6, 2, 0])  # the last sequence has no keys at all: zeros, no NaN
    key_padding = padding_mask(lengths, 6)[:, :, 0, :]  # (b, 1, t)
    ours = chunked_attention(q, k, v, causal=True, key_padding=key_padding, chunk_size=chunk)
    ref = scaled_dot_product_attention(q, k, v, causal=True, mask=key_padding[..., None, :])
    assert not torch.isnan(ours).any()
    torch.testing.assert_close(ours[2], torch.zeros_like(ours[2]))
    assert_same_values_and_grads(ours, ref, (q, k, v))
    for g in grads(ours, (q, k, v)):
        assert torch.isfinite(g).all()


def test_chunked_gradcheck():
    q, k, v = qkv(b=1, h=1, s=5, t=4, d=3, e=2)
    assert torch.autograd.gradcheck(lambda a, b_, c: chunked_attention(a, b_, c, causal=True, chunk_size=2), (q, k, v))


class ShapeRecorder(TorchFunctionMode):
    """Records the shape of every tensor produced by a torch function."""

    def __init__(self):
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for x in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(x, torch.Tensor):
                self.shapes.append(tuple(x.shape))
        return out


def test_chunked_never_materialises_the_full_score_matrix():
    s, t, d, chunk = 48, 40, 8, 8
    q, k, v = (rand(1, 2, s, d), rand(1, 2, t, d, seed=1), rand(1, 2, t, d, seed=2))
    with ShapeRecorder() as rec:
        scaled_dot_product_attention(q, k, v, causal=True)
    assert any(sh[-2:] == (s, t) for sh in rec.shapes), "the recorder should see the (s, t) scores of the naive path"
    with ShapeRecorder() as rec:
        out = chunked_attention(q, k, v, causal=True, chunk_size=chunk)
    big = [sh for sh in rec.shapes if len(sh) >= 2 and sh[-2] * sh[-1] > chunk * max(chunk, d)]
    assert all(sh[-2:] != (s, t) for sh in rec.shapes)
    assert big == [out.shape] or big == [tuple(out.shape)], f"unexpected large intermediates: {big}"


# ---------------------------------------------------------------- multi-head attention vs torch.nn.MultiheadAttention


def torch_mha_from(mha: MultiHeadAttention) -> torch.nn.MultiheadAttention:
    ref = torch.nn.MultiheadAttention(mha.d_model, mha.n_heads, batch_first=True, dtype=F64)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([mha.w_q.weight, mha.w_k.weight, mha.w_v.weight]))
        ref.in_proj_bias.copy_(torch.cat([mha.w_q.bias, mha.w_k.bias, mha.w_v.bias]))
        ref.out_proj.weight.copy_(mha.w_o.weight)
        ref.out_proj.bias.copy_(mha.w_o.bias)
    return ref


def make_mha(d_model=12, n_heads=3):
    torch.manual_seed(0)
    return MultiHeadAttention(d_model, n_heads).double()


def test_mha_self_attention_matches_torch():
    mha = make_mha()
    ref = torch_mha_from(mha)
    x = rand(2, 5, 12, requires_grad=True)
    out, w = mha(x, return_weights=True)
    ref_out, ref_w = ref(x, x, x, average_attn_weights=False)
    torch.testing.assert_close(w, ref_w)
    assert_same_values_and_grads(out, ref_out, (x,))


def test_mha_param_grads_match_torch():
    mha = make_mha()
    ref = torch_mha_from(mha)
    x = rand(2, 5, 12)
    g_ours = grads(mha(x), (mha.w_q.weight, mha.w_k.weight, mha.w_v.weight, mha.w_o.weight))
    g_ref = grads(ref(x, x, x, need_weights=False)[0], (ref.in_proj_weight, ref.out_proj.weight))
    torch.testing.assert_close(torch.cat(g_ours[:3]), g_ref[0])
    torch.testing.assert_close(g_ours[3], g_ref[1])


def test_mha_causal_matches_torch():
    mha = make_mha()
    ref = torch_mha_from(mha)
    x = rand(2, 6, 12)
    blocked = ~causal_mask(6)  # torch: True = NOT allowed
    ref_out, _ = ref(x, x, x, attn_mask=blocked, is_causal=True, need_weights=False)
    torch.testing.assert_close(mha(x, causal=True), ref_out)


def test_mha_key_padding_and_cross_attention_match_torch():
    mha = make_mha()
    ref = torch_mha_from(mha)
    x, ctx = rand(3, 4, 12), rand(3, 7, 12, seed=1)
    keep = padding_mask(torch.tensor([7, 3, 1]), 7)  # (b, 1, 1, t), True = real key
    out, w = mha(x, context=ctx, mask=keep, return_weights=True)
    ref_out, ref_w = ref(x, ctx, ctx, key_padding_mask=~keep[:, 0, 0], average_attn_weights=False)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)


def test_mha_2d_mask_matches_torch():
    mha = make_mha()
    ref = torch_mha_from(mha)
    x = rand(2, 5, 12)
    mask = random_mask(5, 5, seed=7)
    ref_out, _ = ref(x, x, x, attn_mask=~mask)
    torch.testing.assert_close(mha(x, mask=mask[None, None]), ref_out)  # (1, 1, s, t): one mask for the batch


# ---------------------------------------------------------------- bad inputs


def test_mismatched_head_dims():
    q, k, v = rand(1, 3, 4), rand(1, 3, 5), rand(1, 3, 5)
    with pytest.raises(ValueError, match=r"d=4.*d=5"):
        scaled_dot_product_attention(q, k, v)
    with pytest.raises(ValueError, match=r"d=4.*d=5"):
        chunked_attention(q, k, v)


def test_k_v_key_count_mismatch():
    with pytest.raises(ValueError, match=re.escape("(1, 6, 4)")):
        scaled_dot_product_attention(rand(1, 3, 4), rand(1, 5, 4), rand(1, 6, 4))


def test_d_model_not_divisible_by_heads():
    with pytest.raises(ValueError, match="d_model=10 is not divisible by n_heads=3"):
        MultiHeadAttention(10, 3)


def test_int_q_rejected():
    with pytest.raises(TypeError, match="int64"):
        scaled_dot_product_attention(torch.ones(1, 3, 4, dtype=torch.long), rand(1, 3, 4), rand(1, 3, 4))


def test_mixed_dtypes_rejected():
    with pytest.raises(TypeError, match="float32"):
        scaled_dot_product_attention(rand(1, 3, 4), rand(1, 3, 4).float(), rand(1, 3, 4))


def test_float_mask_rejected():
    q = rand(1, 3, 4)
    with pytest.raises(TypeError, match="float32"):
        scaled_dot_product_attention(q, q, q, mask=torch.ones(3, 3))


def test_float_key_padding_rejected():
    q = rand(1, 3, 4)
    with pytest.raises(TypeError, match="float32"):
        chunked_attention(q, q, q, key_padding=torch.ones(1, 3))


def test_mask_of_wrong_shape():
    q = rand(1, 3, 4)
    with pytest.raises(ValueError, match=re.escape("mask of shape (3, 4)")):
        scaled_dot_product_attention(q, q, q, mask=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=re.escape("(1, 5)")):
        chunked_attention(q, q, q, key_padding=torch.ones(1, 5, dtype=torch.bool))
    q4 = rand(2, 2, 3, 4)  # (b, h, s, d) with b == h: a (b, t) padding would broadcast against the heads
    with pytest.raises(ValueError, match=re.escape("key_padding has shape (2, 3)")):
        chunked_attention(q4, q4, q4, key_padding=torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=re.escape("key_padding has shape (3, 1, 3)")):
        chunked_attention(q4, q4, q4, key_padding=torch.ones(3, 1, 3, dtype=torch.bool))


def test_tensors_on_different_devices():
    q = rand(1, 3, 4)
    with pytest.raises(ValueError, match="k on meta"):
        scaled_dot_product_attention(q, q.to("meta"), q)
    with pytest.raises(ValueError, match="mask on meta"):
        scaled_dot_product_attention(q, q, q, mask=torch.ones(3, 3, dtype=torch.bool, device="meta"))
    mha = make_mha()
    with pytest.raises(ValueError, match="context on meta"):
        mha(rand(1, 3, 12), context=rand(1, 3, 12).to("meta"))


def test_bad_chunk_size_and_mha_input():
    q = rand(1, 3, 4)
    with pytest.raises(ValueError, match="chunk_size=0"):
        chunked_attention(q, q, q, chunk_size=0)
    with pytest.raises(ValueError, match="d_model=12"):
        make_mha()(rand(1, 3, 10))
    with pytest.raises(ValueError, match=re.escape("lengths must lie in [0, t=3], got [4]")):
        padding_mask(torch.tensor([4]), 3)
