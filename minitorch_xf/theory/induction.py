r"""Chapter 14: a two-layer attention-only transformer that solves the induction-heads task, weights set by formula.

Layer 1 is a *previous-token head*: position $i$ attends, through one-hot positional codes, to position $i-1$ and
copies its token into a "previous token" slot of the residual stream. Layer 2 is the *induction head*: position $t$
compares its own token with every position's previous-token slot, breaks ties towards the most recent match with a
small positional bonus, and copies the token that sits at the matching position. The output is read from the slot
layer 2 writes. Chapter 14 proves it correct on every input for large enough inverse temperatures
$\beta_1, \beta_2$ (``default_betas``).

Shapes: b batch, n tokens, V vocabulary, D residual width ($D = 3V + n + 2$), ``...`` any batch dims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._validate import check_number, check_positive, check_tensor

__all__ = [
    "attention_only_forward",
    "causal_attention",
    "default_betas",
    "induction_head",
    "induction_weights",
    "previous_token_head",
    "two_layer_induction",
]


def default_betas(n: int) -> tuple[float, float]:
    r"""Inverse temperatures that satisfy chapter 14's proposition for sequences of length ``n``:
    $\beta_1 > \ln(4n^2)$ (layer 1 leaks at most $1/(4n)$ of its weight) and $\beta_2 > 4n\ln n$ (layer 2 puts more
    than half of its weight on the most recent match). Each has a margin of a few units."""
    n = check_positive("n", n)
    return math.log(4 * n * n) + 4.0, 4 * n * math.log(max(n, 2)) + 8.0


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    r"""$\mathrm{softmax}(QK^\top + M)V$ with the causal mask $M$ and no $1/\sqrt d$ scale (the weights carry it).

    ``q``, ``k`` (..., n, e), ``v`` (..., n, f) -> (..., n, f).
    """
    check_tensor("q", q, min_ndim=2, floating=True)
    check_tensor("k", k, min_ndim=2, floating=True)
    check_tensor("v", v, min_ndim=2, floating=True)
    if q.shape[-2:] != k.shape[-2:] or v.shape[-2] != q.shape[-2]:
        raise ValueError(
            f"q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} must share n, and q, k their width"
        )
    n = q.shape[-2]
    scores = q @ k.transpose(-2, -1)  # (..., n, n)
    future = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)  # (n, n): key after query
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)  # (..., n, n)
    return weights @ v  # (..., n, f)


def previous_token_head(onehot: torch.Tensor, beta: float) -> torch.Tensor:
    r"""Layer 1 on its own: causal attention with score $\beta\,[j = i-1]$ (positions $j \le i$), values the tokens.

    ``onehot`` (..., n, V) one-hot tokens -> (..., n, V): row $i \ge 1$ is close to the one-hot of $x_{i-1}$
    (at most $(n-1)e^{-\beta}$ of its weight elsewhere); row 0, which has no previous token, is $x_0$'s one-hot.
    """
    check_tensor("onehot", onehot, min_ndim=2, floating=True)
    beta = check_number("beta", beta, low=0)
    n = onehot.shape[-2]
    pos = torch.eye(n, dtype=onehot.dtype, device=onehot.device)  # (n, n): one-hot positions
    shift = torch.diag(torch.ones(max(n - 1, 0), dtype=onehot.dtype, device=onehot.device), -1)  # row i: e_{i-1}
    q = beta * (pos @ shift)  # (n, n): query of position i points at position i-1
    return causal_attention(q.expand(*onehot.shape[:-2], n, n), pos.expand(*onehot.shape[:-2], n, n), onehot)


def induction_head(onehot: torch.Tensor, prev: torch.Tensor, beta: float, gamma: float | None = None) -> torch.Tensor:
    r"""Layer 2 on its own: causal attention with score $\beta\,(\langle \mathrm{prev}_k, e_{x_t}\rangle + \gamma k)$
    from query $t$ to key $k \le t$, values the tokens $e_{x_k}$.

    ``onehot`` (..., n, V) the tokens, ``prev`` (..., n, V) the previous-token slot layer 1 wrote; ``gamma`` the
    recency bonus per position, default $1/(2n)$. Returns (..., n, V): row $t$ is mostly the token that followed the
    rightmost earlier occurrence of $x_t$.
    """
    check_tensor("onehot", onehot, min_ndim=2, floating=True)
    check_tensor("prev", prev, min_ndim=2, floating=True)
    if prev.shape != onehot.shape:
        raise ValueError(f"prev has shape {tuple(prev.shape)}; expected the shape of onehot, {tuple(onehot.shape)}")
    beta = check_number("beta", beta, low=0)
    n = onehot.shape[-2]
    gamma = 1.0 / (2 * n) if gamma is None else check_number("gamma", gamma, low=0)
    ones = torch.ones(*onehot.shape[:-1], 1, dtype=onehot.dtype, device=onehot.device)  # (..., n, 1)
    rank = gamma * torch.arange(n, dtype=onehot.dtype, device=onehot.device)  # (n,): recency gamma * k
    q = beta * torch.cat([onehot, ones], dim=-1)  # (..., n, V + 1)
    k = torch.cat([prev, rank.expand_as(ones[..., 0]).unsqueeze(-1)], dim=-1)  # (..., n, V + 1)
    return causal_attention(q, k, onehot)


@dataclass(frozen=True)
class InductionWeights:
    r"""A two-layer, one-head-per-layer, attention-only transformer on a residual stream of width $D = 3V + n + 2$.

    Residual layout: ``[token (V) | position one-hot (n) | recency gamma*i (1) | constant 1 (1) | previous token
    (V) | answer (V)]``. ``layers`` holds ``(W_Q, W_K, W_V)`` per layer, each (D, D) (the output projection is the
    identity); the logits are ``h @ unembed``.
    """

    vocab_size: int
    max_len: int
    token_embed: torch.Tensor  # (V, D)
    pos_embed: torch.Tensor  # (n, D)
    layers: tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], ...]
    unembed: torch.Tensor  # (D, V)


def induction_weights(
    vocab_size: int,
    max_len: int,
    beta1: float | None = None,
    beta2: float | None = None,
    dtype: torch.dtype = torch.float64,
) -> InductionWeights:
    """The weights of the two-layer induction transformer, set by formula (chapter 14, section 14.1)."""
    vocab_size = check_number("vocab_size", vocab_size, integer=True, low=1)
    n = check_positive("max_len", max_len)
    b1, b2 = default_betas(n)
    beta1 = b1 if beta1 is None else check_number("beta1", beta1, low=0)
    beta2 = b2 if beta2 is None else check_number("beta2", beta2, low=0)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    v = vocab_size
    tok, pos = slice(0, v), slice(v, v + n)
    rec, one = v + n, v + n + 1
    prev, ans = slice(v + n + 2, 2 * v + n + 2), slice(2 * v + n + 2, 3 * v + n + 2)
    d = 3 * v + n + 2
    eye_v, eye_n = torch.eye(v, dtype=dtype), torch.eye(n, dtype=dtype)

    token_embed = torch.zeros(v, d, dtype=dtype)
    token_embed[:, tok] = eye_v
    pos_embed = torch.zeros(n, d, dtype=dtype)
    pos_embed[:, pos] = eye_n
    pos_embed[:, rec] = torch.arange(n, dtype=dtype) / (2 * n)
    pos_embed[:, one] = 1.0

    # layer 1: the query of position i is beta1 * e_{i-1} in position space, the key of position j is e_j
    q1, k1, v1 = (torch.zeros(d, d, dtype=dtype) for _ in range(3))
    q1[pos, pos] = beta1 * torch.diag(torch.ones(n - 1, dtype=dtype), -1)  # e_i @ q1 = beta1 * e_{i-1}
    k1[pos, pos] = eye_n
    v1[tok, prev] = eye_v  # copy the token into the previous-token slot
    # layer 2: the query is beta2 * (token, 1), the key is (previous token, gamma * k); copy the token into the answer
    q2, k2, v2 = (torch.zeros(d, d, dtype=dtype) for _ in range(3))
    q2[tok, tok] = beta2 * eye_v
    q2[one, rec] = beta2
    k2[prev, tok] = eye_v
    k2[rec, rec] = 1.0
    v2[tok, ans] = eye_v
    unembed = torch.zeros(d, v, dtype=dtype)
    unembed[ans, :] = eye_v
    return InductionWeights(v, n, token_embed, pos_embed, ((q1, k1, v1), (q2, k2, v2)), unembed)


def attention_only_forward(weights: InductionWeights, tokens: torch.Tensor, return_residuals: bool = False):
    r"""$h_0 = E[x] + P$, $h_\ell = h_{\ell-1} + \mathrm{attn}_\ell(h_{\ell-1})$, logits $= h_L U$.

    ``tokens`` (b, n) or (n,) ids in ``[0, V)`` with $n \le$ ``max_len`` -> logits (b, n, V) (or (n, V)); with
    ``return_residuals`` also the list ``[h_0, h_1, h_2]``.
    """
    if not isinstance(weights, InductionWeights):
        raise TypeError(f"weights must be InductionWeights (from induction_weights), got {type(weights).__name__}")
    check_tensor("tokens", tokens, ndim=(1, 2))
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise TypeError(f"tokens must be integer token ids, got dtype={tokens.dtype}")
    n = tokens.shape[-1]
    if n > weights.max_len:
        raise ValueError(f"tokens has length {n} > max_len={weights.max_len} of these weights")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= weights.vocab_size):
        raise ValueError(
            f"token ids must lie in [0, vocab_size={weights.vocab_size}), got min {int(tokens.min())} and max "
            f"{int(tokens.max())}"
        )
    h = weights.token_embed[tokens] + weights.pos_embed[:n]  # (b, n, D)
    residuals = [h]
    for w_q, w_k, w_v in weights.layers:
        h = h + causal_attention(h @ w_q, h @ w_k, h @ w_v)  # (b, n, D)
        residuals.append(h)
    logits = h @ weights.unembed  # (b, n, V)
    return (logits, residuals) if return_residuals else logits


def two_layer_induction(
    tokens: torch.Tensor, vocab_size: int, beta1: float | None = None, beta2: float | None = None
) -> torch.Tensor:
    """Predicted induction answers (b, n) of the hand-built two-layer transformer (argmax of its logits).

    Positions whose token has not occurred before get an arbitrary prediction; the task scores only the others.
    """
    check_tensor("tokens", tokens, ndim=(1, 2))
    weights = induction_weights(vocab_size, max(tokens.shape[-1], 1), beta1, beta2)
    return attention_only_forward(weights, tokens).argmax(dim=-1)
