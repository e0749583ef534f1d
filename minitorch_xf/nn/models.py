r"""Whole models assembled from blocks: an encoder (bidirectional) and a decoder-only language model.

Shapes: b batch, n tokens, m model dim, V vocabulary, C output classes.

Both compute $h_0 = E[x] (+ P)$, $h_\ell = \mathrm{Block}_\ell(h_{\ell-1})$, logits $= \mathrm{LN}(h_L) W_{out}$
(the final norm only for pre-norm stacks, whose residual stream is otherwise never normalised).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import check_choice, check_positive, check_tensor
from .blocks import TransformerBlock, make_norm
from .positional import LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding

__all__ = ["POSITIONS", "Decoder", "Encoder", "TransformerStack", "count_parameters"]

POSITIONS = ("sinusoidal", "learned", "rope", "none")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class TransformerStack(nn.Module):
    """Token embedding + positions + ``n_layers`` blocks + output head. Subclasses fix causality."""

    causal = False

    def __init__(self, vocab_size: int, d_model: int = 64, n_heads: int = 4, n_layers: int = 2,
                 d_ff: int | None = None, max_len: int = 256, positions: str = "learned", norm: str = "layer",
                 norm_first: bool = True, activation: str = "gelu", n_out: int | None = None, dropout: float = 0.0):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("n_layers", n_layers), ("max_len", max_len)):
            check_positive(name, value)
        check_choice("positions", positions, POSITIONS)
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.vocab_size, self.max_len, self.positions = vocab_size, max_len, positions
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = {
            "sinusoidal": lambda: SinusoidalPositionalEncoding(d_model, max_len),
            "learned": lambda: LearnedPositionalEmbedding(d_model, max_len),
        }.get(positions, lambda: nn.Identity())()
        rope = RotaryEmbedding(d_model // n_heads) if positions == "rope" else None
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, d_ff, activation=activation, norm=norm, norm_first=norm_first,
                             dropout=dropout, rope=rope)
            for _ in range(n_layers)
        )
        self.norm_out = make_norm(norm, d_model) if norm_first else nn.Identity()
        self.head = nn.Linear(d_model, vocab_size if n_out is None else n_out)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None, return_weights: bool = False):
        """tokens: (b, n) int64 -> logits (b, n, V or C) [, list of per-layer weights (b, h, n, n)]."""
        check_tensor("tokens", tokens, ndim=2)
        if tokens.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"tokens must be an integer tensor (token ids), got dtype={tokens.dtype}")
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_len={self.max_len}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(
                f"token ids must lie in [0, vocab_size={self.vocab_size}), got min {tokens.min().item()} "
                f"and max {tokens.max().item()}"
            )
        h = self.pos(self.embed(tokens))  # (b, n, m)
        weights = []
        for block in self.blocks:
            h, w = block(h, mask=mask, causal=self.causal, return_weights=True)
            weights.append(w)
        logits = self.head(self.norm_out(h))  # (b, n, V)
        return (logits, weights) if return_weights else logits


class Encoder(TransformerStack):
    """Bidirectional encoder: every token sees every (unmasked) token; one output per position."""

    causal = False


class Decoder(TransformerStack):
    """Decoder-only language model: causal self-attention, next-token logits at every position."""

    causal = True

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, n_new: int) -> torch.Tensor:
        """Greedy decoding: append ``n_new`` argmax tokens to ``prompt`` (b, n) -> (b, n + n_new)."""
        check_positive("n_new", n_new)
        out = prompt
        for _ in range(n_new):
            logits = self(out[:, -self.max_len :])  # (b, n, V)
            out = torch.cat([out, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        return out
