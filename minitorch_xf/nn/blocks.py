r"""Residual blocks: the layer that a transformer repeats.

Shapes: x is (b, n, m).

Post-norm (Vaswani et al., 2017):  $x \leftarrow \mathrm{LN}(x + \mathrm{Attn}(x))$,
$x \leftarrow \mathrm{LN}(x + \mathrm{FFN}(x))$.

Pre-norm (Xiong et al., 2020):  $x \leftarrow x + \mathrm{Attn}(\mathrm{LN}(x))$,
$x \leftarrow x + \mathrm{FFN}(\mathrm{LN}(x))$ -- the residual stream is never normalised, which keeps
gradients well scaled at initialisation.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import check_choice, check_flag, check_number, check_positive
from .attention import MultiHeadAttention
from .ffn import FeedForward
from .norms import LayerNorm, RMSNorm

__all__ = ["NORMS", "MacaronBlock", "TransformerBlock", "make_norm"]

NORMS = ("layer", "rms")


def make_norm(kind: str, d_model: int) -> nn.Module:
    """A LayerNorm (``"layer"``) or RMSNorm (``"rms"``) of width d_model."""
    check_choice("norm", kind, NORMS)
    return LayerNorm(d_model) if kind == "layer" else RMSNorm(d_model)


class TransformerBlock(nn.Module):
    """One attention + FFN residual block, pre-norm (``norm_first=True``) or post-norm.

    Args:
        d_model, n_heads, d_ff: widths (d_ff defaults to 4 d_model).
        activation: ``"relu"``, ``"gelu"`` or ``"swiglu"``.
        norm: ``"layer"`` or ``"rms"``.
        norm_first: True for pre-norm, False for post-norm.
        dropout: probability in [0, 1].
        rope: optional RotaryEmbedding passed to the attention.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int | None = None,
        activation: str = "gelu",
        norm: str = "layer",
        norm_first: bool = True,
        dropout: float = 0.0,
        rope: nn.Module | None = None,
    ):
        super().__init__()
        self.norm_first = check_flag("norm_first", norm_first)
        self.attn = MultiHeadAttention(d_model, n_heads, rope=rope)
        self.ffn = FeedForward(d_model, d_ff, activation=activation)
        self.norm1, self.norm2 = make_norm(norm, d_model), make_norm(norm, d_model)
        self.dropout = nn.Dropout(check_number("dropout", dropout, low=0, high=1))

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, causal: bool = False, return_weights: bool = False
    ):
        """x: (b, n, m) -> (b, n, m) [, attention weights (b, h, n, n), computed only when asked]."""
        check_flag("return_weights", return_weights)
        if self.norm_first:
            a = self.attn(self.norm1(x), mask=mask, causal=causal, return_weights=return_weights)
            a, w = a if return_weights else (a, None)
            x = x + self.dropout(a)
            x = x + self.dropout(self.ffn(self.norm2(x)))
        else:
            a = self.attn(x, mask=mask, causal=causal, return_weights=return_weights)
            a, w = a if return_weights else (a, None)
            x = self.norm1(x + self.dropout(a))
            x = self.norm2(x + self.dropout(self.ffn(x)))
        return (x, w) if return_weights else x


class MacaronBlock(nn.Module):
    r"""Pre-norm Macaron layer (Lu et al., 2019): half-step FFN, attention, half-step FFN.

    $x \leftarrow x + \tfrac12 \mathrm{FFN}_1(\mathrm{LN}_1 x)$, $x \leftarrow x + \mathrm{Attn}(\mathrm{LN}_2 x)$,
    $x \leftarrow x + \tfrac12 \mathrm{FFN}_2(\mathrm{LN}_3 x)$: the Strang--Marchuk splitting with Euler
    sub-steps (see :mod:`minitorch_xf.theory.ode`). Each FFN has hidden width ``d_ff // 2`` so the weight
    matrices hold exactly as many scalars as a :class:`TransformerBlock` with the same ``d_ff``; the block has
    ``d_model`` more FFN output-bias entries and one more norm (2 ``d_model`` for LayerNorm, ``d_model`` for RMSNorm).

    Args:
        d_model, n_heads: widths; d_ff: the *standard* block's FFN width (default 4 d_model, must be even).
        activation, norm, dropout, rope: as in :class:`TransformerBlock`.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int | None = None,
        activation: str = "gelu",
        norm: str = "layer",
        dropout: float = 0.0,
        rope: nn.Module | None = None,
    ):
        super().__init__()
        check_positive("d_model", d_model)
        d_ff = 4 * d_model if d_ff is None else check_positive("d_ff", d_ff)
        if d_ff % 2:
            raise ValueError(f"d_ff={d_ff} must be even: each Macaron FFN has width d_ff // 2")
        self.attn = MultiHeadAttention(d_model, n_heads, rope=rope)
        self.ffn1 = FeedForward(d_model, d_ff // 2, activation=activation)
        self.ffn2 = FeedForward(d_model, d_ff // 2, activation=activation)
        self.norm1, self.norm2, self.norm3 = (make_norm(norm, d_model) for _ in range(3))
        self.dropout = nn.Dropout(check_number("dropout", dropout, low=0, high=1))

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, causal: bool = False, return_weights: bool = False
    ):
        """x: (b, n, m) -> (b, n, m) [, attention weights (b, h, n, n), computed only when asked]."""
        check_flag("return_weights", return_weights)
        x = x + 0.5 * self.dropout(self.ffn1(self.norm1(x)))  # G half-step
        a = self.attn(self.norm2(x), mask=mask, causal=causal, return_weights=return_weights)
        a, w = a if return_weights else (a, None)
        x = x + self.dropout(a)  # F full step
        x = x + 0.5 * self.dropout(self.ffn2(self.norm3(x)))  # G half-step
        return (x, w) if return_weights else x
