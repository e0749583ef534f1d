"""MacaronBlock: the Strang-splitting layer against hand-written references, parameter budget, causality."""

from __future__ import annotations

import pytest
import torch

from minitorch_xf.nn import MacaronBlock, TransformerBlock, count_parameters

pytestmark = pytest.mark.ch02


def _matrix_params(block: torch.nn.Module) -> int:
    """Scalars in the weight matrices (2-D parameters): biases and norm vectors left out."""
    return sum(p.numel() for p in block.parameters() if p.dim() == 2)


@pytest.mark.parametrize(
    "d_model, n_heads, d_ff, norm", [(64, 4, None, "layer"), (32, 2, 96, "rms"), (48, 3, 64, "layer")]
)
def test_parameter_budget_matches_transformer_block(d_model, n_heads, d_ff, norm):
    mac, std = MacaronBlock(d_model, n_heads, d_ff, norm=norm), TransformerBlock(d_model, n_heads, d_ff, norm=norm)
    assert _matrix_params(mac) == _matrix_params(std)
    extra_norm = 2 * d_model if norm == "layer" else d_model  # the third norm
    assert count_parameters(mac) - count_parameters(std) == d_model + extra_norm  # + one FFN output bias
    assert mac.ffn1.d_ff == mac.ffn2.d_ff == (d_ff or 4 * d_model) // 2


def test_forward_equals_written_out_strang_layer():
    torch.manual_seed(0)
    block = MacaronBlock(16, 2).double()
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    ln = torch.nn.functional.layer_norm

    def ffn(f, y):
        return torch.nn.functional.gelu(y @ f.w1.weight.T + f.w1.bias) @ f.w2.weight.T + f.w2.bias

    def norm(n, y):
        return ln(y, (16,), n.weight, n.bias, eps=n.eps)

    mha = torch.nn.MultiheadAttention(16, 2, batch_first=True, dtype=torch.float64)
    a = block.attn
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([a.w_q.weight, a.w_k.weight, a.w_v.weight]))
        mha.in_proj_bias.copy_(torch.cat([a.w_q.bias, a.w_k.bias, a.w_v.bias]))
        mha.out_proj.weight.copy_(a.w_o.weight)
        mha.out_proj.bias.copy_(a.w_o.bias)
        y = x + 0.5 * ffn(block.ffn1, norm(block.norm1, x))
        h = norm(block.norm2, y)
        y = y + mha(h, h, h, need_weights=False)[0]
        y = y + 0.5 * ffn(block.ffn2, norm(block.norm3, y))
        torch.testing.assert_close(block(x), y)


def test_shape_weights_and_causality():
    torch.manual_seed(1)
    block = MacaronBlock(32, 4).eval()
    x = torch.randn(3, 7, 32)
    out, w = block(x, causal=True, return_weights=True)
    assert out.shape == x.shape and w.shape == (3, 4, 7, 7)
    x2 = x.clone()
    x2[:, 4:] += torch.randn(3, 3, 32)  # change the future
    torch.testing.assert_close(block(x2, causal=True)[:, :4], out[:, :4])  # the past does not see it
    assert (block(x2)[:, :4] - block(x)[:, :4]).abs().max() > 1e-4  # without the mask it does


def test_bad_inputs():
    with pytest.raises(ValueError, match="d_ff=7"):
        MacaronBlock(16, 2, d_ff=7)
    with pytest.raises(ValueError, match="norm"):
        MacaronBlock(16, 2, norm="batch")
    with pytest.raises(ValueError, match="d_model"):
        MacaronBlock(16, 3)
