"""Issue 21's classes of bad input, applied to every public callable of ``minitorch_xf.nn``.

Sizes past 2**31 elements are refused with the count they would need; k/v without the head dim of a 4-D q are
refused (they paired k's batch with q's heads when b == h); two tensors of different dtype or device are named;
None or a list where a tensor is meant; floats and bools where an int is meant (numpy ints accepted); empty inputs
named by the user's argument; the feature map of linear attention checked (a tensor, non-negative). ``HANDLED``
checks odd but valid calls (numpy ints, expanded and non-contiguous tensors, size-1 dims) against references
computed here directly with torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.nn import (
    Decoder,
    Encoder,
    FeedForward,
    HypernetworkAttention,
    HypernetworkTransformer,
    LayerNorm,
    LearnedPositionalEmbedding,
    LoRALinear,
    MinimalAttention,
    MultiHeadAttention,
    NormAttention,
    OneLayerClassifier,
    RelativeAttention,
    RMSNorm,
    RotaryEmbedding,
    SequenceClassifier,
    SinusoidalPositionalEncoding,
    TensorAttention,
    TransformerStack,
    attention_rnn,
    causal_mask,
    khatri_rao,
    layer_norm,
    linear_attention,
    linear_attention_recurrent,
    make_norm,
    match3_head,
    memory_efficient_attention,
    padding_mask,
    polynomial_tensor_attention,
    prefix_scan_attention,
    relative_attention,
    rms_norm,
    scaled_dot_product_attention,
    scan_combine,
    sinusoidal_table,
    tensor_attention,
    toeplitz,
)
from minitorch_xf.nn.hyla import head_scores, hyla_values, hypernetwork_weights
from minitorch_xf.nn.kernelized import elu_feature_map, norm_linear_attention
from minitorch_xf.nn.memory_efficient import saved_tensor_bytes

META = torch.device("meta")
BIG = 2**40
Q4, K3, V3 = r(2, 2, 3, 4), r(2, 5, 4, seed=1), r(2, 5, 4, seed=2)  # (b, h, s, d) with b == h; (b, t, d)
Q, K, V = r(2, 3, 4), r(2, 3, 4, seed=1), r(2, 3, 5, seed=2)
QH, KH, VH = r(1, 2, 3, 4), r(1, 2, 3, 4, seed=1), r(1, 2, 3, 4, seed=2)  # (b, h, n, d)
TOK = torch.tensor([[1, 2, 3]])
SCORES = r(1, 2, 3, 3)  # (b, h, s, t)


def state(n=3, e=2, dtype=torch.float32, seed=0):
    return r(n, dtype=dtype, seed=seed), r(n, seed=seed + 1, dtype=dtype).abs(), r(n, e, dtype=dtype, seed=seed + 2)


def f64(*shape, seed=0):
    return r(*shape, dtype=torch.float64, seed=seed)


def _close(expected, atol=1e-5):
    def check(out):
        torch.testing.assert_close(out, expected, atol=atol, rtol=1e-5)

    return check


def _softmax_attention(q, k, v, scale=None):
    """Softmax attention written out with torch: the independent reference."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    return torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1) @ v


def _kernel_attention(q, k, v, phi):
    """Linear attention by its definition: weights phi(q_i).phi(k_j) normalized over j, times v."""
    w = phi(q) @ phi(k).transpose(-2, -1)
    return (w / w.sum(-1, keepdim=True)) @ v


BAD = [
    # -- k/v without the head dim of a 4-D q: batch i of k fed head i of every batch when b == h
    Bad(
        "scaled_dot_product_attention k/v without head dim",
        lambda: scaled_dot_product_attention(Q4, K3, V3),
        ValueError,
        r"k has shape \(2, 5, 4\).*k\[:, None\]",
    ),
    Bad(
        "memory_efficient_attention k/v without head dim",
        lambda: memory_efficient_attention(Q4, K3, V3),
        ValueError,
        r"k has shape \(2, 5, 4\)",
    ),
    Bad("linear_attention k/v without head dim", lambda: linear_attention(Q4, K3, V3), ValueError, r"v has shape"),
    # -- sizes past 2**31 elements: refused with the count, naming the arguments
    Bad("causal_mask s too large", lambda: causal_mask(2**20), ValueError, r"s=1048576, t=1048576.*1,099,511,627,776"),
    Bad("padding_mask t too large", lambda: padding_mask(torch.tensor([1]), BIG), ValueError, r"t=1099511627776"),
    Bad("MultiHeadAttention d_model too large", lambda: MultiHeadAttention(2**20, 1), ValueError, r"d_model=1048576"),
    Bad("FeedForward d_ff too large", lambda: FeedForward(4, BIG), ValueError, r"d_ff=1099511627776.*elements"),
    Bad(
        "RelativeAttention max_len too large",
        lambda: RelativeAttention(4, 2, BIG),
        ValueError,
        r"max_len=1099511627776",
    ),
    Bad(
        "HypernetworkTransformer max_len too large", lambda: HypernetworkTransformer(2, 2, BIG), ValueError, "max_len="
    ),
    Bad("MinimalAttention d_model too large", lambda: MinimalAttention(2**20), ValueError, r"d_model=1048576"),
    Bad("Decoder vocab_size too large", lambda: Decoder(BIG), ValueError, r"vocab_size=1099511627776"),
    Bad("Encoder max_len too large", lambda: Encoder(10, max_len=BIG), ValueError, r"max_len=1099511627776"),
    Bad("TransformerStack n_out too large", lambda: TransformerStack(10, n_out=BIG), ValueError, r"n_out="),
    Bad("OneLayerClassifier vocab_size too large", lambda: OneLayerClassifier(BIG, 4), ValueError, r"vocab_size="),
    Bad("LayerNorm d_model too large", lambda: LayerNorm(BIG), ValueError, r"d_model=1099511627776"),
    Bad("RMSNorm d_model too large", lambda: RMSNorm(BIG), ValueError, r"d_model=1099511627776"),
    Bad("make_norm d_model too large", lambda: make_norm("rms", BIG), ValueError, r"d_model=1099511627776"),
    Bad(
        "LearnedPositionalEmbedding max_len too large",
        lambda: LearnedPositionalEmbedding(4, BIG),
        ValueError,
        "max_len",
    ),
    Bad(
        "SinusoidalPositionalEncoding max_len too large", lambda: SinusoidalPositionalEncoding(4, BIG), ValueError, "n="
    ),
    Bad("sinusoidal_table n too large", lambda: sinusoidal_table(BIG, 4), ValueError, r"n=1099511627776"),
    Bad(
        "LoRALinear adapters too large",
        lambda: LoRALinear(torch.nn.Linear(2, 2), 2**20, 2**12),
        ValueError,
        r"rank=1048576, n_adapters=4096",
    ),
    Bad("NormAttention d_model too large", lambda: NormAttention(2**20, 1), ValueError, r"d_model=1048576"),
    Bad("TensorAttention d_model too large", lambda: TensorAttention(2**20), ValueError, r"d_model=1048576"),
    Bad("HypernetworkAttention d_model too large", lambda: HypernetworkAttention(2**20, 1), ValueError, "d_model="),
    Bad(
        "SequenceClassifier head too large",
        lambda: SequenceClassifier(2, 2**16, 2**11, d_model=32),
        ValueError,
        r"n_tokens=65536",
    ),
    Bad("khatri_rao too large", lambda: khatri_rao(r(2**16, 1), r(2**16, 1)), ValueError, r"khatri_rao of a \(65536"),
    Bad(
        "tensor_attention scores too large",
        lambda: tensor_attention(*(r(2**11, 1) for _ in range(5))),
        ValueError,
        r"scores .*8,589,934,592",
    ),
    Bad(
        "match3_head tokens too long",
        lambda: match3_head(torch.zeros(1, 2**11, dtype=torch.long), 5),
        ValueError,
        r"match3_head of tokens \(1, 2048\)",
    ),
    Bad(
        "TensorAttention x too long",
        lambda: TensorAttention(2)(torch.zeros(1, 2**11, 2)),
        ValueError,
        r"TensorAttention on x \(1, 2048, 2\)",
    ),
    Bad(
        "hypernetwork_weights too large",
        lambda: hypernetwork_weights(r(1, 1, 2**8, 2**8), r(2**10, 2**10), r(2**10, 2**10)),
        ValueError,
        r"m=1024",
    ),
    Bad(
        "toeplitz n too large",
        lambda: toeplitz(torch.zeros(2**17 - 1).expand(2**10, 2**17 - 1), 2**16),
        ValueError,
        r"n=65536",
    ),
    Bad(
        "RotaryEmbedding offset past 2**24", lambda: RotaryEmbedding(4)(r(1, 3, 4), offset=2**24), ValueError, "offset="
    ),
    Bad(
        "Decoder.generate n_new too large",
        lambda: Decoder(10, d_model=8, n_heads=2, n_layers=1).generate(torch.zeros(1, 2, dtype=torch.long), BIG),
        ValueError,
        r"n_new=1099511627776",
    ),
    Bad("RotaryEmbedding dim too large", lambda: RotaryEmbedding(BIG), ValueError, r"dim=1099511627776"),
    Bad(
        "prefix_scan_attention q with a head dim k lacks",
        lambda: prefix_scan_attention(Q4, K3, V3),
        ValueError,
        r"q has shape \(2, 2, 3, 4\) and k \(2, 5, 4\)",
    ),
    Bad("causal_mask unknown device", lambda: causal_mask(3, device="bogus"), ValueError, r"device='bogus'"),
    Bad("causal_mask device float", lambda: causal_mask(3, device=3.5), ValueError, r"device=3.5"),
    # -- two tensors of different dtype or device: both named
    Bad(
        "head_scores k float64",
        lambda: head_scores(QH, f64(1, 2, 3, 4), "hyla"),
        TypeError,
        r"k has dtype torch.float64",
    ),
    Bad("hyla_values v float64", lambda: hyla_values(SCORES, f64(1, 2, 3, 4)), TypeError, r"v has dtype torch.float64"),
    Bad(
        "hypernetwork_weights w_o float64",
        lambda: hypernetwork_weights(SCORES, r(4, 2), f64(2, 4)),
        TypeError,
        r"w_o has dtype torch.float64 but a",
    ),
    Bad(
        "relative_attention bias on meta",
        lambda: relative_attention(QH, KH, VH, torch.zeros(3, 3, device=META)),
        ValueError,
        r"bias on meta",
    ),
    Bad(
        "relative_attention k on meta",
        lambda: relative_attention(QH, KH.to(META), VH, torch.zeros(3, 3)),
        ValueError,
        r"k on meta",
    ),
    Bad(
        "scan_combine b float64",
        lambda: scan_combine(state(), state(dtype=torch.float64)),
        TypeError,
        r"m_b has dtype torch.float64 but m_a",
    ),
    Bad("layer_norm weight float64", lambda: layer_norm(r(2, 4), weight=f64(4)), TypeError, r"weight has dtype"),
    Bad("rms_norm weight float64", lambda: rms_norm(r(2, 4), weight=f64(4)), TypeError, r"weight has dtype"),
    Bad("LayerNorm x float64", lambda: LayerNorm(4)(f64(2, 4)), TypeError, r"x has dtype torch.float64"),
    Bad("RMSNorm x float64", lambda: RMSNorm(4)(f64(2, 4)), TypeError, r"x has dtype torch.float64"),
    Bad(
        "LearnedPositionalEmbedding x float64",
        lambda: LearnedPositionalEmbedding(4, 8)(f64(1, 3, 4)),
        TypeError,
        r"x has dtype torch.float64",
    ),
    Bad(
        "OneLayerClassifier tokens on meta",
        lambda: OneLayerClassifier(5, 4)(torch.zeros(1, 3, dtype=torch.long, device=META)),
        ValueError,
        r"tokens on meta",
    ),
    # -- None or a list where a tensor (or a state) is meant
    Bad(
        "relative_attention bias None", lambda: relative_attention(QH, KH, VH, None), TypeError, r"bias must be a torch"
    ),
    Bad(
        "relative_attention bias list", lambda: relative_attention(QH, KH, VH, [[0.0] * 3] * 3), TypeError, "bias must"
    ),
    Bad(
        "relative_attention scale_matrix list",
        lambda: relative_attention(QH, KH, VH, torch.zeros(3, 3), [[1.0] * 3] * 3),
        TypeError,
        "scale_matrix must",
    ),
    Bad("scan_combine a None", lambda: scan_combine(None, state()), TypeError, r"a must be a state \(m, u, w\)"),
    Bad("scan_combine b pair", lambda: scan_combine(state(), state()[:2]), TypeError, r"b must be a state"),
    Bad("attention_rnn k None", lambda: attention_rnn(r(1, 4), None, r(1, 3, 4)), TypeError, r"k must be a torch"),
    Bad("elu_feature_map list", lambda: elu_feature_map([1.0, -1.0]), TypeError, r"x must be a torch.Tensor"),
    Bad("norm_linear_attention q None", lambda: norm_linear_attention(None, K, V), TypeError, r"q must be a torch"),
    Bad("saved_tensor_bytes fn None", lambda: saved_tensor_bytes(None), TypeError, r"fn must be callable"),
    Bad("Encoder tokens list", lambda: Encoder(10)([[1, 2]]), TypeError, r"tokens must be a torch.Tensor"),
    # -- shapes that broadcast where they must agree
    Bad(
        "scan_combine m_b of another shape",
        lambda: scan_combine(state(3), state(4)),
        ValueError,
        r"m_b has shape \(4,\) but m_a has \(3,\)",
    ),
    Bad(
        "scan_combine w_a without the value dim",
        lambda: scan_combine((r(3), r(3), r(3)), state()),
        ValueError,
        r"w_a has shape \(3,\)",
    ),
    # -- floats and bools where an int is meant
    Bad(
        "OneLayerClassifier order float",
        lambda: OneLayerClassifier(5, 4, order=3.0),
        TypeError,
        r"order must be an int",
    ),
    Bad(
        "OneLayerClassifier order True",
        lambda: OneLayerClassifier(5, 4, order=True),
        TypeError,
        r"order must be an int",
    ),
    Bad("toeplitz n float", lambda: toeplitz(r(5), 2.0), TypeError, r"n must be an int"),
    Bad(
        "HypernetworkTransformer d_model float",
        lambda: HypernetworkTransformer(2, 2, 4, d_model=4.0),
        TypeError,
        r"d_model must be an int",
    ),
    Bad(
        "SequenceClassifier d_model float",
        lambda: SequenceClassifier(2, 3, 2, d_model=4.0),
        TypeError,
        r"d_model must be an int",
    ),
    Bad(
        "SequenceClassifier n_heads float",
        lambda: SequenceClassifier(2, 3, 2, n_heads=2.0),
        TypeError,
        r"n_heads must be an int",
    ),
    # -- flags: 1 is not True
    Bad(
        "HypernetworkAttention return_scores int",
        lambda: HypernetworkAttention(4, 2)(r(1, 3, 4), return_scores=1),
        TypeError,
        r"return_scores must be a bool",
    ),
    Bad(
        "HypernetworkTransformer return_codes int",
        lambda: HypernetworkTransformer(2, 2, 4)(r(1, 3, 2), return_codes=1),
        TypeError,
        r"return_codes must be a bool",
    ),
    Bad(
        "RelativeAttention return_weights int",
        lambda: RelativeAttention(4, 2, 8)(r(1, 3, 4), return_weights=1),
        TypeError,
        r"return_weights must be a bool",
    ),
    # -- empty inputs: named by the user's argument, not an internal tensor
    Bad(
        "OneLayerClassifier no tokens",
        lambda: OneLayerClassifier(5, 4)(torch.zeros(2, 0, dtype=torch.long)),
        ValueError,
        r"^tokens has shape \(2, 0\)",
    ),
    Bad(
        "OneLayerClassifier order 2 no tokens",
        lambda: OneLayerClassifier(5, 4, order=2)(torch.zeros(2, 0, dtype=torch.long)),
        ValueError,
        r"^tokens has shape \(2, 0\)",
    ),
    Bad("TensorAttention no tokens", lambda: TensorAttention(4)(r(1, 0, 4)), ValueError, r"^x has shape \(1, 0, 4\)"),
    Bad(
        "match3_head no tokens",
        lambda: match3_head(torch.zeros(1, 0, dtype=torch.long), 5),
        ValueError,
        r"^tokens has shape \(1, 0\)",
    ),
    Bad(
        "HypernetworkAttention no tokens",
        lambda: HypernetworkAttention(4, 2)(r(1, 0, 4)),
        ValueError,
        r"^x has shape \(1, 0, 4\)",
    ),
    Bad(
        "relative_attention no tokens",
        lambda: relative_attention(r(1, 2, 0, 4), r(1, 2, 0, 4), r(1, 2, 0, 4), torch.zeros(0, 0)),
        ValueError,
        r"q has shape \(1, 2, 0, 4\): n=0",
    ),
    Bad("toeplitz empty values", lambda: toeplitz(r(0), 1), ValueError, r"values has shape \(0,\)"),
    Bad(
        "polynomial_tensor_attention polynomial negative on the scores",
        lambda: polynomial_tensor_attention(r(1, 2), r(2, 2), r(2, 2), r(2, 3), r(2, 3), [-1.0]),
        ValueError,
        r"coeffs=\[-1.0\]: the polynomial is not positive",
    ),
    # -- the documented domain of linear attention's feature map
    Bad(
        "linear_attention negative feature map",
        lambda: linear_attention(Q, K, V, feature_map=lambda x: x),
        ValueError,
        r"feature_map\(q\) has negative",
    ),
    Bad(
        "linear_attention_recurrent negative feature map",
        lambda: linear_attention_recurrent(Q, K, V, feature_map=torch.sin),
        ValueError,
        r"feature_map\(q\) has negative",
    ),
    Bad(
        "linear_attention NaN features",
        lambda: linear_attention(Q, K, V, feature_map=lambda x: torch.full_like(x, math.nan)),
        ValueError,
        r"feature_map\(q\) has negative \(or NaN\)",
    ),
    Bad(
        "linear_attention feature map returns None",
        lambda: linear_attention(Q, K, V, feature_map=lambda x: None),
        TypeError,
        r"feature_map\(q\) must return a torch.Tensor",
    ),
    Bad(
        "linear_attention feature map changes the batch shape",
        lambda: linear_attention(Q, K, V, feature_map=lambda x: x.exp().sum(0)),
        ValueError,
        r"feature_map\(q\) has shape \(3, 4\)",
    ),
    Bad(
        "linear_attention feature map returns float64",
        lambda: linear_attention(Q, K, V, feature_map=lambda x: x.exp().double()),
        TypeError,
        r"feature_map\(q\) is torch.float64",
    ),
    Bad(
        "norm_linear_attention feature map returns a list",
        lambda: norm_linear_attention(Q, K, V, feature_map=lambda x: x.tolist()),
        TypeError,
        r"feature_map\(q\) must return a torch.Tensor",
    ),
]


def _scan_value(st):
    """The quantities a state (m, u, w) represents: u e^m and w e^m."""
    m, u, w = st
    return torch.cat([(u * m.exp())[..., None], w * m.exp()[..., None]], dim=-1)


_POLY = (f64(2, 3), f64(4, 3, seed=1), f64(5, 3, seed=2), f64(4, 2, seed=3), f64(5, 2, seed=4))


def _poly_reference(q, k1, k2, v1, v2):
    """sum_jk p(s_ijk) (v1_j * v2_k) / sum_jk p(s_ijk) with p(s) = 1 + s + s^2 / 2, every score formed."""
    s = torch.einsum("ic,jc,kc->ijk", q, k1, k2)
    p = 1 + s + s**2 / 2
    return torch.einsum("ijk,je,ke->ie", p, v1, v2) / p.sum((-2, -1))[:, None]


_A, _B = state(seed=0), state(seed=3)
_XT = r(4, 2).T  # (2, 4), non-contiguous
_PHI_POS = torch.rand(4, 6, generator=torch.Generator().manual_seed(5))  # a positive random-feature map, d -> 6


HANDLED = [
    # a 2-D k/v is shared by every batch and head: broadcast without ambiguity
    Handled(
        "scaled_dot_product_attention 2-D k/v shared by every head",
        lambda: scaled_dot_product_attention(Q4, K3[0], V3[0]),
        _close(_softmax_attention(Q4, K3[0], V3[0])),
    ),
    # k/v with a head dim of 1 (the documented fix) broadcast over the heads
    Handled(
        "scaled_dot_product_attention k/v with a head dim of 1",
        lambda: scaled_dot_product_attention(Q4, K3[:, None], V3[:, None]),
        _close(F.scaled_dot_product_attention(Q4, K3[:, None].expand(2, 2, 5, 4), V3[:, None].expand(2, 2, 5, 4))),
    ),
    Handled(
        "memory_efficient_attention expanded k/v",
        lambda: memory_efficient_attention(Q4, K3[:, None].expand(2, 2, 5, 4), V3[:, None].expand(2, 2, 5, 4)),
        _close(F.scaled_dot_product_attention(Q4, K3[:, None].expand(2, 2, 5, 4), V3[:, None].expand(2, 2, 5, 4))),
    ),
    Handled(
        "scaled_dot_product_attention numpy scale",
        lambda: scaled_dot_product_attention(Q, K, V, scale=np.float32(0.5)),
        _close(F.scaled_dot_product_attention(Q, K, V, scale=0.5)),
    ),
    Handled(
        "causal_mask numpy int",
        lambda: causal_mask(np.int64(3)),
        lambda out: torch.testing.assert_close(out, torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]]).bool()),
    ),
    # T_ij = values[i - j + L - 1] with L = 2: [[v1, v0], [v2, v1]]
    Handled(
        "toeplitz numpy int n",
        lambda: toeplitz(torch.tensor([1.0, 2.0, 3.0]), np.int64(2)),
        _close(torch.tensor([[2.0, 1.0], [3.0, 2.0]])),
    ),
    Handled(
        "OneLayerClassifier numpy int order",
        lambda: OneLayerClassifier(5, 4, order=np.int64(2)).order,
        lambda order: (order == 2 and type(order) is int) or (_ for _ in ()).throw(AssertionError(order)),
    ),
    # linear attention with elu + 1 equals the kernel-attention definition (eps = 0), also on non-contiguous q
    Handled(
        "linear_attention non-contiguous q",
        lambda: linear_attention(r(2, 4, 3).transpose(-2, -1), K, V, eps=0.0),
        _close(_kernel_attention(r(2, 4, 3).transpose(-2, -1), K, V, lambda x: F.elu(x) + 1)),
    ),
    # a positive feature map may change the feature dim (random features, d -> 6)
    Handled(
        "linear_attention feature map of another width",
        lambda: linear_attention(Q, K, V, feature_map=lambda x: (x @ _PHI_POS).exp(), eps=0.0),
        _close(_kernel_attention(Q, K, V, lambda x: (x @ _PHI_POS).exp())),
    ),
    # no denominator in NormAttention: a signed feature map is allowed; phi = identity gives RMS((Q K^T) V)
    Handled(
        "norm_linear_attention signed feature map",
        lambda: norm_linear_attention(Q, K, V, feature_map=lambda x: x, eps=0.0),
        _close(((Q @ K.transpose(-2, -1)) @ V) / ((Q @ K.transpose(-2, -1)) @ V).pow(2).mean(-1, keepdim=True).sqrt()),
    ),
    # u e^m and w e^m add: (m, u, w) (+) (m', u', w') represents their sum
    Handled(
        "scan_combine sums what the states represent",
        lambda: _scan_value(scan_combine(_A, _B)),
        _close(_scan_value(_A) + _scan_value(_B)),
    ),
    Handled(
        "scan_combine expanded states",
        lambda: _scan_value(
            scan_combine(tuple(x.expand(2, *x.shape) for x in _A), tuple(x.expand(2, *x.shape) for x in _B))
        ),
        _close((_scan_value(_A) + _scan_value(_B)).expand(2, 3, 3)),
    ),
    # one token: softmax over one key is 1, so the output is v (times C = 1)
    Handled(
        "relative_attention one token",
        lambda: relative_attention(r(2, 2, 1, 4), r(2, 2, 1, 4, seed=1), r(2, 2, 1, 3, seed=2), torch.zeros(1, 1)),
        _close(r(2, 2, 1, 3, seed=2)),
    ),
    Handled(
        "rms_norm non-contiguous x",
        lambda: rms_norm(_XT, eps=1e-6),
        _close(F.rms_norm(_XT.contiguous(), (4,), eps=1e-6)),
    ),
    Handled(
        "LayerNorm expanded x",
        lambda: LayerNorm(4)(r(4)[None].expand(3, 4)),
        _close(F.layer_norm(r(4), (4,)).expand(3, 4)),
    ),
    # position 0 is the identity rotation
    Handled(
        "RotaryEmbedding numpy offset 0 on one token",
        lambda: RotaryEmbedding(4)(r(2, 1, 4), offset=np.int64(0)),
        _close(r(2, 1, 4)),
    ),
    Handled(
        "khatri_rao size-1 first factor",
        lambda: khatri_rao(r(1, 3), r(2, 3, seed=1)),
        _close(r(1, 3) * r(2, 3, seed=1)),
    ),
    # meta tensors hold no values (shape and FLOP counting): the feature map's sign cannot be read, the shape comes out
    Handled(
        "linear_attention on meta tensors",
        lambda: linear_attention(*(torch.empty(2, 3, 4, device=META) for _ in range(3)), causal=True).shape,
        lambda shape: shape == (2, 3, 4) or (_ for _ in ()).throw(AssertionError(shape)),
    ),
    Handled(
        "padding_mask lengths on meta",
        lambda: padding_mask(torch.tensor([1, 2], device=META), 3).shape,
        lambda shape: shape == (2, 1, 1, 3) or (_ for _ in ()).throw(AssertionError(shape)),
    ),
    # p(s) = 1 + s + s^2/2 > 0 everywhere, coefficients as a numpy array: against the scores written out
    Handled(
        "polynomial_tensor_attention numpy coeffs",
        lambda: polynomial_tensor_attention(*_POLY, np.array([1.0, 1.0, 0.5])),
        _close(_poly_reference(*_POLY)),
    ),
    Handled(
        "elu_feature_map expanded x",
        lambda: elu_feature_map(torch.tensor([-1.0, 0.0, 2.0]).expand(2, 3)),
        _close(torch.tensor([math.exp(-1.0), 1.0, 3.0]).expand(2, 3)),
    ),
]


test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
