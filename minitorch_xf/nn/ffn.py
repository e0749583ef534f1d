r"""Position-wise feed-forward networks: the same MLP applied to every token independently.

Shapes: x is (..., m) with m the model dim and f the hidden width.

* ReLU / GELU (Vaswani et al., 2017, eq. 2):  $\mathrm{FFN}(x) = \phi(x W_1 + b_1) W_2 + b_2$.
* SwiGLU (Shazeer, 2020):  $\mathrm{FFN}(x) = (\mathrm{SiLU}(x W_1) \odot x W_3)\, W_2$.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validate import (
    check_choice,
    check_flag,
    check_like_module,
    check_number,
    check_positive,
    check_size,
    check_tensor,
)

__all__ = ["ACTIVATIONS", "FeedForward"]

ACTIVATIONS = ("relu", "gelu", "swiglu")


class FeedForward(nn.Module):
    """Position-wise FFN with ``activation`` in ``ACTIVATIONS``; hidden width ``d_ff`` (default 4 m).

    ``dropout`` (a probability in [0, 1]) acts on the hidden layer. Inputs must have the parameters' dtype.
    """

    def __init__(
        self, d_model: int, d_ff: int | None = None, activation: str = "gelu", bias: bool = True, dropout: float = 0.0
    ):
        super().__init__()
        check_positive("d_model", d_model)
        d_ff = 4 * d_model if d_ff is None else d_ff
        check_positive("d_ff", d_ff)
        check_choice("activation", activation, ACTIVATIONS)
        check_flag("bias", bias)
        n_in = 2 if activation == "swiglu" else 1
        check_size(f"FeedForward(d_model={d_model}, d_ff={d_ff})'s weights", (n_in + 1) * d_model * d_ff)
        self.d_model, self.d_ff, self.activation = d_model, d_ff, activation
        self.w1 = nn.Linear(d_model, d_ff, bias=bias)
        self.w3 = nn.Linear(d_model, d_ff, bias=bias) if activation == "swiglu" else None  # the gate's value branch
        self.w2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(check_number("dropout", dropout, low=0, high=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, min_ndim=1, floating=True)
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x has shape {tuple(x.shape)}; its last dim must be d_model={self.d_model}")
        check_like_module("x", x, self)
        h = self.w1(x)  # (..., f)
        if self.activation == "relu":
            h = torch.relu(h)
        elif self.activation == "gelu":
            h = torch.nn.functional.gelu(h)
        else:
            h = torch.nn.functional.silu(h) * self.w3(x)  # (..., f)
        return self.w2(self.dropout(h))  # (..., m)
