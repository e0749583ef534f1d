r"""The minimal transformer (Bermeitinger et al., 2024, "Reducing the Transformer Architecture to a Minimum").

Shape glossary: b batch, n tokens, m model dim, f input features per token, C classes.

Three reductions of a standard block: no MLP; the query and key matrices collapsed into one $W = W_Q W_K^\top$,
made symmetric so that every token is similar to itself in the same way ($x^\top W y = y^\top W x$); no value and
no output projection. What remains is
$$ X \leftarrow X + \mathrm{softmax}\!\big(\tilde X W \tilde X^\top/\sqrt m\big)\,\tilde X,\qquad
   \tilde X = \mathrm{LN}(X),\quad W = \tfrac12(A + A^\top), $$
one $m\times m$ matrix per layer instead of $4m^2$ (attention) $+\ 8m^2$ (a 4m-wide MLP).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validate import check_choice, check_flag, check_like_module, check_positive, check_size, check_tensor
from .attention import softmax
from .blocks import TransformerBlock
from .norms import LayerNorm

__all__ = ["BLOCKS", "MinimalAttention", "SequenceClassifier"]

BLOCKS = ("full", "minimal")


class MinimalAttention(nn.Module):
    r"""$\mathrm{softmax}(X W X^\top/\sqrt m)\,X$ with one matrix W (symmetric by default), no V and no O.

    Args: d_model m; symmetric: use $W = (A + A^\top)/2$ (else W = A).
    """

    def __init__(self, d_model: int, symmetric: bool = True):
        super().__init__()
        self.d_model = check_positive("d_model", d_model)
        self.symmetric = check_flag("symmetric", symmetric)
        check_size(f"MinimalAttention(d_model={d_model})'s matrix", d_model * d_model)
        self.a = nn.Parameter(torch.randn(d_model, d_model) / math.sqrt(d_model))

    @property
    def weight(self) -> torch.Tensor:
        """The similarity matrix W, (m, m)."""
        return 0.5 * (self.a + self.a.T) if self.symmetric else self.a

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        """x: (b, n, m) -> (b, n, m); ``causal`` lets token i see tokens j <= i only."""
        check_tensor("x", x, ndim=3, floating=True)
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x has shape {tuple(x.shape)}; its last dim must be d_model={self.d_model}")
        check_like_module("x", x, self)
        check_flag("causal", causal)
        scores = x @ self.weight @ x.transpose(-2, -1) / math.sqrt(self.d_model)  # (b, n, n)
        if causal:
            n = x.shape[-2]
            scores = scores.masked_fill(~torch.ones(n, n, dtype=torch.bool, device=x.device).tril(), float("-inf"))
        return softmax(scores, dim=-1) @ x  # (b, n, m): the tokens themselves are the values


class SequenceClassifier(nn.Module):
    """Tokens of f features -> linear embedding + learned positions -> ``n_layers`` blocks -> LN -> linear head.

    The head reads all n tokens (flattened, n m -> C): a mean over tokens would leave the minimal model, whose
    outputs are convex combinations of its inputs, almost linear.

    Args:
        n_features f, n_tokens n, n_classes C, d_model m, n_layers.
        block: ``"full"`` (pre-norm :class:`~minitorch_xf.nn.blocks.TransformerBlock`: multi-head attention with
            Q, K, V, O and a 4m-wide GELU MLP) or ``"minimal"`` (pre-norm :class:`MinimalAttention` residual, no MLP).
        n_heads: heads of the full block (ignored by the minimal one).
    """

    def __init__(
        self,
        n_features: int,
        n_tokens: int,
        n_classes: int,
        d_model: int = 32,
        n_layers: int = 2,
        block: str = "full",
        n_heads: int = 4,
    ):
        super().__init__()
        for name, value in (("n_features", n_features), ("n_tokens", n_tokens), ("n_classes", n_classes)):
            check_positive(name, value)
        check_positive("n_layers", n_layers)
        check_positive("d_model", d_model)
        check_positive("n_heads", n_heads)
        check_choice("block", block, BLOCKS)
        check_size(
            f"SequenceClassifier(n_tokens={n_tokens}, d_model={d_model}, n_classes={n_classes})'s head",
            n_tokens * d_model * n_classes,
        )
        check_size(f"SequenceClassifier(n_features={n_features}, d_model={d_model})'s embedding", n_features * d_model)
        self.n_features, self.n_tokens, self.block = n_features, n_tokens, block
        self.embed = nn.Linear(n_features, d_model)
        self.pos = nn.Parameter(0.02 * torch.randn(n_tokens, d_model))
        if block == "full":
            self.blocks = nn.ModuleList(TransformerBlock(d_model, n_heads) for _ in range(n_layers))
            self.norms = None
        else:
            self.blocks = nn.ModuleList(MinimalAttention(d_model) for _ in range(n_layers))
            self.norms = nn.ModuleList(LayerNorm(d_model) for _ in range(n_layers))
        self.norm_out = LayerNorm(d_model)
        self.head = nn.Linear(n_tokens * d_model, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (b, n, f) -> logits (b, C)."""
        check_tensor("x", x, ndim=3, floating=True)
        if tuple(x.shape[1:]) != (self.n_tokens, self.n_features):
            raise ValueError(
                f"x has shape {tuple(x.shape)}; expected (b, n_tokens={self.n_tokens}, n_features={self.n_features})"
            )
        check_like_module("x", x, self)
        h = self.embed(x) + self.pos  # (b, n, m)
        for i, blk in enumerate(self.blocks):
            h = blk(h) if self.norms is None else h + blk(self.norms[i](h))
        return self.head(self.norm_out(h).flatten(1))  # (b, n m) -> (b, C)
