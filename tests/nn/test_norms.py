"""LayerNorm and RMSNorm against torch.nn.functional.layer_norm and torch.nn.RMSNorm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from minitorch_xf.nn.norms import LayerNorm, RMSNorm, layer_norm, rms_norm

pytestmark = pytest.mark.ch01

F64 = torch.float64


def rand(*shape, seed=0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64).requires_grad_(requires_grad)


def randomise(module, seed=1):
    with torch.no_grad():
        for i, p in enumerate(module.parameters()):
            p.copy_(rand(*p.shape, seed=seed + i))
    return module


def test_layer_norm_matches_torch_values_and_grads():
    x, w, b = (
        rand(2, 3, 8, requires_grad=True),
        rand(8, seed=1, requires_grad=True),
        rand(8, seed=2, requires_grad=True),
    )
    ours = layer_norm(x, w, b, eps=1e-5)
    ref = F.layer_norm(x, (8,), w, b, eps=1e-5)
    torch.testing.assert_close(ours, ref)
    r = rand(2, 3, 8, seed=3)
    for g1, g2 in zip(
        torch.autograd.grad((ours * r).sum(), (x, w, b)), torch.autograd.grad((ref * r).sum(), (x, w, b)), strict=True
    ):
        torch.testing.assert_close(g1, g2)
    assert torch.autograd.gradcheck(lambda a, c, d: layer_norm(a, c, d), (x, w, b))


def test_layer_norm_module_matches_torch_module():
    ours = randomise(LayerNorm(6).double())
    ref = torch.nn.LayerNorm(6, dtype=F64)
    ref.load_state_dict(ours.state_dict())
    x = rand(4, 6)
    torch.testing.assert_close(ours(x), ref(x))
    torch.testing.assert_close(LayerNorm(6, affine=False).double()(x), F.layer_norm(x, (6,)))


def test_rms_norm_matches_torch():
    eps = 1e-6
    ours = randomise(RMSNorm(8, eps=eps).double())
    ref = torch.nn.RMSNorm(8, eps=eps, dtype=F64)
    ref.load_state_dict(ours.state_dict())
    x = rand(2, 5, 8, requires_grad=True)
    torch.testing.assert_close(ours(x), ref(x))
    r = rand(2, 5, 8, seed=9)
    g1 = torch.autograd.grad((ours(x) * r).sum(), (x, ours.weight))
    g2 = torch.autograd.grad((ref(x) * r).sum(), (x, ref.weight))
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b)
    assert torch.autograd.gradcheck(lambda a: rms_norm(a, eps=eps), (x,))


def test_norm_statistics():
    x = rand(3, 16) * 5 + 2
    y = layer_norm(x)
    torch.testing.assert_close(y.mean(-1), torch.zeros(3, dtype=F64))
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(3, dtype=F64), atol=1e-4, rtol=1e-4)
    z = rms_norm(x)
    torch.testing.assert_close(z.pow(2).mean(-1), torch.ones(3, dtype=F64), atol=1e-4, rtol=1e-4)


def test_bad_inputs():
    with pytest.raises(ValueError, match="its last dim must be 6"):
        LayerNorm(6)(torch.randn(2, 5))
    with pytest.raises(ValueError, match="its last dim must be 6"):
        RMSNorm(6)(torch.randn(2, 5))
    with pytest.raises(TypeError, match="int64"):
        layer_norm(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="d_model=0"):
        RMSNorm(0)
