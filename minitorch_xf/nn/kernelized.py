r"""Kernelized linear attention in its parallel, chunkwise and recurrent forms, and NormAttention.

Shape glossary: b batch, h heads, s queries, t keys, n tokens (s = t), d head dim, e value dim, m model dim.

Katharopoulos et al. (2020, eq. 4-6) replace $\exp(q_i^\top k_j)$ by a kernel $\phi(q_i)^\top\phi(k_j)$ with the
feature map $\phi(x) = \mathrm{elu}(x) + 1 > 0$:
$$ o_i = \frac{\phi(q_i)^\top \sum_j \phi(k_j) v_j^\top}{\phi(q_i)^\top \sum_j \phi(k_j)}. $$
Summing over keys first costs O(n d e) instead of O(n^2). Causally, the sums run over $j \le i$ and become the
state of a recurrent network, $S_i = S_{i-1} + \phi(k_i) v_i^\top$, $z_i = z_{i-1} + \phi(k_i)$ (eq. 16-18).

Qin et al. (2022, "The Devil in Linear Transformer") show that the denominator makes the gradient unbounded as it
tends to 0, and replace it by a normalization of the output: $O = \mathrm{RMSNorm}(\phi(Q)(\phi(K)^\top V))$
(NormAttention).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import (
    check_callable,
    check_choice,
    check_divisible,
    check_flag,
    check_like_module,
    check_number,
    check_positive,
    check_same_device,
    check_same_dtype,
    check_size,
    check_tensor,
)
from .chunkwise import _causal_linear, _causal_product
from .dispatch import _check_qkv
from .norms import RMSNorm

FORMS = ("chunkwise", "parallel")

__all__ = [
    "FORMS",
    "NormAttention",
    "elu_feature_map",
    "linear_attention",
    "linear_attention_recurrent",
    "norm_linear_attention",
]


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    r"""$\phi(x) = \mathrm{elu}(x) + 1$, positive everywhere (Katharopoulos et al., 2020, eq. 7)."""
    check_tensor("x", x, floating=True)
    return F.elu(x) + 1.0


def _check_same_batch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> None:
    if causal and q.shape[-2] != k.shape[-2]:
        raise ValueError(
            f"causal linear attention needs as many queries as keys: q has shape {tuple(q.shape)}, "
            f"k has shape {tuple(k.shape)}"
        )


def _check_args(q, k, v, causal, feature_map, eps):
    _check_qkv(q, k, v)
    check_flag("causal", causal)
    check_callable("feature_map", feature_map)
    check_number("eps", eps, low=0)
    _check_same_batch(q, k, v, causal)


def _features(q, k, v, causal, feature_map, eps, nonnegative=True):
    _check_args(q, k, v, causal, feature_map, eps)
    fq = _apply_feature_map(feature_map, "q", q, nonnegative)
    fk = _apply_feature_map(feature_map, "k", k, nonnegative)
    if fq.shape[-1] != fk.shape[-1]:
        raise ValueError(f"feature_map gives q {fq.shape[-1]} features but k {fk.shape[-1]}: they must agree")
    return fq, fk


def _apply_feature_map(feature_map, name: str, x: torch.Tensor, nonnegative: bool) -> torch.Tensor:
    """``feature_map(x)``: a tensor of x's dtype, device and shape but for the last dim (the features), with no
    negative (or NaN) entry when ``nonnegative``."""
    fx = feature_map(x)
    what = f"feature_map({name})"
    if not isinstance(fx, torch.Tensor):
        raise TypeError(f"{what} must return a torch.Tensor, got {type(fx).__name__}")
    if fx.shape[:-1] != x.shape[:-1] or fx.dim() != x.dim():
        raise ValueError(
            f"{what} has shape {tuple(fx.shape)}; it must keep {name}'s shape {tuple(x.shape)} but for the last dim"
        )
    if fx.dtype != x.dtype or fx.device != x.device:
        raise TypeError(f"{what} is {fx.dtype} on {fx.device}; it must keep {name}'s {x.dtype} on {x.device}")
    has_values = fx.numel() and fx.device.type != "meta"  # meta tensors (shape-only runs) hold no values
    if nonnegative and has_values and not bool((fx >= 0).all()):  # NaN fails too
        raise ValueError(
            f"{what} has negative (or NaN) entries, min {fx.min().item():.3g}: linear attention needs non-negative "
            f"features (its weights phi(q).phi(k) / sum must be >= 0), e.g. the default elu(x) + 1"
        )
    return fx


def _unnormalized(
    fq: torch.Tensor, fk: torch.Tensor, v: torch.Tensor, causal: bool, form: str = "parallel", chunk_size: int = 64
) -> torch.Tensor:
    r"""$\phi(q_i)^\top S$ with $S = \sum_j \phi(k_j) v_j^\top$ over all keys, or over $j \le i$ when causal:
    by the prefix sums of the outer products ((..., n, d, e) in memory) when ``form="parallel"``, chunk by chunk
    (:mod:`~minitorch_xf.nn.chunkwise`, O(n C + n d e / C) memory) when ``form="chunkwise"``.

    fq: (..., s, d), fk: (..., t, d), v: (..., t, e) -> (..., s, e).
    """
    if causal and form == "chunkwise":
        return _causal_product(fq, fk, v, chunk_size)  # (..., n, e)
    if causal:
        kv = torch.cumsum(fk[..., :, None] * v[..., None, :], dim=-3)  # (..., n, d, e): S_i for every i
        return (fq[..., None, :] @ kv).squeeze(-2)  # (..., n, e)
    return fq @ (fk.transpose(-2, -1) @ v)  # (..., s, e)


def _check_form(form: str, chunk_size: int) -> None:
    check_choice("form", form, FORMS)
    check_positive("chunk_size", chunk_size)


def linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    feature_map=elu_feature_map,
    eps: float = 1e-6,
    form: str = "chunkwise",
    chunk_size: int = 64,
) -> torch.Tensor:
    r"""$o_i = \phi(q_i)^\top S / (\phi(q_i)^\top z + \varepsilon)$ with sums over all keys ($j \le i$ if causal).

    Args:
        q: (..., s, d), k: (..., t, d), v: (..., t, e).
        causal: sums over keys $j \le i$ only (needs s == t).
        feature_map: $\phi$, applied to q and k; it must return non-negative features (checked), of q's and k's
            shape but for the last dim (the number of features, the same for both).
        eps: added to the denominator, >= 0.
        form: how the causal sums are taken (one of ``FORMS``; the same result): ``"chunkwise"`` (the default,
            :func:`~minitorch_xf.nn.chunkwise.causal_linear_chunkwise`: quadratic inside chunks of ``chunk_size``
            tokens, a d x e state between them) or ``"parallel"`` (the teaching form: every prefix sum $S_i$,
            O(n d e) memory). :func:`linear_attention_recurrent` is the third, one token at a time.
        chunk_size: tokens per chunk of the chunkwise form, > 0.
    Returns:
        (..., s, e). Time O(n d e); memory O((n + d) e) without a mask, when causal O(n d e) for the parallel
        form and O(n (C + d e / C)) for the chunkwise one.
    """
    if causal and form == "chunkwise" and feature_map is elu_feature_map:  # phi, sums and division in one Function
        _check_args(q, k, v, causal, feature_map, eps)
        _check_form(form, chunk_size)
        return _causal_linear(q, k, v, chunk_size, eps, elu=True, normalize=True)
    fq, fk = _features(q, k, v, causal, feature_map, eps)
    _check_form(form, chunk_size)
    if causal and form == "chunkwise":
        return _causal_linear(fq, fk, v, chunk_size, eps, normalize=True)
    num = _unnormalized(fq, fk, v, causal, form, chunk_size)  # (..., s, e)
    if causal:
        den = (fq * torch.cumsum(fk, dim=-2)).sum(-1, keepdim=True)  # (..., n, 1)
    else:
        den = fq @ fk.sum(-2)[..., :, None]  # (..., s, 1)
    return num / (den + eps)


def linear_attention_recurrent(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    feature_map=elu_feature_map,
    eps: float = 1e-6,
    state: tuple[torch.Tensor, torch.Tensor] | None = None,
    return_state: bool = False,
):
    r"""Recurrent form of causal linear attention: one token at a time with state $(S_i, z_i)$ of size d(e + 1).

    $S_i = S_{i-1} + \phi(k_i) v_i^\top$, $z_i = z_{i-1} + \phi(k_i)$, $o_i = \phi(q_i)^\top S_i/(\phi(q_i)^\top z_i
    + \varepsilon)$. q, k: (..., n, d), v: (..., n, e) -> (..., n, e). Memory O(d e) per sequence besides the output.

    ``state``: $(S, z)$ of shapes (..., d, e) and (..., d) to start from (default zeros, the empty prefix): the state
    returned for a prefix continues it exactly. ``return_state``: also return the final state, as ``(out, (S, z))``.
    """
    fq, fk = _features(q, k, v, True, feature_map, eps)
    check_flag("return_state", return_state)
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])  # checked by _features
    shape_s, shape_z = (*batch, fq.shape[-1], v.shape[-1]), (*batch, fq.shape[-1])
    if state is None:
        s_state, z = fq.new_zeros(shape_s), fq.new_zeros(shape_z)  # (..., d, e), (..., d)
    else:
        if not isinstance(state, tuple | list) or len(state) != 2:
            raise TypeError(f"state must be a pair (S, z) of tensors, got {type(state).__name__}")
        s_state, z = (
            check_tensor(name, x, floating=True) for name, x in zip(("state S", "state z"), state, strict=True)
        )
        if tuple(s_state.shape) != shape_s or tuple(z.shape) != shape_z:
            raise ValueError(
                f"state has shapes S {tuple(s_state.shape)}, z {tuple(z.shape)}; for q {tuple(q.shape)} and "
                f"v {tuple(v.shape)} they must be S {shape_s}, z {shape_z}"
            )
        check_same_dtype(q=q, state_S=s_state, state_z=z)
        check_same_device(q=q, state_S=s_state, state_z=z)
    outs = []
    for i in range(fq.shape[-2]):
        s_state = s_state + fk[..., i, :, None] * v[..., i, None, :]  # (..., d, e)
        z = z + fk[..., i, :]  # (..., d)
        num = (fq[..., i, None, :] @ s_state).squeeze(-2)  # (..., e)
        den = (fq[..., i, :] * z).sum(-1, keepdim=True)  # (..., 1)
        outs.append(num / (den + eps))
    out = torch.stack(outs, dim=-2)  # (..., n, e)
    return (out, (s_state, z)) if return_state else out


def norm_linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    feature_map=elu_feature_map,
    eps: float = 1e-6,
    form: str = "chunkwise",
    chunk_size: int = 64,
) -> torch.Tensor:
    r"""NormAttention without weights: $\mathrm{RMS}(\phi(Q)(\phi(K)^\top V))$, no denominator (Qin et al., 2022).

    The output of each query is divided by its root mean square over the e value dims (``eps`` inside the root).
    No denominator, so ``feature_map`` may return negative features here (it must keep all dims but the last).
    q: (..., s, d), k: (..., t, d), v: (..., t, e) -> (..., s, e). ``form``, ``chunk_size``: as in
    :func:`linear_attention`.
    """
    fq, fk = _features(q, k, v, causal, feature_map, eps, nonnegative=False)
    _check_form(form, chunk_size)
    out = _unnormalized(fq, fk, v, causal, form, chunk_size)  # (..., s, e)
    return out * torch.rsqrt(out.pow(2).mean(-1, keepdim=True) + eps)


class NormAttention(nn.Module):
    r"""Multi-head NormAttention (Qin et al., 2022): $\mathrm{RMSNorm}(\phi(Q)(\phi(K)^\top V))\,W_O$.

    Linear in the sequence length; its gradient stays bounded where a vanishing normalizer would blow it up.
    Args: d_model (divisible by n_heads), n_heads, causal.
    """

    def __init__(self, d_model: int, n_heads: int, causal: bool = False):
        super().__init__()
        check_divisible("d_model", d_model, "n_heads", n_heads)
        self.causal = check_flag("causal", causal)
        check_size(f"NormAttention(d_model={d_model})'s projections", 4 * d_model * d_model)
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.w_qkv = nn.Linear(d_model, 3 * d_model)
        self.norm = RMSNorm(d_model)
        self.w_o = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (b, n, m) -> (b, n, m)."""
        check_tensor("x", x, ndim=3, floating=True)
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x has shape {tuple(x.shape)}; its last dim must be d_model={self.d_model}")
        check_like_module("x", x, self)
        b, n, _ = x.shape
        q, k, v = self.w_qkv(x).view(b, n, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)  # 3 x (b, h, n, d)
        fq, fk = elu_feature_map(q), elu_feature_map(k)
        out = _unnormalized(fq, fk, v, self.causal, "chunkwise")  # (b, h, n, d)
        out = out.transpose(1, 2).reshape(b, n, self.d_model)  # (b, n, m): heads concatenated
        return self.w_o(self.norm(out))
