r"""MatFormer: a feed-forward block whose smaller versions are prefixes of it (Devvrit et al., 2023; chapter 14).

Shapes: x is (..., m) with m the model dim; f the full hidden width; $m_1 < \dots < m_g = f$ the granularities.

The FFN of width $k$ uses the first $k$ hidden units of one shared pair of matrices,

$$ T_k(x) = \phi\big(x W_1[{:}k]^\top + b_1[{:}k]\big)\, W_2[:, {:}k]^\top + b_2 , $$

so $T_{m_1}, \dots, T_{m_g}$ are nested: each is the next one with its last units removed. Training sums the losses
of the model at every granularity, so every prefix learns to work on its own. Any choice of one width per layer
(*Mix'n'Match*) is then a model too, and :func:`extract` cuts it out as an ordinary ``Decoder``/``Encoder`` with
plain :class:`~minitorch_xf.nn.ffn.FeedForward` layers whose weights are the prefixes.
"""

from __future__ import annotations

import copy
import itertools
import numbers
from collections.abc import Sequence

import torch
from torch import nn

from .._validate import check_choice, check_flag, check_like_module, check_positive, check_tensor
from .ffn import FeedForward

__all__ = ["MatFormerFFN", "extract", "matformer_loss", "matformerize", "set_widths"]

ACTIVATIONS = ("relu", "gelu")


def _check_granularities(granularities, d_ff: int) -> tuple[int, ...]:
    if isinstance(granularities, (str, bytes)) or not isinstance(granularities, Sequence) or not granularities:
        raise TypeError(f"granularities must be a non-empty sequence of ints, got {granularities!r}")
    out = tuple(check_positive(f"granularities[{i}]", k) for i, k in enumerate(granularities))
    if any(a >= b for a, b in itertools.pairwise(out)):
        raise ValueError(f"granularities={list(out)} must be strictly increasing")
    if out[-1] != d_ff:
        raise ValueError(f"granularities={list(out)} must end with the full width d_ff={d_ff}")
    return out


class MatFormerFFN(nn.Module):
    r"""A ReLU/GELU FFN of width ``d_ff`` whose prefixes of widths ``granularities`` are FFNs too.

    ``width`` (one of the granularities; the full ``d_ff`` by default) is the prefix the forward pass uses. The
    parameters are those of a :class:`~minitorch_xf.nn.ffn.FeedForward` (``w1``: f x m, ``w2``: m x f, with biases)
    and start as its initialisation.
    """

    def __init__(self, d_model: int, d_ff: int, granularities: Sequence[int] | None = None, activation: str = "relu"):
        super().__init__()
        check_positive("d_model", d_model)
        check_positive("d_ff", d_ff)
        check_choice("activation", activation, ACTIVATIONS)
        self.granularities = _check_granularities(
            granularities
            if granularities is not None
            else sorted({max(1, d_ff // 8), max(1, d_ff // 4), max(1, d_ff // 2), d_ff}),
            d_ff,
        )
        self.d_model, self.d_ff, self.activation = d_model, d_ff, activation
        self.w1 = nn.Linear(d_model, d_ff)
        self.w2 = nn.Linear(d_ff, d_model)
        self._width = d_ff
        self._groups: tuple[int, ...] | None = None  # set by matformer_loss(fused=True) for one pass

    @property
    def width(self) -> int:
        """The active granularity (hidden units used by the forward pass)."""
        return self._width

    @width.setter
    def width(self, k) -> None:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or int(k) not in self.granularities:
            raise ValueError(f"width={k!r} is not one of this layer's granularities {list(self.granularities)}")
        self._width = int(k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., m) -> (..., m) through the first ``width`` hidden units."""
        check_tensor("x", x, min_ndim=1, floating=True)
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x has shape {tuple(x.shape)}; its last dim must be d_model={self.d_model}")
        check_like_module("x", x, self)
        if self._groups is not None:
            return self._grouped(x)
        k = self._width
        h = nn.functional.linear(x, self.w1.weight[:k], self.w1.bias[:k])  # (..., k)
        h = torch.relu(h) if self.activation == "relu" else nn.functional.gelu(h)
        return nn.functional.linear(h, self.w2.weight[:, :k], self.w2.bias)  # (..., m)

    def _grouped(self, x: torch.Tensor) -> torch.Tensor:
        """The batch (first dim) split into len(groups) equal parts, part i through the first groups[i] units: all the
        widths of the joint loss in one pass (a masked unit adds nothing and gets no gradient, as if sliced off)."""
        groups = self._groups
        if x.dim() < 2 or x.shape[0] % len(groups):
            raise ValueError(f"x has shape {tuple(x.shape)}: its first dim must split into {len(groups)} equal groups")
        h = nn.functional.linear(x, self.w1.weight, self.w1.bias)  # (B, ..., f)
        h = torch.relu(h) if self.activation == "relu" else nn.functional.gelu(h)
        units = torch.arange(self.d_ff, device=x.device)
        keep = units < torch.tensor(groups, device=x.device)[:, None]  # (G, f)
        h = h.view(len(groups), -1, *h.shape[1:]) * keep.view(len(groups), 1, *[1] * (h.dim() - 2), -1).to(h.dtype)
        return nn.functional.linear(h.flatten(0, 1), self.w2.weight, self.w2.bias)  # (B, ..., m)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, d_ff={self.d_ff}, granularities={list(self.granularities)}, width={self.width}"


def _blocks(model: nn.Module) -> nn.ModuleList:
    blocks = getattr(model, "blocks", None)
    if not isinstance(model, nn.Module) or not isinstance(blocks, nn.ModuleList) or len(blocks) == 0:
        raise TypeError(
            f"model must be a stack of blocks with an .ffn each (an Encoder or Decoder of minitorch_xf.nn), got "
            f"{type(model).__name__}"
        )
    return blocks


def matformerize(model: nn.Module, granularities: Sequence[int] | None = None) -> nn.Module:
    """Replace every block's :class:`FeedForward` by a :class:`MatFormerFFN` with the same weights, in place.

    ``granularities`` (default: f/8, f/4, f/2, f) are shared by all layers. Returns ``model``.
    """
    blocks = _blocks(model)
    for i, block in enumerate(blocks):
        ffn = getattr(block, "ffn", None)
        if not isinstance(ffn, FeedForward):
            raise TypeError(f"block {i} has no FeedForward .ffn to nest (got {type(ffn).__name__})")
        if ffn.activation not in ACTIVATIONS or ffn.w1.bias is None:
            raise ValueError(
                f"block {i}'s FFN (activation={ffn.activation!r}, bias) must be a relu or gelu FFN with biases"
            )
        nested = MatFormerFFN(ffn.d_model, ffn.d_ff, granularities, ffn.activation)
        nested.load_state_dict({k: v for k, v in ffn.state_dict().items() if k.startswith(("w1.", "w2."))})
        block.ffn = nested.to(ffn.w1.weight)
    return model


def _nested(model: nn.Module) -> list[MatFormerFFN]:
    blocks = _blocks(model)
    ffns = [getattr(block, "ffn", None) for block in blocks]
    if not all(isinstance(f, MatFormerFFN) for f in ffns):
        raise TypeError("model has a block whose .ffn is not a MatFormerFFN: call matformerize(model) first")
    return ffns


def set_widths(model: nn.Module, widths) -> list[int]:
    """Set the active width of every MatFormer layer: one int for all, or one per layer (Mix'n'Match)."""
    ffns = _nested(model)
    per_layer = (
        [widths] * len(ffns) if isinstance(widths, numbers.Integral) and not isinstance(widths, bool) else widths
    )
    if isinstance(per_layer, (str, bytes)) or not isinstance(per_layer, Sequence):
        raise TypeError(f"widths must be an int or a sequence of ints (one per layer), got {widths!r}")
    if len(per_layer) != len(ffns):
        raise ValueError(f"widths={list(per_layer)} has {len(per_layer)} entries for a model of {len(ffns)} layers")
    for ffn, k in zip(ffns, per_layer, strict=True):
        ffn.width = k
    return [ffn.width for ffn in ffns]


def extract(model: nn.Module, widths) -> nn.Module:
    """The sub-model of the given widths as an ordinary model: a copy whose FFNs are plain :class:`FeedForward`
    layers of those widths, with the prefixes of the MatFormer weights (nothing is retrained). ``model`` is not changed.
    """
    ffns = _nested(model)
    before = [f.width for f in ffns]
    chosen = set_widths(model, widths)
    set_widths(model, before)
    sub = copy.deepcopy(model)
    for block, k in zip(sub.blocks, chosen, strict=True):
        big = block.ffn
        plain = FeedForward(big.d_model, k, activation=big.activation).to(big.w1.weight)
        with torch.no_grad():
            plain.w1.weight.copy_(big.w1.weight[:k])
            plain.w1.bias.copy_(big.w1.bias[:k])
            plain.w2.weight.copy_(big.w2.weight[:, :k])
            plain.w2.bias.copy_(big.w2.bias)
        block.ffn = plain
    return sub


def matformer_loss(model: nn.Module, batch, widths: Sequence, loss_fn, fused: bool = False) -> torch.Tensor:
    r"""The joint MatFormer objective $\sum_i \mathcal L(M_{w_i})$: ``loss_fn(model, batch)`` summed over the width
    settings in ``widths`` (each an int or a per-layer list), the model left at its full width afterwards.

    ``fused=True`` computes the same sum in one forward pass: ``batch`` (a tensor or a tuple of tensors, batch first)
    is repeated once per setting, each copy goes through its own widths (masked units, see ``MatFormerFFN``), and
    the loss of the whole is multiplied by the number of settings. That equals the sum when ``loss_fn`` is a mean
    over equally weighted examples (cross-entropy with the same targets in every copy); a test checks it.
    """
    ffns = _nested(model)
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or len(widths) == 0:
        raise TypeError(f"widths must be a non-empty list of width settings, got {widths!r}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    check_flag("fused", fused)
    total = None
    try:
        settings = [set_widths(model, w) for w in widths]  # validates every setting first
        if fused:
            for layer, ffn in enumerate(ffns):
                ffn._width = ffn.d_ff
                ffn._groups = tuple(s[layer] for s in settings)
            parts = batch if isinstance(batch, (tuple, list)) else (batch,)
            if not all(isinstance(p, torch.Tensor) for p in parts):
                raise TypeError("fused=True needs a batch of tensors (or one tensor), batch dimension first")
            repeated = [p.repeat(len(settings), *[1] * (p.dim() - 1)) for p in parts]
            return loss_fn(model, type(batch)(repeated) if isinstance(batch, (tuple, list)) else repeated[0]) * len(
                settings
            )
        for s in settings:
            set_widths(model, s)
            loss = loss_fn(model, batch)
            total = loss if total is None else total + loss
    finally:
        for f in ffns:
            f._width, f._groups = f.d_ff, None
    return total
