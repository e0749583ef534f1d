"""Checks for chapter 1's exercises: attention, the causal mask, multi-head attention, LayerNorm.

Each check draws random cases (fresh each run unless ``seed`` is given) and compares the learner's function
with torch's own implementation, which shares no code with ours.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._core import Checker

__all__ = ["check_attention", "check_causal_mask", "check_layer_norm", "check_multi_head_attention"]


def check_attention(attention, n_cases: int = 4, seed: int | None = None) -> None:
    """``attention(q, k, v, mask=None)``: q (b, s, d), k (b, t, d), v (b, t, e), mask bool (1, s, t) or (b, s, t):
    one dim per score dim, True = may attend (a function that broadcasts the mask against the scores passes)."""
    c = Checker("attention", seed)
    for i in range(n_cases):
        b, s, t, d, e = (c.randint(1, 3), c.randint(1, 7), c.randint(1, 9), c.randint(2, 16), c.randint(1, 8))
        q, k, v = c.randn(b, s, d), c.randn(b, t, d), c.randn(b, t, e)
        expected = F.scaled_dot_product_attention(q, k, v)
        c.close(
            f"#{i} no mask, q{tuple(q.shape)} k{tuple(k.shape)} v{tuple(v.shape)}", expected, c.call(attention, q, k, v)
        )
        # one mask dim per score dim, as the package's attention requires (an (s, t) mask is ambiguous against a
        # (b, t) padding mask when b == s): shared by the batch (1, s, t) or one per sequence (b, s, t)
        mask = torch.rand(1 if i % 2 == 0 else b, s, t, generator=c.generator) < 0.6
        mask[..., 0] = True  # every query keeps at least one key
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        c.close(f"#{i} random mask {tuple(mask.shape)}", expected, c.call(attention, q, k, v, mask=mask))
    q = 30.0 * c.randn(1, 4, 8)  # large scores: a softmax without max-subtraction overflows
    c.close(
        "large scores (is your softmax stable?)", F.scaled_dot_product_attention(q, q, q), c.call(attention, q, q, q)
    )
    c.done()


def check_causal_mask(causal_mask, seed: int | None = None) -> None:
    """``causal_mask(n)`` -> bool (n, n), True where key j <= query i."""
    c = Checker("causal_mask", seed)
    for n in sorted({1, 2, c.randint(3, 12), c.randint(13, 40)}):
        expected = torch.ones(n, n).tril().bool()
        got = c.call(causal_mask, n)
        if isinstance(got, torch.Tensor) and got.dtype != torch.bool:
            c.fail(f"case n={n}: expected dtype torch.bool (True = may attend), received {got.dtype}")
        c.true(
            f"n={n}",
            isinstance(got, torch.Tensor) and got.shape == (n, n) and bool((got == expected).all()),
            f"expected the lower-triangular {n}x{n} boolean matrix, received {got!r}",
        )
    c.done()


def check_multi_head_attention(multi_head_attention, n_cases: int = 4, seed: int | None = None) -> None:
    """``multi_head_attention(x, w_q, w_k, w_v, w_o, n_heads, causal=False)`` with x (b, n, m), weights (m, m).

    The projections are ``x @ w_q`` etc.; the reference is ``torch.nn.MultiheadAttention`` with the same weights.
    """
    c = Checker("multi_head_attention", seed)
    for i in range(n_cases):
        h = c.randint(1, 4)
        m, b, n = h * c.randint(1, 6), c.randint(1, 3), c.randint(1, 8)
        x = c.randn(b, n, m)
        w_q, w_k, w_v, w_o = (c.randn(m, m) / m**0.5 for _ in range(4))
        ref = torch.nn.MultiheadAttention(m, h, bias=False, batch_first=True, dtype=torch.float64)
        with torch.no_grad():
            ref.in_proj_weight.copy_(torch.cat([w_q.T, w_k.T, w_v.T]))
            ref.out_proj.weight.copy_(w_o.T)
        causal = bool(i % 2)
        attn_mask = ~torch.ones(n, n, dtype=torch.bool).tril() if causal else None  # torch: True = blocked
        with torch.no_grad():
            expected = ref(x, x, x, attn_mask=attn_mask, need_weights=False)[0]
        got = c.call(multi_head_attention, x, w_q, w_k, w_v, w_o, h, causal=causal)
        c.close(f"#{i} b={b} n={n} m={m} heads={h} causal={causal}", expected, got)
    c.done()


def check_layer_norm(layer_norm, n_cases: int = 4, seed: int | None = None) -> None:
    """``layer_norm(x, gamma, beta, eps=1e-5)`` over the last dim of x (..., m)."""
    c = Checker("layer_norm", seed)
    for i in range(n_cases):
        shape = (*(c.randint(1, 5) for _ in range(c.randint(1, 3))), c.randint(2, 32))
        x = 3.0 * c.randn(*shape) + 5.0  # an offset and a scale that a wrong mean/variance would not survive
        gamma, beta = c.randn(shape[-1]), c.randn(shape[-1])
        expected = F.layer_norm(x, (shape[-1],), gamma, beta, eps=1e-5)
        c.close(f"#{i} x{shape}", expected, c.call(layer_norm, x, gamma, beta))
    x = c.randn(2, 3, 8)
    x[0, 0] = 1.25  # a constant row: variance 0, only eps keeps it finite
    expected = F.layer_norm(x, (8,), torch.ones(8, dtype=x.dtype), torch.zeros(8, dtype=x.dtype), eps=1e-5)
    c.close(
        "a constant row (variance 0)",
        expected,
        c.call(layer_norm, x, torch.ones(8, dtype=x.dtype), torch.zeros(8, dtype=x.dtype)),
    )
    c.done()
