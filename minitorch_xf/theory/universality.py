r"""Universal approximation and its limits (chapter 5): permutation equivariance, a width sweep, and the small
position-aware models of the Position Identification experiment.

Shape glossary: b batch, n tokens, d token dim, w model width (d_model), h heads.

Without positions a transformer $f$ is permutation-equivariant (Yun et al., 2020, sec. 2):
$$ f(XP) = f(X)P \quad\text{for every permutation matrix } P $$
(tokens as columns of $X$); here tokens are rows, so we compare ``f(x[:, perm])`` with ``f(x)[:, perm]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .._validate import (
    check_callable,
    check_divisible,
    check_generator,
    check_like_module,
    check_number,
    check_positive,
    check_same_device,
    check_size,
    check_tensor,
)
from ..nn.attention import MultiHeadAttention
from ..nn.ffn import FeedForward
from ..nn.relative import RelativeAttention
from .ode import fit_loglog_slope

__all__ = [
    "PositionClassifier",
    "RandomSeqMap",
    "SmallTransformer",
    "WidthSweep",
    "permutation_equivariance_gap",
    "width_sweep",
]


def permutation_equivariance_gap(fn, x: torch.Tensor, perm: torch.Tensor) -> float:
    r"""$\max \lvert f(x_{\pi}) - f(x)_{\pi} \rvert$ for x (b, n, d) and a permutation ``perm`` of the n tokens."""
    check_callable("fn", fn)
    check_tensor("x", x, ndim=3)
    check_tensor("perm", perm, ndim=1)
    check_same_device(x=x, perm=perm)
    n = x.shape[1]
    p = perm.detach().cpu()
    if p.is_floating_point() or p.numel() != n or not torch.equal(p.sort().values, torch.arange(n)):
        raise ValueError(f"perm={p.tolist()} is not a permutation of the n={n} token positions 0..{n - 1}")
    with torch.no_grad():
        out, out_perm = _check_fn_output("fn", fn, x), _check_fn_output("fn", fn, x[:, perm])
        return float((out_perm - out[:, perm]).abs().max())


def _check_fn_output(name: str, fn, x: torch.Tensor, like_input: bool = False) -> torch.Tensor:
    """``fn(x)`` is a tensor with x's first two dims (b, n), or x's whole shape when ``like_input``."""
    out = fn(x)
    want = tuple(x.shape) if like_input else tuple(x.shape[:2])
    got = tuple(out.shape) if isinstance(out, torch.Tensor) else None
    if got is None or (got != want if like_input else got[:2] != want):
        shown = got if got is not None else type(out).__name__
        raise ValueError(
            f"{name} must map x of shape {tuple(x.shape)} to a tensor of shape {want}"
            f"{'' if like_input else ' + (...)'}, got {shown}"
        )
    return out


class SmallTransformer(nn.Module):
    r"""Position-free encoder: $x \mapsto W_{out}\, \mathrm{Block}^{L}(W_{in} x)$, pre-norm blocks of width w.

    Each block is $z \leftarrow z + \mathrm{MHA}(\mathrm{LN}(z))$, $z \leftarrow z + \mathrm{FFN}(\mathrm{LN}(z))$
    with FFN width 4w (ReLU). Input (b, n, d_in), output (b, n, d_out).
    """

    def __init__(self, d_in: int, d_out: int, width: int, n_layers: int = 1, n_heads: int = 1):
        super().__init__()
        for name, v in (("d_in", d_in), ("d_out", d_out), ("width", width), ("n_layers", n_layers)):
            check_positive(name, v)
        check_divisible("width", width, "n_heads", n_heads)
        check_size(
            f"SmallTransformer(d_in={d_in}, d_out={d_out}, width={width})'s weights",
            max(d_in, d_out, 4 * width) * width,
        )
        self.inp, self.out = nn.Linear(d_in, width), nn.Linear(width, d_out)
        self.attn = nn.ModuleList(MultiHeadAttention(width, n_heads) for _ in range(n_layers))
        self.ffn = nn.ModuleList(FeedForward(width, 4 * width, activation="relu") for _ in range(n_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(2 * n_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=3, floating=True)
        if x.shape[-1] != self.inp.in_features or x.shape[1] == 0:
            raise ValueError(
                f"x has shape {tuple(x.shape)}; expected (b, n, d_in={self.inp.in_features}) with n >= 1 tokens"
            )
        check_like_module("x", x, self)
        z = self.inp(x)  # (b, n, w)
        for layer, (attn, ffn) in enumerate(zip(self.attn, self.ffn, strict=True)):
            z = z + attn(self.norms[2 * layer](z))
            z = z + ffn(self.norms[2 * layer + 1](z))
        return self.out(z)  # (b, n, d_out)


class RandomSeqMap(nn.Module):
    r"""A fixed random continuous, permutation-equivariant map $\mathbb R^{n\times d} \to \mathbb R^{n\times d}$:
    $$ f(X)_i = \tanh\!\Big(x_i A + \sum_j \mathrm{softmax}_j\big(x_i Q (x_j K)^\top\big)\, x_j V\Big) W, $$
    with Gaussian $A, Q, K, V$ (scaled by $1/\sqrt d$) and $W$ drawn from ``generator``. No parameter is trained.
    """

    def __init__(self, d: int, generator: torch.Generator | None = None):
        super().__init__()
        check_positive("d", d)
        check_generator("generator", generator)
        check_size(f"RandomSeqMap(d={d})'s matrices", 5 * d * d)
        mats = torch.randn(5, d, d, generator=generator) / d**0.5  # (5, d, d)
        mats[1:3] *= 2.0  # sharper attention, so the map is far from a token-wise one
        self.register_buffer("mats", mats)
        self.d = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=3, floating=True)
        if x.shape[-1] != self.d:
            raise ValueError(f"x has shape {tuple(x.shape)}; its last dim must be d={self.d}")
        a, q, k, v, w = self.mats.to(x.dtype)
        weights = torch.softmax((x @ q) @ (x @ k).transpose(1, 2), dim=-1)  # (b, n, n)
        return torch.tanh(x @ a + weights @ (x @ v)) @ w  # (b, n, d)


@dataclass
class WidthSweep:
    """Relative test errors (MSE / Var(target)) per width, and the least-squares slope of log error vs log width."""

    widths: list[int]
    errors: list[float]
    slope: float


def width_sweep(
    target,
    widths,
    d: int,
    n: int,
    steps: int = 300,
    batch: int = 64,
    lr: float | Callable[[int], float] = 3e-3,
    n_test: int = 512,
    generator: torch.Generator | None = None,
) -> WidthSweep:
    r"""Fit ``target`` (b, n, d) -> (b, n, d) with a :class:`SmallTransformer` of each width; report the test errors.

    Inputs are fresh $\mathcal N(0, I)$ batches at every Adam step (so the error measures approximation and
    optimisation, not overfitting), with the learning rate decayed to 0 on a cosine schedule; the error is
    $\lVert \hat f - f\rVert^2 / \lVert f - \bar f\rVert^2$ on a fixed test set. Model initialisations and data
    are drawn from ``generator``. ``lr`` is one peak learning rate, or a function ``width -> lr`` (wider models
    usually need a smaller one).
    """
    check_callable("target", target)
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
        raise TypeError(f"widths must be a sequence of ints, got {widths!r}")
    widths = list(widths)
    if len(widths) < 2:
        raise ValueError(f"widths={widths} must hold at least two widths to fit a trend")
    widths = [check_positive(f"widths[{i}]", w) for i, w in enumerate(widths)]
    for name, v in (("d", d), ("n", n), ("steps", steps), ("batch", batch), ("n_test", n_test)):
        check_positive(name, v)
    rates = {}
    for w in widths:
        rate = lr(w) if callable(lr) else lr
        check_number(f"lr at width {w}" if callable(lr) else "lr", rate, low=0, low_open=True)
        rates[w] = float(rate)
    check_generator("generator", generator)
    x_test = torch.randn(n_test, n, d, generator=generator)  # (n_test, n, d)
    with torch.no_grad():
        y_test = _check_fn_output("target", target, x_test, like_input=True)
    scale = float(((y_test - y_test.mean((0, 1))) ** 2).mean())
    if not scale > 0:
        raise ValueError("target is constant on the test inputs: the relative error MSE / Var(target) is undefined")
    errors = []
    for width in widths:
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        with torch.random.fork_rng():
            torch.manual_seed(seed)  # the model's initialisation comes from the sweep's generator
            model = SmallTransformer(d, d, width)
        opt = torch.optim.Adam(model.parameters(), lr=rates[width])
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)  # lr -> 0: no Adam noise floor at the end
        for _ in range(steps):
            x = torch.randn(batch, n, d, generator=generator)  # (batch, n, d)
            with torch.no_grad():
                y = target(x)
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
        with torch.no_grad():
            errors.append(float(((model(x_test) - y_test) ** 2).mean()) / scale)
    return WidthSweep(widths, errors, fit_loglog_slope(widths, errors))


class PositionClassifier(nn.Module):
    r"""Token embedding, L post-norm blocks of RPE (or URPE, ``universal=True``) attention + ReLU FFN, then a
    linear read-out to ``n_classes`` logits per position. No absolute position enters anywhere.

    Input tokens (b, n) long, n <= ``max_len``; output logits (b, n, n_classes).
    """

    def __init__(
        self, vocab: int, n_classes: int, d_model: int, n_heads: int, n_layers: int, max_len: int, universal: bool
    ):
        super().__init__()
        for name, v in (("vocab", vocab), ("n_classes", n_classes), ("n_layers", n_layers), ("max_len", max_len)):
            check_positive(name, v)
        check_divisible("d_model", d_model, "n_heads", n_heads)
        check_size(f"PositionClassifier(vocab={vocab}, d_model={d_model})'s embedding", vocab * d_model)
        self.max_len = max_len
        self.embed = nn.Embedding(vocab, d_model)
        self.attn = nn.ModuleList(RelativeAttention(d_model, n_heads, max_len, universal) for _ in range(n_layers))
        self.ffn = nn.ModuleList(FeedForward(d_model, 2 * d_model, activation="relu") for _ in range(n_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(2 * n_layers))
        self.head = nn.Linear(d_model, n_classes)
        self.vocab = vocab

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        check_tensor("tokens", tokens, ndim=2)
        if tokens.is_floating_point() or tokens.dtype == torch.bool:
            raise TypeError(f"tokens must be an integer tensor, got dtype={tokens.dtype}")
        check_same_device(tokens=tokens, parameters=self.head.weight)
        if not 1 <= tokens.shape[1] <= self.max_len:
            raise ValueError(
                f"tokens has shape {tuple(tokens.shape)}: n={tokens.shape[1]} must lie in [1, max_len={self.max_len}]"
            )
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab):
            raise ValueError(
                f"tokens must lie in [0, vocab={self.vocab}), got values in [{int(tokens.min())}, {int(tokens.max())}]"
            )
        z = self.embed(tokens)  # (b, n, m)
        for layer, (attn, ffn) in enumerate(zip(self.attn, self.ffn, strict=True)):
            z = self.norms[2 * layer](z + attn(z))
            z = self.norms[2 * layer + 1](z + ffn(z))
        return self.head(z)  # (b, n, n_classes)
