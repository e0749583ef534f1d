"""FeedForward against an explicit torch.nn.Sequential with the same weights, and SwiGLU against its formula."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from minitorch_xf.nn.ffn import FeedForward

pytestmark = pytest.mark.ch01

F64 = torch.float64


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.mark.parametrize(("activation", "act_module"), [("relu", nn.ReLU()), ("gelu", nn.GELU())])
def test_relu_gelu_match_sequential(activation, act_module):
    torch.manual_seed(0)
    ffn = FeedForward(8, 24, activation=activation).double()
    ref = nn.Sequential(nn.Linear(8, 24), act_module, nn.Linear(24, 8)).double()
    with torch.no_grad():
        ref[0].weight.copy_(ffn.w1.weight)
        ref[0].bias.copy_(ffn.w1.bias)
        ref[2].weight.copy_(ffn.w2.weight)
        ref[2].bias.copy_(ffn.w2.bias)
    x = rand(2, 5, 8).requires_grad_()
    torch.testing.assert_close(ffn(x), ref(x))
    g1 = torch.autograd.grad(ffn(x).sum(), (x, ffn.w1.weight))
    g2 = torch.autograd.grad(ref(x).sum(), (x, ref[0].weight))
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("bias", [False, True])
def test_swiglu_matches_formula(bias):
    torch.manual_seed(0)
    ffn = FeedForward(8, 16, activation="swiglu", bias=bias).double()
    x = rand(3, 8)
    w1, w2, w3 = ffn.w1.weight, ffn.w2.weight, ffn.w3.weight
    a, c = x @ w1.T, x @ w3.T
    if bias:
        a, c = a + ffn.w1.bias, c + ffn.w3.bias
    expected = (a * torch.sigmoid(a) * c) @ w2.T + (ffn.w2.bias if bias else 0)
    torch.testing.assert_close(ffn(x), expected)


def test_position_wise_and_default_width():
    ffn = FeedForward(6).double()
    assert ffn.d_ff == 24
    x = rand(2, 4, 6)
    torch.testing.assert_close(ffn(x)[:, 2], ffn(x[:, 2]))


def test_bad_inputs():
    with pytest.raises(ValueError, match="activation='tanh'"):
        FeedForward(8, activation="tanh")
    with pytest.raises(ValueError, match="d_ff=0"):
        FeedForward(8, d_ff=0)
    with pytest.raises(ValueError, match="d_model=8"):
        FeedForward(8)(torch.randn(2, 7))
    with pytest.raises(TypeError, match="int64"):
        FeedForward(8)(torch.ones(2, 8, dtype=torch.long))
