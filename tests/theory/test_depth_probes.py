"""Layer skipping and the logit lens (theory.depth_probes) against the model's own forward pass with a block
replaced, forward hooks, and torch's KL divergence."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from minitorch_xf.nn import Decoder, Encoder
from minitorch_xf.theory.depth_probes import layer_contributions, logit_lens, residual_stream, skip_layer_effects

pytestmark = pytest.mark.ch14


class _Identity(nn.Module):
    def forward(self, x, mask=None, causal=False):
        return x


def _model(cls=Decoder, n_layers=3, seed=0):
    torch.manual_seed(seed)
    return cls(11, d_model=16, n_heads=2, n_layers=n_layers, d_ff=24, max_len=9, activation="relu").eval()


def _tokens(seed=1, b=5, n=9):
    return torch.randint(0, 11, (b, n), generator=torch.Generator().manual_seed(seed))


def _stream_by_hooks(model, tokens):
    """h_0..h_L read with forward hooks on the blocks of the model's own forward pass."""
    states = []
    hooks = [blk.register_forward_hook(lambda _m, inp, out: states.append((inp[0], out))) for blk in model.blocks]
    with torch.no_grad():
        model(tokens)
    for h in hooks:
        h.remove()
    return torch.stack([states[0][0]] + [out for _, out in states])


@pytest.mark.parametrize("cls", [Decoder, Encoder])
def test_stream_and_lens_match_the_models_forward(cls):
    model, x = _model(cls), _tokens()
    torch.testing.assert_close(residual_stream(model, x), _stream_by_hooks(model, x))
    lens = logit_lens(model, x)
    assert lens.shape == (4, 5, 9, 11)
    with torch.no_grad():
        torch.testing.assert_close(lens[-1], model(x))  # the last lens is the model's output


@pytest.mark.parametrize("skip", [0, 1, 2])
def test_skipping_equals_a_model_with_that_block_removed(skip):
    model, x = _model(), _tokens()
    pruned = copy.deepcopy(model)
    pruned.blocks[skip] = _Identity()
    torch.testing.assert_close(residual_stream(model, x, skip=skip), _stream_by_hooks(pruned, x))
    with torch.no_grad():
        ref = pruned(x)
    torch.testing.assert_close(model.head(model.norm_out(residual_stream(model, x, skip=skip)[-1])), ref)


def test_effects_against_a_plain_recomputation():
    model, x = _model(n_layers=4, seed=3), _tokens(b=6)
    mask = torch.rand(x.shape, generator=torch.Generator().manual_seed(2)) > 0.3
    eff = skip_layer_effects(model, x, mask=mask)
    with torch.no_grad():
        base_logits = model(x)
        base = _stream_by_hooks(model, x)
        for s in range(4):
            pruned = copy.deepcopy(model)
            pruned.blocks[s] = _Identity()
            logits = pruned(x)
            alt = _stream_by_hooks(pruned, x)
            for layer in range(4):
                if layer <= s:
                    assert torch.isnan(eff.future[s, layer])
                    continue
                c, c_hat = base[layer + 1] - base[layer], alt[layer + 1] - alt[layer]
                want = (c_hat - c)[mask].norm(dim=-1).mean() / c[mask].norm(dim=-1).mean()
                torch.testing.assert_close(eff.future[s, layer], want)
            kl = nn.functional.kl_div(
                logits[mask].log_softmax(-1), base_logits[mask].log_softmax(-1), log_target=True, reduction="none"
            ).sum(-1)
            torch.testing.assert_close(eff.output_kl[s], kl.mean())
            flips = (logits[mask].argmax(-1) != base_logits[mask].argmax(-1)).float().mean()
            torch.testing.assert_close(eff.flipped[s], flips)
    finite = eff.future[:3].nan_to_num(-1).max(-1).values
    torch.testing.assert_close(eff.future_max[:3], finite)
    assert torch.isnan(eff.future_max[3])


def test_a_block_that_adds_nothing_has_no_effect_when_skipped():
    model, x = _model(n_layers=3, seed=5), _tokens()
    with torch.no_grad():  # block 1 writes zero into the stream: attention output and FFN output are 0
        for lin in (model.blocks[1].attn.w_o, model.blocks[1].ffn.w2):
            lin.weight.zero_()
            if lin.bias is not None:
                lin.bias.zero_()
    eff = skip_layer_effects(model, x)
    assert float(eff.future[1, 2]) == pytest.approx(0.0, abs=1e-6)
    assert float(eff.output_kl[1]) == pytest.approx(0.0, abs=1e-6)
    assert float(eff.flipped[1]) == 0.0
    assert float(eff.output_kl[0]) > 1e-4  # an ordinary block does change the output


def test_contributions_telescope():
    stream = torch.randn(5, 2, 3, 4, generator=torch.Generator().manual_seed(0))
    c = layer_contributions(stream)
    torch.testing.assert_close(stream[0] + c.sum(0), stream[-1])
