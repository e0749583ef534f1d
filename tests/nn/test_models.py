"""Encoder / Decoder: shapes, greedy generation, permutation equivariance, causality and bad inputs."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch_xf.nn.models import Decoder, Encoder, count_parameters

pytestmark = pytest.mark.ch01

V = 11


def tokens(b, n, seed=0, vocab=V):
    return torch.randint(0, vocab, (b, n), generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return Encoder(V, d_model=16, n_heads=2, n_layers=2, positions="none").double().eval()


@pytest.fixture(scope="module")
def decoder():
    torch.manual_seed(0)
    return Decoder(V, d_model=16, n_heads=2, n_layers=2, max_len=12).double().eval()


@pytest.mark.parametrize("positions", ["sinusoidal", "learned", "rope", "none"])
@pytest.mark.parametrize("norm_first", [True, False])
def test_shapes(positions, norm_first):
    enc = Encoder(V, d_model=16, n_heads=2, n_layers=2, positions=positions, norm_first=norm_first, n_out=3)
    logits, weights = enc(tokens(2, 7), return_weights=True)
    assert logits.shape == (2, 7, 3)
    assert len(weights) == 2 and weights[0].shape == (2, 2, 7, 7)
    dec = Decoder(V, d_model=16, n_heads=2, n_layers=1, positions=positions, norm_first=norm_first)
    assert dec(tokens(3, 5)).shape == (3, 5, V)
    assert count_parameters(dec) == sum(p.numel() for p in dec.parameters())


def test_decoder_attention_is_causal(decoder):
    _, weights = decoder(tokens(2, 6), return_weights=True)
    for w in weights:
        assert (w.triu(diagonal=1) == 0).all()
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 6, dtype=torch.float64))


def test_generate_is_greedy(decoder):
    prompt = tokens(3, 4, seed=1)
    out = decoder.generate(prompt, 5)
    assert out.shape == (3, 9)
    torch.testing.assert_close(out[:, :4], prompt)
    for i in range(4, 9):  # each new token is the argmax of the logits at the previous position
        expected = decoder(out[:, :i])[:, -1].argmax(-1)
        torch.testing.assert_close(out[:, i], expected)


def test_generate_past_max_len_uses_a_sliding_window(decoder):
    out = decoder.generate(tokens(1, 10, seed=2), 6)  # 16 > max_len=12
    assert out.shape == (1, 16)
    assert ((out >= 0) & (out < V)).all()


@pytest.mark.checks("prop-perm-equivariance")
@settings(deadline=None, max_examples=25)
@given(n=st.integers(2, 8), seed=st.integers(0, 10_000))
def test_encoder_without_positions_is_permutation_equivariant(encoder, n, seed):
    x = tokens(2, n, seed=seed)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1))
    torch.testing.assert_close(encoder(x[:, perm]), encoder(x)[:, perm])


@settings(deadline=None, max_examples=25)
@given(n=st.integers(2, 12), t=st.integers(0, 11), seed=st.integers(0, 10_000))
def test_decoder_output_ignores_later_tokens(decoder, n, t, seed):
    t = t % n
    x = tokens(2, n, seed=seed)
    y = x.clone()
    y[:, t + 1 :] = tokens(2, n - t - 1, seed=seed + 1)  # change every later token
    torch.testing.assert_close(decoder(y)[:, : t + 1], decoder(x)[:, : t + 1])


@pytest.mark.parametrize("model_class", [Encoder, Decoder])
def test_attention_weights_only_when_asked(model_class):
    torch.manual_seed(0)
    model = model_class(V, d_model=16, n_heads=2, n_layers=3).eval()
    asked = []
    for block in model.blocks:
        block.attn.register_forward_pre_hook(
            lambda mod, args, kwargs: asked.append(kwargs.get("return_weights", False)), with_kwargs=True
        )
    x = tokens(2, 5)
    logits = model(x)
    assert asked == [False, False, False], "the weights were requested although nobody asked for them"
    asked.clear()
    logits_w, weights = model(x, return_weights=True)
    assert asked == [True, True, True]
    assert [tuple(w.shape) for w in weights] == [(2, 2, 5, 5)] * 3
    torch.testing.assert_close(logits, logits_w)


def test_bad_inputs(decoder):
    with pytest.raises(TypeError, match="float32"):
        decoder(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="max 11"):
        decoder(torch.tensor([[1, 11]]))
    with pytest.raises(ValueError, match="min -1"):
        decoder(torch.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match="sequence length 13 exceeds max_len=12"):
        decoder(tokens(1, 13))
    with pytest.raises(ValueError, match="n_new=0"):
        decoder.generate(tokens(1, 3), 0)
    with pytest.raises(ValueError, match="d_model=10 is not divisible by n_heads=4"):
        Encoder(V, d_model=10, n_heads=4)
    with pytest.raises(ValueError, match="positions='alibi'"):
        Encoder(V, positions="alibi")
    with pytest.raises(ValueError, match="vocab_size=0"):
        Decoder(0)
    with pytest.raises(ValueError, match="tokens must have 2 dims"):
        decoder(torch.tensor([1, 2]))
