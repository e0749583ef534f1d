r"""Whole models assembled from blocks: an encoder (bidirectional) and a decoder-only language model.

Shapes: b batch, n tokens, m model dim, V vocabulary, C output classes.

Both compute $h_0 = E[x] (+ P)$, $h_\ell = \mathrm{Block}_\ell(h_{\ell-1})$, logits $= \mathrm{LN}(h_L) W_{out}$
(the final norm only for pre-norm stacks, whose residual stream is otherwise never normalised).
"""

from __future__ import annotations

import torch
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
from .blocks import TransformerBlock, make_norm
from .positional import LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding

__all__ = ["POSITIONS", "Decoder", "Encoder", "LoRALinear", "LoopedTransformer", "TransformerStack", "count_parameters"]

POSITIONS = ("sinusoidal", "learned", "rope", "none")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class TransformerStack(nn.Module):
    """Token embedding + positions + ``n_layers`` blocks + output head. Subclasses fix causality.

    Args:
        vocab_size: V token ids 0..V-1.  d_model, n_heads, d_ff: widths (d_model divisible by n_heads).
        n_layers: number of :class:`~minitorch_xf.nn.blocks.TransformerBlock`.  max_len: longest sequence.
        positions: one of ``POSITIONS``; ``"rope"`` needs an even head dim d_model / n_heads.
        norm, norm_first, activation, dropout: as in the block.  n_out: output classes C (default V).
    """

    causal = False

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        d_ff: int | None = None,
        max_len: int = 256,
        positions: str = "learned",
        norm: str = "layer",
        norm_first: bool = True,
        activation: str = "gelu",
        n_out: int | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("n_layers", n_layers), ("max_len", max_len)):
            check_positive(name, value)
        check_divisible("d_model", d_model, "n_heads", n_heads)
        check_choice("positions", positions, POSITIONS)
        if n_out is not None:
            check_positive("n_out", n_out)
        name = type(self).__name__
        check_size(f"{name}(vocab_size={vocab_size}, d_model={d_model})'s embedding", vocab_size * d_model)
        check_size(f"{name}(max_len={max_len}, d_model={d_model})'s positions", max_len * d_model)
        n_head_out = vocab_size if n_out is None else n_out
        check_size(f"{name}(n_out={n_head_out}, d_model={d_model})'s head", n_head_out * d_model)
        if positions == "rope" and (d_model // n_heads) % 2:
            raise ValueError(f"positions='rope' needs an even head dim, got d_model / n_heads = {d_model // n_heads}")
        self.vocab_size, self.max_len, self.positions = vocab_size, max_len, positions
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = {
            "sinusoidal": lambda: SinusoidalPositionalEncoding(d_model, max_len),
            "learned": lambda: LearnedPositionalEmbedding(d_model, max_len),
        }.get(positions, lambda: nn.Identity())()
        rope = RotaryEmbedding(d_model // n_heads) if positions == "rope" else None
        self.blocks = nn.ModuleList(
            TransformerBlock(
                d_model,
                n_heads,
                d_ff,
                activation=activation,
                norm=norm,
                norm_first=norm_first,
                dropout=dropout,
                rope=rope,
            )
            for _ in range(n_layers)
        )
        self.norm_out = make_norm(norm, d_model) if norm_first else nn.Identity()
        self.head = nn.Linear(d_model, vocab_size if n_out is None else n_out)

    def _check_tokens(self, name: str, tokens: torch.Tensor) -> None:
        check_tensor(name, tokens, ndim=2)
        if tokens.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"{name} must be an int64 or int32 tensor of token ids, got dtype={tokens.dtype}")
        if tokens.shape[1] == 0:
            raise ValueError(f"{name} has shape {tuple(tokens.shape)}: it needs at least one token per sequence")
        check_same_device(**{name: tokens, "parameters": self.embed.weight})

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None, return_weights: bool = False):
        """tokens: (b, n) int64 -> logits (b, n, V or C) [, list of per-layer weights (b, h, n, n)].

        ``mask``: bool (b, h, n, n) with 1 where shared, e.g. (b, 1, 1, n) for key padding. The attention
        weights are computed and kept only when ``return_weights=True``.
        """
        self._check_tokens("tokens", tokens)
        check_flag("return_weights", return_weights)
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
            if return_weights:
                h, w = block(h, mask=mask, causal=self.causal, return_weights=True)
                weights.append(w)
            else:
                h = block(h, mask=mask, causal=self.causal)
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
        """Greedy decoding: append ``n_new`` argmax tokens to ``prompt`` (b, n) -> (b, n + n_new).

        Past ``max_len`` tokens the model sees a sliding window of the last ``max_len``.
        """
        self._check_tokens("prompt", prompt)
        check_positive("n_new", n_new)
        b, n = prompt.shape
        check_size(f"generate of {b} prompts of {n} tokens and n_new={n_new}", b * (n + n_new))
        out = prompt
        for _ in range(n_new):
            logits = self(out[:, -self.max_len :])  # (b, n, V)
            out = torch.cat([out, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        return out


class LoRALinear(nn.Module):
    r"""One low-rank adapter per loop on a shared linear: $y = xW^\top + b + \frac{\alpha}{r} x A_t^\top B_t^\top$.

    LoRA (Hu et al., 2022) with one $(A_t, B_t)$ pair per loop iteration $t$: the layer-wise relaxation of a
    recursive transformer (Bae et al., 2024). $A_t$ is (r, in), $B_t$ is (out, r) and starts at zero, so the
    adapted model starts out as the fully shared one. Set ``active`` to the loop index before calling; loops past
    the last adapter reuse the last one. ``alpha`` (default r) is a finite number > 0: at 0 the adapters would
    do nothing and never learn.
    """

    def __init__(self, base: nn.Linear, rank: int, n_adapters: int, alpha: float | None = None):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"base must be an nn.Linear, got {type(base).__name__}")
        check_positive("rank", rank)
        check_positive("n_adapters", n_adapters)
        check_size(
            f"LoRALinear(rank={rank}, n_adapters={n_adapters})'s adapters of a {base.in_features} -> "
            f"{base.out_features} layer",
            n_adapters * rank * (base.in_features + base.out_features),
        )
        self.base, self.rank, self.n_adapters = base, rank, n_adapters
        alpha = float(rank) if alpha is None else check_number("alpha", alpha, low=0, low_open=True)
        self.scaling = alpha / rank
        fan_in, fan_out = base.in_features, base.out_features
        self.lora_a = nn.Parameter(torch.randn(n_adapters, rank, fan_in) / fan_in**0.5)  # (T, r, in)
        self.lora_b = nn.Parameter(torch.zeros(n_adapters, fan_out, rank))  # (T, out, r)
        self.active = 0

    @property
    def weight(self) -> torch.Tensor:
        """The shared weight W (out, in), without any adapter."""
        return self.base.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in) -> (..., out) with adapter ``min(active, n_adapters - 1)``."""
        check_tensor("x", x, min_ndim=1, floating=True)
        if x.shape[-1] != self.base.in_features:
            raise ValueError(f"x has shape {tuple(x.shape)}; its last dim must be in_features={self.base.in_features}")
        check_like_module("x", x, self)
        active = check_positive("active", self.active, allow_zero=True)
        t = min(active, self.n_adapters - 1)
        low = (x @ self.lora_a[t].T) @ self.lora_b[t].T  # (..., r) then (..., out)
        return self.base(x) + self.scaling * low


class LoopedTransformer(nn.Module):
    r"""A weight-shared block applied in a loop, with input injection (Yang et al., 2024, eq. 2):

    $$ P = E x + \mathrm{pos},\quad Y_0 = 0,\quad Y_{t+1} = M_\theta(Y_t + P),\quad \hat y = W_{out}\mathrm{LN}(Y_T). $$

    $M_\theta$ is a stack of ``n_layers`` pre-norm blocks whose weights are shared by all ``n_loops`` iterations,
    so the parameter count does not depend on ``n_loops``. ``n_layers=L, n_loops=1`` is an ordinary unshared
    L-layer transformer. ``input_injection=False`` gives the plain loop $Y_0 = P$, $Y_{t+1} = M_\theta(Y_t)$.
    ``lora_rank=r > 0`` wraps every linear layer of $M_\theta$ in a :class:`LoRALinear` with one adapter per
    loop (a relaxed recursive transformer, Bae et al., 2024); then parameters grow with ``n_loops``.

    Shapes: b batch, n positions, d_in input dim, m model dim, T loops. Reads vectors (b, n, d_in), not tokens.
    """

    def __init__(
        self,
        d_in: int,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 1,
        n_loops: int = 3,
        d_ff: int | None = None,
        d_out: int = 1,
        max_len: int = 256,
        norm: str = "layer",
        activation: str = "gelu",
        causal: bool = True,
        input_injection: bool = True,
        lora_rank: int = 0,
        lora_alpha: float | None = None,
    ):
        super().__init__()
        for name, value in (
            ("d_in", d_in),
            ("d_model", d_model),
            ("n_layers", n_layers),
            ("n_loops", n_loops),
            ("d_out", d_out),
            ("max_len", max_len),
        ):
            check_positive(name, value)
        check_positive("lora_rank", lora_rank, allow_zero=True)
        check_divisible("d_model", d_model, "n_heads", n_heads)
        check_flag("causal", causal)
        check_flag("input_injection", input_injection)
        if lora_alpha is not None:
            check_number("lora_alpha", lora_alpha, low=0, low_open=True)
        self.d_in, self.n_loops, self.causal, self.input_injection = d_in, n_loops, causal, input_injection
        self.read_in = nn.Linear(d_in, d_model)
        self.pos = LearnedPositionalEmbedding(d_model, max_len)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, d_ff, activation=activation, norm=norm) for _ in range(n_layers)
        )
        self.norm_out = make_norm(norm, d_model)
        self.head = nn.Linear(d_model, d_out)
        self.lora_layers: list[LoRALinear] = []  # created last: the shared weights initialise as without LoRA
        if lora_rank > 0:
            for block in self.blocks:
                for parent in list(block.modules()):
                    for child_name, child in list(parent.named_children()):
                        if isinstance(child, nn.Linear):
                            lora = LoRALinear(child, lora_rank, n_loops, lora_alpha)
                            setattr(parent, child_name, lora)
                            self.lora_layers.append(lora)

    def forward(self, x: torch.Tensor, n_loops: int | None = None, return_all: bool = False) -> torch.Tensor:
        """x: (b, n, d_in) -> (b, n, d_out), or every loop's output (T, b, n, d_out) with ``return_all``."""
        n_loops = self.n_loops if n_loops is None else n_loops
        check_positive("n_loops", n_loops)
        check_tensor("x", x, ndim=3, floating=True)
        if x.shape[-1] != self.d_in:
            raise ValueError(f"x has shape {tuple(x.shape)}; its last dim must be d_in={self.d_in}")
        if x.shape[1] == 0:
            raise ValueError(f"x has shape {tuple(x.shape)}: it needs at least one position")
        check_like_module("x", x, self)
        check_flag("return_all", return_all)
        p = self.pos(self.read_in(x))  # (b, n, m): the injected input P
        h = torch.zeros_like(p) if self.input_injection else p
        outputs = []
        for t in range(n_loops):
            for lora in self.lora_layers:
                lora.active = t
            h = h + p if self.input_injection else h  # Y_t + P
            for block in self.blocks:
                h = block(h, causal=self.causal)  # (b, n, m)
            if return_all or t == n_loops - 1:
                outputs.append(self.head(self.norm_out(h)))  # (b, n, d_out)
        return torch.stack(outputs) if return_all else outputs[-1]
