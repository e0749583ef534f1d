r"""Attention as a hypernetwork (chapter 11): head scores as a latent code, and HYLA.

Schug, Kobayashi, Akram, Sacramento & Pascanu (2025) rewrite multi-head attention (MHA) with heads
$h = 1..H$, scores $a_{hqk}$, value maps $W_V^h$ and output maps $W_O^h$ as

$$ \mathrm{MHA}_q(X) = \sum_{h=1}^H W_O^h \sum_{k=1}^T a_{hqk} W_V^h x_k
                    = \sum_{k=1}^T \Big(\underbrace{\textstyle\sum_{h=1}^H a_{hqk}\, W_O^h W_V^h}_{W_{qk}}\Big) x_k : $$

for each query-key pair the vector $z_{qk} = (a_{1qk}, \dots, a_{Hqk}) \in \mathbb{R}^H$ is a *latent code*, and
a linear hypernetwork maps it to the weights $W_{qk}$ of a linear *value network* applied to $x_k$.
HYLA (hypernetwork linear attention, their eq. 5) strengthens that hypernetwork in two ways:

* the scores are linear, $\tilde a_{hqk} = q_{hq}^\top k_{hk}/\sqrt{d}$, normalized by their RMS **across heads**,
  $a_{hqk} = \tilde a_{hqk} / \sqrt{\tfrac1H \sum_{h'} \tilde a_{h'qk}^2 + \epsilon}$;
* the value network gets a hidden layer with a ReLU, whose both layers the latent code configures:

$$ \mathrm{HYLA}_q(X) = \sum_{k=1}^T \Big(\sum_{h=1}^H a_{hqk} W_O^h\Big)\,
   \mathrm{ReLU}\Big(\sum_{h=1}^H a_{hqk} W_V^h x_k\Big). $$

``kind`` selects the scores and the value network: ``"softmax"`` (softmax over keys, linear value network: standard
MHA), ``"linear"`` (raw scores, linear value network: linear attention without a feature map) and ``"hyla"``.
Like the authors' code we use $\epsilon = 10^{-6}$ and no causal mask; unlike it, no biases in the projections (so
the rewriting above holds exactly) and learned absolute positions instead of relative ones in the small model.

Shape glossary: b batch, h heads, s queries, t keys, d head dim (queries/keys), e head value dim, m model dim.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validate import (
    check_choice,
    check_flag,
    check_like,
    check_like_module,
    check_number,
    check_positive,
    check_size,
    check_tensor,
)

__all__ = [
    "KINDS",
    "HypernetworkAttention",
    "HypernetworkTransformer",
    "head_scores",
    "hyla_values",
    "hypernetwork_weights",
    "rms_head_norm",
]

KINDS = ("softmax", "linear", "hyla")
EPS = 1e-6


def rms_head_norm(scores: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    r"""$a_{hqk} = \tilde a_{hqk} / \sqrt{\frac1H\sum_{h'} \tilde a_{h'qk}^2 + \epsilon}$ (Schug et al., 2025, eq. 5).

    ``scores`` (b, h, s, t) -> (b, h, s, t): each latent code $z_{qk}$ (the h-vector at fixed q, k) gets unit RMS.
    """
    check_tensor("scores", scores, ndim=4, floating=True)
    check_number("eps", eps, low=0, low_open=True)
    return scores * torch.rsqrt(scores.pow(2).mean(dim=1, keepdim=True) + eps)  # mean over heads: (b, 1, s, t)


def head_scores(q: torch.Tensor, k: torch.Tensor, kind: str) -> torch.Tensor:
    r"""The attention scores $a_{hqk}$ of one ``kind``: softmax over keys, linear, or linear RMS-normed over heads.

    ``q`` (b, h, s, d), ``k`` (b, h, t, d) -> (b, h, s, t); the raw score is $q_{hq}^\top k_{hk} / \sqrt d$.
    """
    check_choice("kind", kind, KINDS)
    check_tensor("q", q, ndim=4, floating=True)
    check_tensor("k", k, ndim=4, floating=True)
    check_like("k", k, "q", q)
    if q.shape[:2] != k.shape[:2] or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)} must agree in batch, heads and head dim")
    raw = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (b, h, s, t)
    if kind == "softmax":
        return raw.softmax(dim=-1)
    if kind == "linear":
        return raw
    return rms_head_norm(raw)


def hyla_values(a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    r"""The HYLA value network before $W_O$: $o_{hq} = \sum_k a_{hqk}\,\mathrm{ReLU}(\sum_{h'} a_{h'qk} v_{h'k})$.

    ``a`` (b, h, s, t) latent codes, ``v`` (b, h, t, e) per-head values $W_V^h x_k$ -> (b, h, s, e); then
    $\mathrm{HYLA}_q = \sum_h W_O^h o_{hq}$. Needs $H e$ = the value width of each head to be the same.
    """
    check_tensor("a", a, ndim=4, floating=True)
    check_tensor("v", v, ndim=4, floating=True)
    check_like("v", v, "a", a)
    if a.shape[:2] != v.shape[:2] or a.shape[-1] != v.shape[2]:
        raise ValueError(f"a {tuple(a.shape)} and v {tuple(v.shape)} must agree in batch, heads and keys")
    hidden = torch.einsum("bhst,bhte->bste", a, v).relu()  # (b, s, t, e): first layer of the value network
    return torch.einsum("bhst,bste->bhse", a, hidden)  # (b, h, s, e): second layer, before W_O


def hypernetwork_weights(a: torch.Tensor, w_v: torch.Tensor, w_o: torch.Tensor) -> torch.Tensor:
    r"""$W_{qk} = \sum_h a_{hqk} W_O^h W_V^h$: the weights the hypernetwork gives each query-key pair.

    ``a`` (b, h, s, t); ``w_v`` (h e, m) stacks the $W_V^h$ (e, m) by rows; ``w_o`` (m, h e) puts the $W_O^h$ (m, e)
    side by side (the layout of ``nn.Linear`` weights) -> (b, s, t, m, m), so $\mathrm{MHA}_q = \sum_k W_{qk} x_k$.
    """
    check_tensor("a", a, ndim=4, floating=True)
    check_tensor("w_v", w_v, ndim=2, floating=True)
    check_tensor("w_o", w_o, ndim=2, floating=True)
    check_like("w_v", w_v, "a", a)
    check_like("w_o", w_o, "a", a)
    h = a.shape[1]
    if w_v.shape[0] % h or w_o.shape != (w_v.shape[1], w_v.shape[0]):
        raise ValueError(
            f"w_v {tuple(w_v.shape)} must be (h*e, m) with h={h} and w_o {tuple(w_o.shape)} must be (m, h*e)"
        )
    e, m = w_v.shape[0] // h, w_v.shape[1]
    b, _, s, t = a.shape
    check_size(f"hypernetwork_weights of a {tuple(a.shape)} and m={m}: (b, s, t, m, m)", b * s * t * m * m)
    per_head = w_o.view(m, h, e).transpose(0, 1) @ w_v.view(h, e, m)  # (h, m, m): W_O^h W_V^h
    return torch.einsum("bhst,hmn->bstmn", a, per_head)  # (b, s, t, m, m)


class HypernetworkAttention(nn.Module):
    """Multi-head attention whose scores are a latent code: ``kind`` in ``("softmax", "linear", "hyla")``.

    ``forward(x)`` (b, n, m) -> (b, n, m); ``latent_code(x)`` -> (b, s, t, h), the code $z_{qk}$ of every pair.
    """

    def __init__(self, d_model: int, n_heads: int, d_head: int | None = None, kind: str = "hyla"):
        super().__init__()
        check_positive("d_model", d_model)
        check_positive("n_heads", n_heads)
        check_choice("kind", kind, KINDS)
        if d_head is None:
            if d_model % n_heads:
                raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}; pass d_head")
            d_head = d_model // n_heads
        check_positive("d_head", d_head)
        check_size(
            f"HypernetworkAttention(d_model={d_model}, n_heads={n_heads}, d_head={d_head})'s four maps",
            4 * d_model * n_heads * d_head,
        )
        self.d_model, self.n_heads, self.d_head, self.kind = d_model, n_heads, d_head, kind
        width = n_heads * d_head
        self.w_q = nn.Linear(d_model, width, bias=False)
        self.w_k = nn.Linear(d_model, width, bias=False)
        self.w_v = nn.Linear(d_model, width, bias=False)
        self.w_o = nn.Linear(width, d_model, bias=False)

    def _heads(self, y: torch.Tensor) -> torch.Tensor:
        b, n, _ = y.shape
        return y.view(b, n, self.n_heads, self.d_head).transpose(1, 2)  # (b, h, n, d)

    def _check(self, x) -> torch.Tensor:
        check_tensor("x", x, ndim=3, floating=True)
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x has last dim {x.shape[-1]} but the layer has d_model={self.d_model}")
        if x.shape[1] == 0:
            raise ValueError(f"x has shape {tuple(x.shape)}: attention needs at least one token")
        check_like_module("x", x, self)
        return x

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """The head scores $a_{hqk}$ of self-attention on ``x`` (b, n, m) -> (b, h, n, n)."""
        x = self._check(x)
        return head_scores(self._heads(self.w_q(x)), self._heads(self.w_k(x)), self.kind)

    def latent_code(self, x: torch.Tensor) -> torch.Tensor:
        """The latent code $z_{qk} = (a_{1qk}, \\dots, a_{Hqk})$ of every query-key pair: (b, n, m) -> (b, s, t, h)."""
        return self.scores(x).permute(0, 2, 3, 1)  # (b, s, t, h)

    def forward(self, x: torch.Tensor, return_scores: bool = False):
        check_flag("return_scores", return_scores)
        a = self.scores(x)  # (b, h, s, t)
        v = self._heads(self.w_v(x))  # (b, h, t, e)
        o = hyla_values(a, v) if self.kind == "hyla" else a @ v  # (b, h, s, e)
        b, _, s, _ = o.shape
        out = self.w_o(o.transpose(1, 2).reshape(b, s, -1))  # (b, s, m)
        return (out, a) if return_scores else out


class _Block(nn.Module):
    """Pre-LN block: $x + \\mathrm{Attn}(\\mathrm{LN}(x))$, then $x + \\mathrm{MLP}(\\mathrm{LN}(x))$ (GELU MLP)."""

    def __init__(self, d_model: int, n_heads: int, d_head: int | None, d_mlp: int, kind: str):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = HypernetworkAttention(d_model, n_heads, d_head, kind)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_mlp), nn.GELU(), nn.Linear(d_mlp, d_model))

    def forward(self, x: torch.Tensor):
        y, a = self.attn(self.norm1(x), return_scores=True)
        x = x + y
        return x + self.mlp(self.norm2(x)), a


class HypernetworkTransformer(nn.Module):
    """A small encoder for the chapter's tasks: linear embedding + learned positions, ``n_layers`` pre-LN blocks
    with attention of one ``kind``, a final LayerNorm and a linear read-out on every token.

    ``forward(x)`` (b, n, d_in) -> (b, n, d_out); with ``return_codes=True`` also the list of each layer's latent
    codes, each (b, s, t, h).
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        max_len: int,
        d_model: int = 32,
        n_heads: int = 4,
        n_layers: int = 2,
        kind: str = "hyla",
        d_head: int | None = None,
        d_mlp: int | None = None,
    ):
        super().__init__()
        for name, value in (("d_in", d_in), ("d_out", d_out), ("max_len", max_len), ("n_layers", n_layers)):
            check_positive(name, value)
        check_choice("kind", kind, KINDS)
        check_positive("d_model", d_model)
        check_positive("n_heads", n_heads)
        d_mlp = 2 * d_model if d_mlp is None else check_positive("d_mlp", d_mlp)
        check_size(f"HypernetworkTransformer(max_len={max_len}, d_model={d_model})'s positions", max_len * d_model)
        check_size(f"HypernetworkTransformer(d_in={d_in}, d_model={d_model})'s embedding", d_in * d_model)
        check_size(f"HypernetworkTransformer(d_model={d_model}, d_out={d_out})'s read-out", d_out * d_model)
        check_size(f"HypernetworkTransformer(d_model={d_model}, d_mlp={d_mlp})'s MLP", 2 * d_mlp * d_model)
        self.kind, self.max_len = kind, max_len
        self.embed = nn.Linear(d_in, d_model)
        self.pos = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, d_head, d_mlp, kind) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, d_out)

    def forward(self, x: torch.Tensor, return_codes: bool = False):
        check_tensor("x", x, ndim=3, floating=True)
        check_flag("return_codes", return_codes)
        if x.shape[-1] != self.embed.in_features:
            raise ValueError(f"x has last dim {x.shape[-1]} but the model has d_in={self.embed.in_features}")
        if not 1 <= x.shape[1] <= self.max_len:
            raise ValueError(f"x has n={x.shape[1]} tokens; the model takes 1 to max_len={self.max_len}")
        check_like_module("x", x, self)
        h = self.embed(x) + self.pos[: x.shape[1]]  # (b, n, m)
        codes = []
        for block in self.blocks:
            h, a = block(h)
            codes.append(a.permute(0, 2, 3, 1))  # (b, s, t, h)
        out = self.head(self.norm(h))  # (b, n, d_out)
        return (out, codes) if return_codes else out
