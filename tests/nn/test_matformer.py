"""MatFormer (nn.matformer) against torch's own layers with the prefix weights, the package's FeedForward, and the
nesting identity written as a loop over hidden units."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from minitorch_xf.nn import Decoder, FeedForward
from minitorch_xf.nn.matformer import MatFormerFFN, extract, matformer_loss, matformerize, set_widths
from minitorch_xf.train import cross_entropy_loss

pytestmark = pytest.mark.ch14


def _ffn(seed=0, dtype=torch.float32, activation="relu"):
    torch.manual_seed(seed)
    return MatFormerFFN(6, 16, [2, 4, 8, 16], activation=activation).to(dtype)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("k", [2, 4, 8, 16])
def test_each_width_is_torchs_ffn_with_the_prefix_weights(k, activation):
    ffn = _ffn(activation=activation)
    ffn.width = k
    ref = nn.Sequential(nn.Linear(6, k), nn.ReLU() if activation == "relu" else nn.GELU(), nn.Linear(k, 6))
    with torch.no_grad():
        ref[0].weight.copy_(ffn.w1.weight[:k])
        ref[0].bias.copy_(ffn.w1.bias[:k])
        ref[2].weight.copy_(ffn.w2.weight[:, :k])
        ref[2].bias.copy_(ffn.w2.bias)
    x = torch.randn(3, 5, 6, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ffn(x), ref(x))


@pytest.mark.checks("lem-ch14-nested-difference")
def test_the_difference_of_two_widths_is_the_extra_units():
    """T_k'(x) - T_k(x) = sum over the units k <= j < k' of relu(a_j) w2_j (lemma of section 14.5), and its norm is
    at most sum_j |relu(a_j)| ||w2_j||."""
    ffn = _ffn(dtype=torch.float64)
    x = torch.randn(40, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for k, k2 in [(2, 4), (4, 16), (2, 16)]:
        ffn.width = k
        small = ffn(x)
        ffn.width = k2
        big = ffn(x)
        extra = torch.zeros_like(x)
        bound = torch.zeros(x.shape[0], dtype=torch.float64)
        for j in range(k, k2):
            a = torch.relu(x @ ffn.w1.weight[j] + ffn.w1.bias[j])  # (40,)
            extra += a[:, None] * ffn.w2.weight[:, j]
            bound += a * ffn.w2.weight[:, j].norm()
        torch.testing.assert_close(big - small, extra.detach())
        assert bool(((big - small).norm(dim=-1) <= bound + 1e-12).all())


def test_gradients_in_float64():
    ffn = _ffn(dtype=torch.float64)
    ffn.width = 4
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ffn, (x,))
    loss = ffn(x).sum()
    loss.backward()
    assert float(ffn.w1.weight.grad[4:].abs().max()) == 0.0  # units past the prefix get no gradient
    assert float(ffn.w1.weight.grad[:4].abs().max()) > 0.0


def _decoder(seed=0):
    torch.manual_seed(seed)
    return Decoder(9, d_model=8, n_heads=2, n_layers=3, d_ff=16, max_len=7, activation="relu")


def _tokens():
    return torch.randint(0, 9, (4, 7), generator=torch.Generator().manual_seed(3))


def test_matformerize_keeps_the_function():
    model, x = _decoder(), _tokens()
    with torch.no_grad():
        before = model(x)
        matformerize(model, [2, 4, 8, 16])
        torch.testing.assert_close(model(x), before)
    assert all(isinstance(b.ffn, MatFormerFFN) for b in model.blocks)


def test_extract_gives_prefix_weights_and_the_same_outputs():
    model, x = matformerize(_decoder(), [2, 4, 8, 16]), _tokens()
    widths = [4, 16, 2]
    set_widths(model, widths)
    with torch.no_grad():
        want = model(x)
    set_widths(model, 16)
    sub = extract(model, widths)
    assert isinstance(sub, Decoder)
    assert [b.ffn.width for b in model.blocks] == [16, 16, 16]  # the MatFormer model is left as it was
    for big, small, k in zip(model.blocks, sub.blocks, widths, strict=True):
        assert isinstance(small.ffn, FeedForward) and small.ffn.d_ff == k
        assert torch.equal(small.ffn.w1.weight, big.ffn.w1.weight[:k])
        assert torch.equal(small.ffn.w1.bias, big.ffn.w1.bias[:k])
        assert torch.equal(small.ffn.w2.weight, big.ffn.w2.weight[:, :k])
        assert torch.equal(small.ffn.w2.bias, big.ffn.w2.bias)
    shared = {n: p for n, p in model.named_parameters() if ".ffn." not in n}
    for name, p in sub.named_parameters():
        if ".ffn." not in name:
            assert torch.equal(p, shared[name]), name
    with torch.no_grad():
        torch.testing.assert_close(sub(x), want)
    n_sub = sum(p.numel() for p in sub.parameters())
    n_full = sum(p.numel() for p in model.parameters())
    assert n_full - n_sub == sum(2 * 8 * (16 - k) + (16 - k) for k in widths)


def test_joint_loss_is_the_sum_over_extracted_models():
    model, x = matformerize(_decoder(), [2, 4, 8, 16]), _tokens()
    y = torch.randint(0, 9, x.shape, generator=torch.Generator().manual_seed(5))
    settings = [2, [4, 8, 16], 16]
    got = matformer_loss(model, (x, y), settings, cross_entropy_loss)
    want = sum(cross_entropy_loss(extract(model, w), (x, y)) for w in settings)
    torch.testing.assert_close(got, want)
    assert [b.ffn.width for b in model.blocks] == [16, 16, 16]


def test_default_granularities_are_eighth_quarter_half_full():
    assert MatFormerFFN(4, 64).granularities == (8, 16, 32, 64)


def test_fused_joint_loss_equals_the_sum_and_its_gradients():
    torch.manual_seed(1)
    model = matformerize(
        Decoder(9, d_model=8, n_heads=2, n_layers=3, d_ff=16, max_len=7, activation="relu").double(), [2, 4, 8, 16]
    )
    x = torch.randint(0, 9, (4, 7), generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, 9, (4, 7), generator=torch.Generator().manual_seed(3))
    y[:, 0] = -100
    settings = [2, [4, 8, 16], 16, 8]
    params = list(model.parameters())
    slow = matformer_loss(model, (x, y), settings, cross_entropy_loss)
    fast = matformer_loss(model, (x, y), settings, cross_entropy_loss, fused=True)
    torch.testing.assert_close(fast, slow)
    for g_fast, g_slow in zip(torch.autograd.grad(fast, params), torch.autograd.grad(slow, params), strict=True):
        torch.testing.assert_close(g_fast, g_slow)
    assert all(b.ffn._groups is None and b.ffn.width == 16 for b in model.blocks)
