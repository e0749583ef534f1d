r"""Activation sparsity of the MLP blocks: the "lazy neuron" statistic (Li et al., 2023; chapter 14).

Shapes: b batch, n positions, m model dim, f hidden width of an FFN, L FFN layers.

For an FFN $x \mapsto \phi(xW_1^\top + b_1)W_2^\top + b_2$ the *activation map* is $a = \phi(xW_1^\top + b_1)$, one
row of f entries per token. Li et al. (2023) measure, for ReLU, the fraction of its entries that are non-zero,
averaged over tokens: the lower, the sparser. Here

$$ \rho = \frac{1}{|T|\, f}\sum_{t \in T}\ \#\{j : a_{tj} \ne 0\}, $$

per FFN layer, over the positions $T$ a mask keeps. At initialisation, with weights and biases drawn symmetric
about 0 (PyTorch's default uniform), each pre-activation is symmetric about 0 and $\mathbb E\rho = 1/2$ for ReLU.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validate import check_number, check_positive, check_tensor

__all__ = ["ffn_preactivations", "init_density_tolerance", "nonzero_fraction", "relu_density"]


def _ffn_layers(model: nn.Module) -> list[nn.Module]:
    """The model's position-wise FFNs, in the order of the forward pass (FeedForward or MatFormerFFN)."""
    from ..nn.ffn import FeedForward
    from ..nn.matformer import MatFormerFFN

    return [mod for mod in model.modules() if isinstance(mod, (FeedForward, MatFormerFFN))]


@torch.no_grad()
def ffn_preactivations(model: nn.Module, *inputs) -> list[torch.Tensor]:
    r"""Run ``model(*inputs)`` and return every FFN's pre-activation $xW_1^\top + b_1$, each (..., f).

    Each FFN's input is read through a forward hook (the model is not changed) and its first linear map applied
    again. A model
    without an FFN, or whose FFNs are not ReLU (``activation="relu"``), raises: their zeros mean nothing else here.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    layers = _ffn_layers(model)
    if not layers:
        raise ValueError(f"model ({type(model).__name__}) has no FeedForward or MatFormerFFN layer to measure")
    bad = sorted({ffn.activation for ffn in layers if ffn.activation != "relu"})
    if bad:
        raise ValueError(f"activation sparsity is defined here for ReLU FFNs, got activation={bad[0]!r}")
    inputs_seen: list[torch.Tensor] = []
    hooks = [ffn.register_forward_hook(lambda _mod, inp, _out: inputs_seen.append(inp[0])) for ffn in layers]
    try:
        model(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    pres = []
    for ffn, x in zip(layers, inputs_seen, strict=True):
        k = getattr(ffn, "width", ffn.d_ff)  # a MatFormerFFN's active prefix, else every unit
        pres.append(nn.functional.linear(x, ffn.w1.weight[:k], ffn.w1.bias[:k] if ffn.w1.bias is not None else None))
    return pres  # each (..., k)


def nonzero_fraction(pre: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""$\rho$: the fraction of non-zero entries of $\mathrm{ReLU}(\text{pre})$ over the kept positions, a 0-dim tensor.

    ``pre``: (..., f) pre-activations; ``mask``: bool (...), the positions that count (default all).
    """
    check_tensor("pre", pre, min_ndim=1, floating=True)
    if pre.shape[-1] == 0 or pre.numel() == 0:
        raise ValueError(f"pre has shape {tuple(pre.shape)}: there is no unit to count")
    active = pre > 0  # ReLU(z) != 0 exactly when z > 0; a NaN counts as inactive
    if mask is None:
        return active.to(pre.dtype).mean()
    check_tensor("mask", mask)
    if mask.dtype != torch.bool or tuple(mask.shape) != tuple(pre.shape[:-1]):
        raise ValueError(
            f"mask must be a bool tensor of shape {tuple(pre.shape[:-1])} (pre without its last dim), got "
            f"dtype={mask.dtype} and shape {tuple(mask.shape)}"
        )
    if not bool(mask.any()):
        raise ValueError("mask selects no position: nothing to measure")
    return active[mask.to(pre.device)].to(pre.dtype).mean()


def relu_density(model: nn.Module, *inputs, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""$\rho$ of every ReLU FFN of ``model`` on ``model(*inputs)``: (L,), in the order of the forward pass."""
    pres = ffn_preactivations(model, *inputs)
    return torch.stack([nonzero_fraction(pre.float(), mask) for pre in pres])  # (L,)


def init_density_tolerance(d_ff: int, n_layers: int = 1, delta: float = 1e-3) -> float:
    r"""$t = \sqrt{\ln(2/\delta) / (2 L f)}$: at initialisation $\Pr[|\bar\rho - \tfrac12| > t] \le \delta$.

    $\bar\rho$ is ``relu_density(model, ...).mean()`` for a model with ``n_layers`` ReLU FFNs of ``d_ff`` units each,
    initialised as in the proposition (weights and biases symmetric about 0, independent of the input).

    Why: $\bar\rho$ is the mean of the $Lf$ numbers $\rho_j$ = the fraction of kept positions on which unit $j$
    fires. Given everything before unit $j$'s layer, the units of that layer are independent and each $\rho_j$ lies
    in $[0, 1]$ with conditional mean $\tfrac12$, so $\sum_j (\rho_j - \tfrac12)$ is a martingale with increments
    in ranges of length 1, and Azuma-Hoeffding gives $\Pr[|\bar\rho - \tfrac12| \ge t] \le 2e^{-2Lft^2}$.
    It does not shrink with the number of positions: a unit fires on many positions or on few, and in the worst case
    (a bias that dominates) on all or none, when $\bar\rho$ is a mean of $Lf$ fair coins.
    """
    d_ff, n_layers = check_positive("d_ff", d_ff), check_positive("n_layers", n_layers)
    delta = check_number("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    return math.sqrt(math.log(2.0 / delta) / (2.0 * n_layers * d_ff))
