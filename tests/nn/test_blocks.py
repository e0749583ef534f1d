"""TransformerBlock against torch.nn.TransformerEncoderLayer with copied weights (pre- and post-norm)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from minitorch_xf.nn.attention import causal_mask
from minitorch_xf.nn.blocks import TransformerBlock, make_norm
from minitorch_xf.nn.norms import LayerNorm, RMSNorm

pytestmark = pytest.mark.ch01

F64 = torch.float64


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def torch_layer_from(block: TransformerBlock, activation: str) -> nn.TransformerEncoderLayer:
    attn, ffn = block.attn, block.ffn
    ref = nn.TransformerEncoderLayer(
        attn.d_model,
        attn.n_heads,
        dim_feedforward=ffn.d_ff,
        dropout=0.0,
        activation=activation,
        batch_first=True,
        norm_first=block.norm_first,
        dtype=F64,
    )
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(torch.cat([attn.w_q.weight, attn.w_k.weight, attn.w_v.weight]))
        ref.self_attn.in_proj_bias.copy_(torch.cat([attn.w_q.bias, attn.w_k.bias, attn.w_v.bias]))
        ref.self_attn.out_proj.weight.copy_(attn.w_o.weight)
        ref.self_attn.out_proj.bias.copy_(attn.w_o.bias)
        ref.linear1.weight.copy_(ffn.w1.weight)
        ref.linear1.bias.copy_(ffn.w1.bias)
        ref.linear2.weight.copy_(ffn.w2.weight)
        ref.linear2.bias.copy_(ffn.w2.bias)
        for mine, theirs in ((block.norm1, ref.norm1), (block.norm2, ref.norm2)):
            mine.weight.copy_(rand(*mine.weight.shape, seed=5))  # non-trivial gains and biases
            mine.bias.copy_(rand(*mine.bias.shape, seed=6))
            theirs.weight.copy_(mine.weight)
            theirs.bias.copy_(mine.bias)
    return ref


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("causal", [False, True])
def test_block_matches_torch_encoder_layer(norm_first, activation, causal):
    torch.manual_seed(0)
    block = TransformerBlock(12, 3, d_ff=20, activation=activation, norm_first=norm_first).double()
    ref = torch_layer_from(block, activation)
    x = rand(2, 6, 12).requires_grad_()
    src_mask = ~causal_mask(6) if causal else None  # torch: True = NOT allowed
    ours = block(x, causal=causal)
    theirs = ref(x, src_mask=src_mask, is_causal=causal)
    torch.testing.assert_close(ours, theirs)
    r = rand(2, 6, 12, seed=3)
    g1 = torch.autograd.grad((ours * r).sum(), (x, block.ffn.w1.weight))
    g2 = torch.autograd.grad((theirs * r).sum(), (x, ref.linear1.weight))
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b)


def test_block_key_padding_matches_torch():
    torch.manual_seed(0)
    block = TransformerBlock(12, 3, d_ff=20, activation="relu").double()
    ref = torch_layer_from(block, "relu")
    x = rand(2, 5, 12)
    keep = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    torch.testing.assert_close(block(x, mask=keep[:, None, None, :]), ref(x, src_key_padding_mask=~keep))


def test_block_returns_weights_and_rms_variant():
    block = TransformerBlock(8, 2, norm="rms", activation="swiglu")
    assert isinstance(block.norm1, RMSNorm)
    y, w = block(torch.randn(3, 4, 8), return_weights=True)
    assert y.shape == (3, 4, 8)
    assert w.shape == (3, 2, 4, 4)
    assert isinstance(make_norm("layer", 8), LayerNorm)


def test_bad_inputs():
    with pytest.raises(ValueError, match="norm='batch'"):
        TransformerBlock(8, 2, norm="batch")
    with pytest.raises(ValueError, match="n_heads=3"):
        TransformerBlock(8, 3)
    with pytest.raises(ValueError, match="activation='tanh'"):
        TransformerBlock(8, 2, activation="tanh")
