r"""Normalisation layers from scratch.

Shapes: x is (..., m); statistics are taken over the last dim m.

LayerNorm (Ba et al., 2016):  $\mathrm{LN}(x) = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta$,
with $\mu = \frac1m\sum_i x_i$ and the *biased* variance $\sigma^2 = \frac1m\sum_i (x_i-\mu)^2$.

RMSNorm (Zhang & Sennrich, 2019):  $\mathrm{RMS}(x) = \gamma \odot x / \sqrt{\frac1m \sum_i x_i^2 + \epsilon}$.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import (
    check_flag,
    check_like,
    check_like_module,
    check_number,
    check_positive,
    check_size,
    check_tensor,
)

__all__ = ["LayerNorm", "RMSNorm", "layer_norm", "rms_norm"]


def _check_last_dim(x: torch.Tensor, d: int) -> None:
    check_tensor("x", x, min_ndim=1, floating=True)
    if x.shape[-1] != d:
        raise ValueError(f"x has shape {tuple(x.shape)}; its last dim must be {d}")


def _check_eps(eps) -> float:
    """eps >= 0 and finite: a negative eps can make the variance term negative (NaN), eps = 0 is exact."""
    return check_number("eps", eps, low=0)


def _check_affine(name: str, p, x: torch.Tensor) -> None:
    if p is None:
        return
    check_tensor(name, p, floating=True)
    if tuple(p.shape) != (x.shape[-1],):
        raise ValueError(f"{name} has shape {tuple(p.shape)}; it must be (m,) = ({x.shape[-1]},) to match x")
    check_like(name, p, "x", x)  # a float64 weight would silently promote a float32 x


def layer_norm(
    x: torch.Tensor, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None, eps: float = 1e-5
) -> torch.Tensor:
    """LayerNorm over the last dim of x (..., m); weight and bias are (m,) or None; eps >= 0.

    With ``eps=0`` a constant row divides by zero (NaN), as the formula says.
    """
    check_tensor("x", x, min_ndim=1, floating=True)
    _check_affine("weight", weight, x)
    _check_affine("bias", bias, x)
    eps = _check_eps(eps)
    mu = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)  # (..., 1), biased as in the paper and in torch
    y = (x - mu) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last dim of x (..., m); weight is (m,) or None; eps >= 0."""
    check_tensor("x", x, min_ndim=1, floating=True)
    _check_affine("weight", weight, x)
    eps = _check_eps(eps)
    y = x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + eps)
    return y * weight if weight is not None else y


class LayerNorm(nn.Module):
    """LayerNorm with learnable gain gamma (init 1) and bias beta (init 0) over the last dim."""

    def __init__(self, d_model: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        check_positive("d_model", d_model)
        check_flag("affine", affine)
        check_size(f"LayerNorm(d_model={d_model})", 2 * d_model)
        self.d_model, self.eps = d_model, _check_eps(eps)
        self.weight = nn.Parameter(torch.ones(d_model)) if affine else None
        self.bias = nn.Parameter(torch.zeros(d_model)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_last_dim(x, self.d_model)
        check_like_module("x", x, self)
        return layer_norm(x, self.weight, self.bias, self.eps)


class RMSNorm(nn.Module):
    """RMSNorm with learnable gain gamma (init 1) over the last dim; no centring, no bias."""

    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        check_positive("d_model", d_model)
        check_size(f"RMSNorm(d_model={d_model})", d_model)
        self.d_model, self.eps = d_model, _check_eps(eps)
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_last_dim(x, self.d_model)
        check_like_module("x", x, self)
        return rms_norm(x, self.weight, self.eps)
