r"""Attention from scratch: scaled dot-product, masks, multi-head, and chunked online-softmax attention.

Shape glossary (used in every comment below):
    b batch, h heads, s queries, t keys, d head dim (queries/keys), e value dim, m model dim.

Scaled dot-product attention (Vaswani et al., 2017, eq. 1):
$$ \mathrm{Attn}(Q,K,V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt d} + M\right) V, $$
with $M_{ij} = 0$ where query $i$ may look at key $j$ and $-\infty$ elsewhere.

Mask convention (the same as ``torch.nn.functional.scaled_dot_product_attention``): a boolean mask is
``True`` where attention is **allowed**. A query whose keys are all masked gets a zero output (not NaN).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import (
    check_choice,
    check_divisible,
    check_flag,
    check_like_module,
    check_number,
    check_positive,
    check_same_device,
    check_size,
    check_tensor,
)
from .dispatch import (
    ATTENTION_BACKENDS,
    _check_mask,
    _check_qkv,
    _check_scale,
    _run,
    attention_backends,
    register_attention_backend,
)
from .positional import RotaryEmbedding

__all__ = [
    "ATTENTION_BACKENDS",
    "MultiHeadAttention",
    "causal_mask",
    "chunked_attention",
    "padding_mask",
    "scaled_dot_product_attention",
    "softmax",
]


def causal_mask(s: int, t: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean (s, t) mask, True where key j <= query i + (t - s): aligned **bottom-right**.

    With s == t this is the usual lower-triangular mask. With s < t the s queries are taken to be the *last* s
    positions of the sequence (the t - s keys before them are cached), so the last query sees every key. This
    differs from ``torch.nn.functional.scaled_dot_product_attention(is_causal=True)``, which aligns the mask
    top-left (key j <= query i) whatever s and t are; the two agree only when s == t. With s > t the first
    s - t queries see no key at all.
    """
    check_positive("s", s)
    t = s if t is None else check_positive("t", t)
    check_size(f"causal_mask(s={s}, t={t})", s * t)
    if device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError):
            raise ValueError(
                f"device={device!r} is not a torch device (e.g. 'cpu', 'cuda:0' or a torch.device)"
            ) from None
    i = torch.arange(s, device=device)[:, None]  # (s, 1)
    j = torch.arange(t, device=device)[None, :]  # (1, t)
    return j <= i + (t - s)  # (s, t)


def padding_mask(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """Boolean (b, 1, 1, t) mask from sequence lengths: True on the first ``lengths[b]`` keys.

    The shape is the one :func:`scaled_dot_product_attention` and :class:`MultiHeadAttention` expect for a
    key-padding mask on (b, h, s, t) scores.
    """
    check_tensor("lengths", lengths, ndim=1)
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise TypeError(f"lengths must be an integer tensor, got dtype={lengths.dtype}")
    check_positive("t", t)
    check_size(f"padding_mask of {lengths.shape[0]} lengths and t={t}", lengths.shape[0] * t)
    if lengths.device.type != "meta" and ((lengths < 0).any() or (lengths > t).any()):  # meta holds no values
        raise ValueError(f"lengths must lie in [0, t={t}], got {lengths.tolist()}")
    keep = torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]  # (b, t)
    return keep[:, None, None, :]  # (b, 1, 1, t): broadcasts over heads and queries


def softmax(scores: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""Numerically safe softmax $e^{x_i - m} / \sum_j e^{x_j - m}$ with $m = \max_j x_j$.

    Rows that are entirely ``-inf`` (every key masked) give zeros instead of NaN. An empty ``dim`` gives an
    empty result.
    """
    check_tensor("scores", scores, floating=True)
    check_number("dim", dim, integer=True, low=-max(scores.dim(), 1), high=max(scores.dim(), 1) - 1)
    if scores.shape[dim] == 0:
        return scores.clone()  # nothing to normalise
    m = scores.amax(dim=dim, keepdim=True).detach()  # the shift does not change the value: no gradient needed
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all -inf row: shift by 0, exp gives 0
    e = torch.exp(scores - m)
    denom = e.sum(dim=dim, keepdim=True)
    return e / torch.where(denom > 0, denom, torch.ones_like(denom))


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    causal: bool = False,
    scale: float | None = None,
    return_weights: bool = False,
):
    r"""$\mathrm{softmax}(QK^\top \cdot \mathrm{scale} + M)\,V$ with ``scale`` $= 1/\sqrt d$ by default.

    Args:
        q: (..., s, d) queries.  k: (..., t, d) keys.  v: (..., t, e) values. The batch dims ``...`` must agree
            (or be 1 where one is shared, e.g. one key head for all query heads) and q, k, v have as many dims
            (a 2-D one is shared by every batch): a (b, t, d) k against a (b, h, s, d) q is rejected, since it
            would pair k's batch with q's heads; pass k[:, None] of shape (b, 1, t, d).
        mask: bool with one dim per score dim (..., s, t), each of the scores' size or 1; True where attention
            is allowed. For (b, h, s, t) scores: ``(1, 1, s, t)`` for one mask shared by the batch,
            ``(b, 1, 1, t)`` for key padding (:func:`padding_mask`), ``(b, h, s, t)`` in full. A mask of fewer
            dims is rejected: a (b, t) padding mask and an (s, t) mask have the same shape when b == s.
        causal: also forbid key j > query i + (t - s). The mask is aligned **bottom-right** (the s queries are
            the last s positions, after t - s cached keys), unlike torch's ``is_causal``, which aligns it
            top-left; the two agree when s == t. With s > t the first s - t queries see no key and output 0.
        scale: a finite number > 0.
        return_weights: also return the attention weights (..., s, t).
    Returns:
        (..., s, e) outputs, and the weights when asked. A query whose keys are all masked outputs 0.
    """
    batch = _check_qkv(q, k, v)
    check_flag("causal", causal)
    check_flag("return_weights", return_weights)
    if mask is not None:
        _check_mask(mask, q, batch, k.shape[-2])
    return _reference(q, k, v, mask, causal, _check_scale(scale, q.shape[-1]), return_weights)


def _reference(q, k, v, mask, causal: bool, scale: float, return_weights: bool = False):
    """:func:`scaled_dot_product_attention` on checked arguments: the ``"reference"`` backend of the dispatcher."""
    s, t = q.shape[-2], k.shape[-2]
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., s, t)
    if causal:
        scores = scores.masked_fill(~causal_mask(s, t, device=q.device), float("-inf")) if s else scores
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax(scores, dim=-1)  # (..., s, t), rows sum to 1 (or 0 if fully masked)
    out = weights @ v  # (..., s, e)
    return (out, weights) if return_weights else out


def _sdpa(q, k, v, mask, causal: bool, scale: float) -> torch.Tensor:
    """torch's fused ``F.scaled_dot_product_attention`` on checked arguments, causal aligned bottom-right."""
    s, t = q.shape[-2], k.shape[-2]
    if causal and (s != t or mask is not None):  # torch's is_causal is top-left: pass the mask explicitly
        allowed = causal_mask(s, t, device=q.device)  # (s, t)
        mask = allowed if mask is None else mask & allowed
        causal = False
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)


register_attention_backend("reference", _reference)
register_attention_backend("sdpa", _sdpa)


def chunked_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    key_padding: torch.Tensor | None = None,
    chunk_size: int = 64,
    scale: float | None = None,
) -> torch.Tensor:
    r"""Attention computed block by block with the online softmax (Milakov & Gimelshein, 2018; FlashAttention).

    For each block of queries we stream over blocks of keys, keeping a running max $m$, normaliser $\ell$ and
    un-normalised output $o$. A new block of scores $S$ updates them as
    $$ m' = \max(m, \max_j S_j),\quad \ell' = e^{m-m'}\ell + \sum_j e^{S_j - m'},\quad
       o' = e^{m-m'} o + \sum_j e^{S_j-m'} v_j, $$
    and the output is $o/\ell$. Without gradients (``torch.no_grad()``) the scores take O(chunk_size^2) memory per
    head instead of O(s t). Under autograd, however, every block's scores and probabilities are saved for the
    backward pass, so training still stores O(s t) per head (counted in chapter 12: about as many bytes as naive
    attention without a mask, about half with ``causal=True``). For attention whose backward fits in memory,
    see :func:`~minitorch_xf.nn.memory_efficient.memory_efficient_attention`.

    Args:
        q: (..., s, d), k: (..., t, d), v: (..., t, e).
        causal: as in :func:`scaled_dot_product_attention` (bottom-right aligned when s != t).
        key_padding: bool (..., t) with one dim per batch dim of q, True for real keys (broadcast over queries):
            (b, 1, t) for q of shape (b, h, s, d).
        chunk_size: block length for both queries and keys.
        scale: a finite number > 0; default $1/\sqrt d$.
    """
    batch = _check_qkv(q, k, v)
    check_flag("causal", causal)
    check_positive("chunk_size", chunk_size)
    d, s, t = q.shape[-1], q.shape[-2], k.shape[-2]
    if key_padding is not None:
        check_tensor("key_padding", key_padding)
        if key_padding.dtype != torch.bool:
            raise TypeError(f"key_padding must be a bool tensor, got dtype={key_padding.dtype}")
        if key_padding.shape[-1] != t:
            raise ValueError(f"key_padding has shape {tuple(key_padding.shape)}; its last dim must be t={t}")
        # same number of batch dims as q, so that (b, t) is never silently broadcast against the heads of (b, h, s, d)
        try:
            fits = tuple(torch.broadcast_shapes(key_padding.shape[:-1], batch)) == batch
        except RuntimeError:
            fits = False
        if key_padding.dim() != len(batch) + 1 or not fits:
            raise ValueError(
                f"key_padding has shape {tuple(key_padding.shape)}; it must be (..., t) with batch dims broadcastable "
                f"to q's {batch} (use (b, 1, t) for q of shape (b, h, s, d))"
            )
        check_same_device(q=q, key_padding=key_padding)
    scale = 1.0 / math.sqrt(d) if scale is None else check_number("scale", scale, low=0, low_open=True)
    if s == 0:
        return q.new_zeros((*batch, 0, v.shape[-1]))  # no queries: nothing to compute
    outs = []
    for i0 in range(0, s, chunk_size):
        qi = q[..., i0 : i0 + chunk_size, :] * scale  # (..., cs, d)
        rows = torch.arange(i0, i0 + qi.shape[-2], device=q.device)[:, None] + (t - s)  # (cs, 1)
        m = torch.full((*qi.shape[:-1], 1), float("-inf"), dtype=q.dtype, device=q.device)  # (..., cs, 1)
        ell = torch.zeros_like(m)  # (..., cs, 1)
        o = torch.zeros((*qi.shape[:-1], v.shape[-1]), dtype=q.dtype, device=q.device)  # (..., cs, e)
        for j0 in range(0, t, chunk_size):
            if causal and j0 > i0 + qi.shape[-2] - 1 + (t - s):
                break  # every later key block lies in the future of every query in this block
            sc = qi @ k[..., j0 : j0 + chunk_size, :].transpose(-2, -1)  # (..., cs, ct)
            cols = torch.arange(j0, j0 + sc.shape[-1], device=q.device)[None, :]  # (1, ct)
            if causal:
                sc = sc.masked_fill(cols > rows, float("-inf"))
            if key_padding is not None:
                sc = sc.masked_fill(~key_padding[..., None, j0 : j0 + chunk_size], float("-inf"))
            m_new = torch.maximum(m, sc.amax(dim=-1, keepdim=True))  # (..., cs, 1)
            m_safe = torch.where(torch.isfinite(m_new), m_new, torch.zeros_like(m_new))
            alpha = torch.exp(m - m_safe)  # rescales the old sums; exp(-inf) = 0 on the first block
            p = torch.exp(sc - m_safe)  # (..., cs, ct)
            ell = alpha * ell + p.sum(dim=-1, keepdim=True)
            o = alpha * o + p @ v[..., j0 : j0 + chunk_size, :]
            m = m_new
        outs.append(o / torch.where(ell > 0, ell, torch.ones_like(ell)))  # fully masked rows stay 0
    return torch.cat(outs, dim=-2)  # (..., s, e)


class MultiHeadAttention(nn.Module):
    r"""Multi-head attention (Vaswani et al., 2017, sec. 3.2.2).

    $$ \mathrm{MHA}(X) = \mathrm{Concat}(\mathrm{head}_1,\dots,\mathrm{head}_h) W_O,\quad
       \mathrm{head}_i = \mathrm{Attn}(X_q W_Q^i, X_k W_K^i, X_k W_V^i). $$

    Args:
        d_model: model width m; must be divisible by ``n_heads``.
        n_heads: number of heads h; each has d = m / h.
        bias: whether the four projections carry a bias.
        rope: an optional :class:`~minitorch_xf.nn.positional.RotaryEmbedding` of dim d applied to q and k. The
            t keys sit at positions 0..t-1 and the s queries at the last s of them (t - s .. t - 1, as the causal
            mask aligns them), so a suffix with its context, or one token at a time, gives the full pass's rows.
        backend: ``"reference"`` (:func:`scaled_dot_product_attention`), ``"memory_efficient"``
            (:func:`~minitorch_xf.nn.memory_efficient.memory_efficient_attention`) or ``"sdpa"`` (torch's fused
            kernel). All three compute the same function; the weights (``return_weights=True``) always come from
            the reference, and ``"memory_efficient"`` takes no ``mask``. Settable later: ``attn.backend = "sdpa"``.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        bias: bool = True,
        rope: RotaryEmbedding | None = None,
        backend: str = "reference",
    ):
        super().__init__()
        check_divisible("d_model", d_model, "n_heads", n_heads)
        check_flag("bias", bias)
        check_choice("backend", backend, attention_backends())
        check_size(f"MultiHeadAttention(d_model={d_model})'s four projections", 4 * d_model * d_model)
        self.backend = backend
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        if rope is not None and not isinstance(rope, RotaryEmbedding):
            raise TypeError(f"rope must be a RotaryEmbedding or None, got {type(rope).__name__}")
        if rope is not None and rope.dim != self.d_head:
            raise ValueError(f"rope.dim={rope.dim} must equal the head dim d_model/n_heads={self.d_head}")
        self.w_q = nn.Linear(d_model, d_model, bias=bias)
        self.w_k = nn.Linear(d_model, d_model, bias=bias)
        self.w_v = nn.Linear(d_model, d_model, bias=bias)
        self.w_o = nn.Linear(d_model, d_model, bias=bias)
        self.rope = rope

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.n_heads, self.d_head).transpose(1, 2)  # (b, h, n, d)

    def _check_input(self, name: str, x: torch.Tensor, b: int | None = None) -> None:
        check_tensor(name, x, ndim=3, floating=True)
        if x.shape[-1] != self.d_model:
            raise ValueError(f"{name} has shape {tuple(x.shape)}; its last dim must be d_model={self.d_model}")
        if b is not None and x.shape[0] != b:
            raise ValueError(f"{name} has shape {tuple(x.shape)}; its batch size must be x's, b={b}")
        if x.shape[1] == 0:
            raise ValueError(f"{name} has shape {tuple(x.shape)}: attention needs at least one token")
        check_like_module(name, x, self)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        causal: bool = False,
        return_weights: bool = False,
    ):
        """x: (b, s, m) queries; context: (b, t, m) keys/values (default x). Returns (b, s, m) [, (b, h, s, t)].

        ``mask``: bool (b, h, s, t) with 1 where shared, e.g. (b, 1, 1, t) for key padding or (1, 1, s, t);
        ``causal``: bottom-right aligned (see :func:`scaled_dot_product_attention`). The weights are computed
        and kept only when ``return_weights=True``.
        """
        self._check_input("x", x)  # every check happens here, once: q, k, v below are built to fit
        if context is not None:
            self._check_input("context", context, b=x.shape[0])
        context = x if context is None else context
        check_flag("causal", causal)
        check_flag("return_weights", return_weights)
        b, s, _ = x.shape
        t = context.shape[1]
        q = self.split_heads(self.w_q(x))  # (b, h, s, d)
        k = self.split_heads(self.w_k(context))  # (b, h, t, d)
        v = self.split_heads(self.w_v(context))  # (b, h, t, d)
        if mask is not None:
            _check_mask(mask, q, (b, self.n_heads), t)
        if self.rope is not None:  # the s queries are the last s of the t positions, as the causal mask has them
            q, k = self.rope(q, offset=max(t - s, 0)), self.rope(k, offset=max(s - t, 0))
        scale = 1.0 / math.sqrt(self.d_head)
        if return_weights:  # only the reference keeps the weights
            out, weights = _reference(q, k, v, mask, causal, scale, return_weights=True)
        else:
            out, weights = _run(self.backend, q, k, v, mask, causal, scale), None
        out = out.transpose(1, 2).reshape(b, s, self.d_model)  # (b, s, m): heads concatenated
        out = self.w_o(out)
        return (out, weights) if return_weights else out
