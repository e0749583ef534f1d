"""Every public function and class of ``minitorch_xf.nn`` called as a careless user would.

Each entry of ``BAD`` is a bad call that must raise up front with a message naming the bad argument (the
``match`` pattern); each entry of ``HANDLED`` is an odd but valid call whose documented answer we check.
"""

from __future__ import annotations

import math

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.nn import (
    Decoder,
    FeedForward,
    LayerNorm,
    LearnedPositionalEmbedding,
    LoopedTransformer,
    LoRALinear,
    MacaronBlock,
    MultiHeadAttention,
    RMSNorm,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    TransformerBlock,
    causal_mask,
    chunked_attention,
    count_parameters,
    layer_norm,
    make_norm,
    padding_mask,
    rms_norm,
    scaled_dot_product_attention,
    sinusoidal_table,
    softmax,
)

pytestmark = pytest.mark.ch01


NAN, INF = math.nan, math.inf
META = torch.device("meta")


def ids(b, n, vocab=11):
    return torch.randint(0, vocab, (b, n), generator=torch.Generator().manual_seed(0))


def bmask(*shape):
    return torch.ones(*shape, dtype=torch.bool)


Q, K, V = r(2, 3, 5, 4), r(2, 3, 5, 4, seed=1), r(2, 3, 5, 6, seed=2)  # (b, h, s, d), b != s
QS = r(5, 2, 5, 4)  # (b, h, s, d) with b == s: a (b, t) padding mask has the shape of an (s, t) mask
X = r(2, 5, 8)  # (b, n, m)
XS = r(4, 4, 8)  # (b, n, m) with b == n


def mha():
    torch.manual_seed(0)
    return MultiHeadAttention(8, 2)


def decoder():
    torch.manual_seed(0)
    return Decoder(11, d_model=8, n_heads=2, n_layers=1, max_len=12)


def lora():
    torch.manual_seed(0)
    layer = LoRALinear(torch.nn.Linear(4, 3), rank=2, n_adapters=2)
    with torch.no_grad():
        layer.lora_b.copy_(r(*layer.lora_b.shape, seed=1))  # non-zero adapters, one different pair per loop
    return layer


def lora_active(a):
    layer = lora()
    layer.active = a
    return layer(r(2, 4))


def looped():
    torch.manual_seed(0)
    return LoopedTransformer(4, d_model=8, n_heads=2)


BAD = [
    # ---- causal_mask, padding_mask, softmax
    Bad("causal_mask s=0", lambda: causal_mask(0), ValueError, r"s=0 must be > 0"),
    Bad("causal_mask s<0", lambda: causal_mask(-3), ValueError, r"s=-3"),
    Bad("causal_mask s float", lambda: causal_mask(2.5), TypeError, r"s must be an int, got 2.5"),
    Bad("causal_mask s bool", lambda: causal_mask(True), TypeError, r"s must be an int, got True"),
    Bad("causal_mask t=0", lambda: causal_mask(3, 0), ValueError, r"t=0"),
    Bad("causal_mask t nan", lambda: causal_mask(3, NAN), TypeError, r"t must be an int, got nan"),
    Bad("padding_mask list", lambda: padding_mask([1, 2], 3), TypeError, r"lengths must be a torch.Tensor"),
    Bad("padding_mask float", lambda: padding_mask(torch.tensor([1.0]), 3), TypeError, r"lengths must be an integer"),
    Bad("padding_mask bool", lambda: padding_mask(torch.tensor([True]), 3), TypeError, r"lengths must be an integer"),
    Bad("padding_mask 2-D", lambda: padding_mask(torch.tensor([[1]]), 3), ValueError, r"lengths must have 1 dims"),
    Bad("padding_mask too long", lambda: padding_mask(torch.tensor([4]), 3), ValueError, r"lengths must lie in"),
    Bad("padding_mask negative", lambda: padding_mask(torch.tensor([-1]), 3), ValueError, r"lengths must lie in"),
    Bad("padding_mask t float", lambda: padding_mask(torch.tensor([1]), 2.5), TypeError, r"t must be an int"),
    Bad("padding_mask t=0", lambda: padding_mask(torch.tensor([0]), 0), ValueError, r"t=0"),
    Bad("padding_mask t<0", lambda: padding_mask(torch.tensor([0]), -1), ValueError, r"t=-1"),
    Bad("softmax list", lambda: softmax([1.0, 2.0]), TypeError, r"scores must be a torch.Tensor"),
    Bad("softmax int", lambda: softmax(torch.tensor([1, 2])), TypeError, r"scores must be a floating"),
    Bad("softmax dim out of range", lambda: softmax(r(3, 4), dim=2), ValueError, r"dim=2"),
    Bad("softmax dim float", lambda: softmax(r(3, 4), dim=1.0), TypeError, r"dim must be an int"),
    # ---- scaled_dot_product_attention
    Bad("sdpa q str", lambda: scaled_dot_product_attention("q", K, V), TypeError, r"q must be a torch.Tensor"),
    Bad("sdpa q 1-D", lambda: scaled_dot_product_attention(r(4), r(4), r(4)), ValueError, r"q must have at least 2"),
    Bad("sdpa q int", lambda: scaled_dot_product_attention(Q.long(), K, V), TypeError, r"q must be a floating"),
    Bad("sdpa d mismatch", lambda: scaled_dot_product_attention(Q, r(2, 3, 5, 5), V), ValueError, r"d=4.*d=5"),
    Bad("sdpa t mismatch", lambda: scaled_dot_product_attention(Q, K, r(2, 3, 6, 6)), ValueError, r"k and v must"),
    Bad("sdpa dtypes", lambda: scaled_dot_product_attention(Q, K.double(), V), TypeError, r"k: torch.float64"),
    Bad(
        "sdpa q/k heads",
        lambda: scaled_dot_product_attention(Q, r(2, 4, 5, 4), r(2, 4, 5, 6)),
        ValueError,
        r"q has shape \(2, 3, 5, 4\).*k has shape \(2, 4, 5, 4\)",
    ),
    Bad(
        "sdpa k/v heads",
        lambda: scaled_dot_product_attention(Q, K, r(2, 2, 5, 6)),
        ValueError,
        r"v has shape \(2, 2, 5, 6\)",
    ),
    Bad("sdpa d=0", lambda: scaled_dot_product_attention(r(2, 5, 0), r(2, 5, 0), r(2, 5, 3)), ValueError, r"d=0"),
    Bad("sdpa t=0", lambda: scaled_dot_product_attention(r(2, 5, 4), r(2, 0, 4), r(2, 0, 3)), ValueError, r"t=0"),
    Bad("sdpa mask float", lambda: scaled_dot_product_attention(Q, K, V, mask=torch.ones(5, 5)), TypeError, r"mask"),
    Bad("sdpa mask list", lambda: scaled_dot_product_attention(Q, K, V, mask=[[True]]), TypeError, r"mask must be"),
    Bad(
        "sdpa mask (s, t+1)",
        lambda: scaled_dot_product_attention(Q, K, V, mask=bmask(1, 1, 5, 6)),
        ValueError,
        r"mask of shape \(1, 1, 5, 6\)",
    ),
    Bad(
        "sdpa (b, t) mask, b != s",
        lambda: scaled_dot_product_attention(Q, K, V, mask=bmask(2, 5)),
        ValueError,
        r"mask of shape \(2, 5\)",
    ),
    Bad(
        "sdpa (b, t) mask, b == s",
        lambda: scaled_dot_product_attention(QS, QS, QS, mask=bmask(5, 5)),
        ValueError,
        r"mask of shape \(5, 5\)",
    ),
    Bad(
        "sdpa (b, s, t) mask on 4-D",
        lambda: scaled_dot_product_attention(QS, QS, QS, mask=bmask(5, 5, 5)),
        ValueError,
        r"mask of shape \(5, 5, 5\)",
    ),
    Bad(
        "sdpa mask device",
        lambda: scaled_dot_product_attention(Q, K, V, mask=bmask(1, 1, 5, 5).to(META)),
        ValueError,
        r"mask on meta",
    ),
    Bad("sdpa k device", lambda: scaled_dot_product_attention(Q, K.to(META), V), ValueError, r"k on meta"),
    Bad("sdpa scale nan", lambda: scaled_dot_product_attention(Q, K, V, scale=NAN), ValueError, r"scale=nan"),
    Bad("sdpa scale inf", lambda: scaled_dot_product_attention(Q, K, V, scale=INF), ValueError, r"scale=inf"),
    Bad("sdpa scale 0", lambda: scaled_dot_product_attention(Q, K, V, scale=0.0), ValueError, r"scale=0.0"),
    Bad("sdpa scale<0", lambda: scaled_dot_product_attention(Q, K, V, scale=-1.0), ValueError, r"scale=-1.0"),
    Bad("sdpa scale bool", lambda: scaled_dot_product_attention(Q, K, V, scale=True), TypeError, r"scale must be"),
    Bad(
        "sdpa scale tensor",
        lambda: scaled_dot_product_attention(Q, K, V, scale=torch.tensor(0.5)),
        TypeError,
        r"scale must be",
    ),
    Bad(
        "sdpa mask passed as causal",
        lambda: scaled_dot_product_attention(Q, K, V, None, bmask(5, 5)),
        TypeError,
        r"causal must be a bool",
    ),
    # ---- chunked_attention
    Bad("chunked chunk_size=0", lambda: chunked_attention(Q, K, V, chunk_size=0), ValueError, r"chunk_size=0"),
    Bad("chunked chunk_size<0", lambda: chunked_attention(Q, K, V, chunk_size=-2), ValueError, r"chunk_size=-2"),
    Bad("chunked chunk_size float", lambda: chunked_attention(Q, K, V, chunk_size=2.5), TypeError, r"chunk_size"),
    Bad("chunked chunk_size bool", lambda: chunked_attention(Q, K, V, chunk_size=True), TypeError, r"chunk_size"),
    Bad(
        "chunked key_padding float",
        lambda: chunked_attention(Q, K, V, key_padding=torch.ones(2, 1, 5)),
        TypeError,
        r"key_padding must be a bool",
    ),
    Bad(
        "chunked key_padding (b, t), b == h",
        lambda: chunked_attention(r(2, 2, 3, 4), r(2, 2, 3, 4), r(2, 2, 3, 4), key_padding=bmask(2, 3)),
        ValueError,
        r"key_padding has shape \(2, 3\)",
    ),
    Bad(
        "chunked key_padding wrong t",
        lambda: chunked_attention(Q, K, V, key_padding=bmask(2, 1, 4)),
        ValueError,
        r"key_padding has shape \(2, 1, 4\)",
    ),
    Bad(
        "chunked key_padding list",
        lambda: chunked_attention(Q, K, V, key_padding=[True] * 5),
        TypeError,
        r"key_padding must be a torch.Tensor",
    ),
    Bad("chunked scale nan", lambda: chunked_attention(Q, K, V, scale=NAN), ValueError, r"scale=nan"),
    Bad("chunked causal str", lambda: chunked_attention(Q, K, V, causal="yes"), TypeError, r"causal must be a bool"),
    Bad("chunked heads", lambda: chunked_attention(Q, r(2, 4, 5, 4), r(2, 4, 5, 6)), ValueError, r"k has shape"),
    Bad("chunked d=0", lambda: chunked_attention(r(2, 5, 0), r(2, 5, 0), r(2, 5, 3)), ValueError, r"d=0"),
    Bad("chunked t=0", lambda: chunked_attention(r(2, 5, 4), r(2, 0, 4), r(2, 0, 3)), ValueError, r"t=0"),
    Bad("chunked q int", lambda: chunked_attention(Q.long(), K, V), TypeError, r"q must be a floating"),
    # ---- MultiHeadAttention
    Bad("MHA n_heads=0", lambda: MultiHeadAttention(8, 0), ValueError, r"n_heads=0"),
    Bad("MHA d_model=0", lambda: MultiHeadAttention(0, 2), ValueError, r"d_model=0"),
    Bad("MHA not divisible", lambda: MultiHeadAttention(8, 3), ValueError, r"d_model=8 is not divisible by n_heads=3"),
    Bad("MHA n_heads float", lambda: MultiHeadAttention(8, 2.0), TypeError, r"n_heads must be an int"),
    Bad("MHA n_heads<0", lambda: MultiHeadAttention(8, -2), ValueError, r"n_heads=-2"),
    Bad("MHA rope int", lambda: MultiHeadAttention(8, 2, rope=5), TypeError, r"rope must be a RotaryEmbedding"),
    Bad("MHA rope dim", lambda: MultiHeadAttention(8, 2, rope=RotaryEmbedding(2)), ValueError, r"rope.dim=2"),
    Bad("MHA float64 x", lambda: mha()(X.double()), TypeError, r"x has dtype torch.float64.*torch.float32"),
    Bad("MHA float64 context", lambda: mha()(X, context=X.double()), TypeError, r"context has dtype torch.float64"),
    Bad("MHA x 2-D", lambda: mha()(r(5, 8)), ValueError, r"x must have 3 dims"),
    Bad("MHA x int", lambda: mha()(X.long()), TypeError, r"x must be a floating"),
    Bad("MHA x width", lambda: mha()(r(2, 5, 6)), ValueError, r"d_model=8"),
    Bad("MHA context batch", lambda: mha()(X, context=r(3, 5, 8)), ValueError, r"context has shape \(3, 5, 8\)"),
    Bad("MHA (b, t) mask, b == s", lambda: mha()(XS, mask=bmask(4, 4)), ValueError, r"mask of shape \(4, 4\)"),
    Bad("MHA (b, t) mask, b != s", lambda: mha()(X, mask=bmask(2, 5)), ValueError, r"mask of shape \(2, 5\)"),
    Bad("MHA float mask", lambda: mha()(X, mask=torch.ones(2, 1, 1, 5)), TypeError, r"mask must be a bool"),
    Bad("MHA causal str", lambda: mha()(X, causal="yes"), TypeError, r"causal must be a bool"),
    Bad("MHA empty x", lambda: mha()(r(2, 0, 8)), ValueError, r"x has shape \(2, 0, 8\)"),
    Bad("MHA empty context", lambda: mha()(X, context=r(2, 0, 8)), ValueError, r"context has shape \(2, 0, 8\)"),
    Bad("MHA x device", lambda: mha()(X.to(META)), ValueError, r"x on meta"),
    # ---- blocks
    Bad("block n_heads=0", lambda: TransformerBlock(8, 0), ValueError, r"n_heads=0"),
    Bad("block d_ff=0", lambda: TransformerBlock(8, 2, d_ff=0), ValueError, r"d_ff=0"),
    Bad("block activation", lambda: TransformerBlock(8, 2, activation="tanh"), ValueError, r"activation='tanh'"),
    Bad("block norm", lambda: TransformerBlock(8, 2, norm="batch"), ValueError, r"norm='batch'"),
    Bad("block dropout>1", lambda: TransformerBlock(8, 2, dropout=1.5), ValueError, r"dropout"),
    Bad("block dropout nan", lambda: TransformerBlock(8, 2, dropout=NAN), ValueError, r"dropout=nan"),
    Bad("block norm_first str", lambda: TransformerBlock(8, 2, norm_first="post"), TypeError, r"norm_first must be"),
    Bad("block float64 x", lambda: TransformerBlock(8, 2)(X.double()), TypeError, r"x has dtype torch.float64"),
    Bad("block causal str", lambda: TransformerBlock(8, 2)(X, causal="yes"), TypeError, r"causal must be a bool"),
    Bad("block (b, t) mask", lambda: TransformerBlock(8, 2)(XS, mask=bmask(4, 4)), ValueError, r"mask of shape"),
    Bad("macaron d_ff odd", lambda: MacaronBlock(8, 2, d_ff=7), ValueError, r"d_ff=7"),
    Bad("macaron d_ff<0", lambda: MacaronBlock(8, 2, d_ff=-2), ValueError, r"d_ff=-2"),
    Bad("macaron d_ff float", lambda: MacaronBlock(8, 2, d_ff=8.0), TypeError, r"d_ff must be an int, got 8.0"),
    Bad("macaron n_heads=0", lambda: MacaronBlock(8, 0), ValueError, r"n_heads=0"),
    Bad("macaron dropout<0", lambda: MacaronBlock(8, 2, dropout=-0.1), ValueError, r"dropout"),
    Bad("macaron float64 x", lambda: MacaronBlock(8, 2)(X.double()), TypeError, r"x has dtype torch.float64"),
    Bad("make_norm kind", lambda: make_norm("batch", 8), ValueError, r"norm='batch'"),
    Bad("make_norm d_model=0", lambda: make_norm("layer", 0), ValueError, r"d_model=0"),
    # ---- FeedForward
    Bad("ffn d_model=0", lambda: FeedForward(0), ValueError, r"d_model=0"),
    Bad("ffn d_ff=0", lambda: FeedForward(8, 0), ValueError, r"d_ff=0"),
    Bad("ffn activation", lambda: FeedForward(8, activation="tanh"), ValueError, r"activation='tanh'"),
    Bad("ffn dropout>1", lambda: FeedForward(8, dropout=2.0), ValueError, r"dropout"),
    Bad("ffn float64 x", lambda: FeedForward(8)(r(2, 8).double()), TypeError, r"x has dtype torch.float64"),
    Bad("ffn x width", lambda: FeedForward(8)(r(2, 6)), ValueError, r"d_model=8"),
    Bad("ffn x int", lambda: FeedForward(8)(torch.ones(2, 8, dtype=torch.long)), TypeError, r"x must be a floating"),
    # ---- norms
    Bad("LayerNorm d_model=0", lambda: LayerNorm(0), ValueError, r"d_model=0"),
    Bad("LayerNorm eps<0", lambda: LayerNorm(8, eps=-1e-5), ValueError, r"eps=-1e-05"),
    Bad("LayerNorm eps nan", lambda: LayerNorm(8, eps=NAN), ValueError, r"eps=nan"),
    Bad("LayerNorm eps bool", lambda: LayerNorm(8, eps=True), TypeError, r"eps must be a real number"),
    Bad("LayerNorm x width", lambda: LayerNorm(8)(r(2, 6)), ValueError, r"last dim must be 8"),
    Bad("RMSNorm eps<0", lambda: RMSNorm(8, eps=-1.0), ValueError, r"eps=-1.0"),
    Bad("RMSNorm eps inf", lambda: RMSNorm(8, eps=INF), ValueError, r"eps=inf"),
    Bad("RMSNorm x int", lambda: RMSNorm(8)(torch.ones(2, 8, dtype=torch.long)), TypeError, r"x must be a floating"),
    Bad("layer_norm weight shape", lambda: layer_norm(r(2, 8), weight=r(7)), ValueError, r"weight has shape \(7,\)"),
    Bad("layer_norm bias shape", lambda: layer_norm(r(2, 8), bias=r(7)), ValueError, r"bias has shape \(7,\)"),
    Bad("layer_norm eps<0", lambda: layer_norm(r(2, 8), eps=-1.0), ValueError, r"eps=-1.0"),
    Bad("layer_norm x str", lambda: layer_norm("x"), TypeError, r"x must be a torch.Tensor"),
    Bad("layer_norm weight list", lambda: layer_norm(r(2, 8), weight=[1.0] * 8), TypeError, r"weight must be a"),
    Bad("rms_norm weight shape", lambda: rms_norm(r(2, 8), weight=r(3)), ValueError, r"weight has shape \(3,\)"),
    Bad("rms_norm eps nan", lambda: rms_norm(r(2, 8), eps=NAN), ValueError, r"eps=nan"),
    # ---- positions
    Bad("sinusoidal_table n=0", lambda: sinusoidal_table(0, 8), ValueError, r"n=0"),
    Bad("sinusoidal_table odd", lambda: sinusoidal_table(4, 7), ValueError, r"d_model=7"),
    Bad("sinusoidal_table base nan", lambda: sinusoidal_table(4, 8, base=NAN), ValueError, r"base=nan"),
    Bad("sinusoidal_table base 0", lambda: sinusoidal_table(4, 8, base=0.0), ValueError, r"base=0.0"),
    Bad("sinusoidal_table base<0", lambda: sinusoidal_table(4, 8, base=-2.0), ValueError, r"base=-2.0"),
    Bad("Sinusoidal max_len=0", lambda: SinusoidalPositionalEncoding(8, max_len=0), ValueError, r"max_len=0"),
    Bad("Sinusoidal odd", lambda: SinusoidalPositionalEncoding(7), ValueError, r"d_model=7"),
    Bad("Sinusoidal max_len float", lambda: SinusoidalPositionalEncoding(8, 2.5), TypeError, r"max_len must be an int"),
    Bad("Sinusoidal x width", lambda: SinusoidalPositionalEncoding(8)(r(2, 3, 6)), ValueError, r"d_model=8"),
    Bad("Sinusoidal too long", lambda: SinusoidalPositionalEncoding(8, 4)(r(2, 5, 8)), ValueError, r"max_len=4"),
    Bad("Learned d_model=0", lambda: LearnedPositionalEmbedding(0), ValueError, r"d_model=0"),
    Bad("Learned max_len<0", lambda: LearnedPositionalEmbedding(8, max_len=-1), ValueError, r"max_len=-1"),
    Bad("Learned x 2-D", lambda: LearnedPositionalEmbedding(8)(r(3, 8)), ValueError, r"x must have 3 dims"),
    Bad("RoPE odd", lambda: RotaryEmbedding(3), ValueError, r"dim=3"),
    Bad("RoPE dim=0", lambda: RotaryEmbedding(0), ValueError, r"dim=0"),
    Bad("RoPE base nan", lambda: RotaryEmbedding(4, base=NAN), ValueError, r"base=nan"),
    Bad("RoPE base 0", lambda: RotaryEmbedding(4, base=0.0), ValueError, r"base=0.0"),
    Bad("RoPE x width", lambda: RotaryEmbedding(4)(r(2, 3, 6)), ValueError, r"RoPE dim 4"),
    Bad("RoPE x 1-D", lambda: RotaryEmbedding(4)(r(4)), ValueError, r"x must have at least 2 dims"),
    Bad("RoPE offset<0", lambda: RotaryEmbedding(4)(r(2, 3, 4), offset=-1), ValueError, r"offset=-1"),
    Bad("RoPE offset float", lambda: RotaryEmbedding(4)(r(2, 3, 4), offset=1.5), TypeError, r"offset must be an int"),
    # ---- models
    Bad("Decoder n_heads=0", lambda: Decoder(11, n_heads=0), ValueError, r"n_heads=0"),
    Bad("Decoder d_model=0", lambda: Decoder(11, d_model=0), ValueError, r"d_model=0"),
    Bad("Decoder d_model<0", lambda: Decoder(11, d_model=-8), ValueError, r"d_model=-8"),
    Bad("Decoder not divisible", lambda: Decoder(11, d_model=10, n_heads=4), ValueError, r"d_model=10 is not divis"),
    Bad("Decoder vocab_size=0", lambda: Decoder(0), ValueError, r"vocab_size=0"),
    Bad("Decoder vocab_size float", lambda: Decoder(11.0), TypeError, r"vocab_size must be an int"),
    Bad("Decoder n_layers=0", lambda: Decoder(11, n_layers=0), ValueError, r"n_layers=0"),
    Bad("Decoder max_len=0", lambda: Decoder(11, max_len=0), ValueError, r"max_len=0"),
    Bad("Decoder positions", lambda: Decoder(11, positions="alibi"), ValueError, r"positions='alibi'"),
    Bad("Decoder norm", lambda: Decoder(11, norm="batch"), ValueError, r"norm='batch'"),
    Bad("Decoder n_out=0", lambda: Decoder(11, n_out=0), ValueError, r"n_out=0"),
    Bad("Decoder n_out<0", lambda: Decoder(11, n_out=-1), ValueError, r"n_out=-1"),
    Bad("Decoder dropout nan", lambda: Decoder(11, dropout=NAN), ValueError, r"dropout=nan"),
    Bad("Decoder odd rope head", lambda: Decoder(11, d_model=12, positions="rope"), ValueError, r"head dim"),
    Bad("Decoder d_ff=0", lambda: Decoder(11, d_ff=0), ValueError, r"d_ff=0"),
    Bad("Decoder activation", lambda: Decoder(11, activation="tanh"), ValueError, r"activation='tanh'"),
    Bad("Decoder norm_first str", lambda: Decoder(11, norm_first="post"), TypeError, r"norm_first must be a bool"),
    Bad("decoder float tokens", lambda: decoder()(torch.zeros(1, 3)), TypeError, r"tokens must be"),
    Bad("decoder uint8 tokens", lambda: decoder()(ids(1, 3).to(torch.uint8)), TypeError, r"tokens must be"),
    Bad("decoder tokens 1-D", lambda: decoder()(torch.tensor([1, 2])), ValueError, r"tokens must have 2 dims"),
    Bad("decoder token >= vocab", lambda: decoder()(torch.tensor([[1, 11]])), ValueError, r"vocab_size=11"),
    Bad("decoder token < 0", lambda: decoder()(torch.tensor([[-1, 2]])), ValueError, r"min -1"),
    Bad("decoder too long", lambda: decoder()(ids(1, 13)), ValueError, r"max_len=12"),
    Bad("decoder no tokens", lambda: decoder()(ids(1, 0)), ValueError, r"tokens has shape \(1, 0\)"),
    Bad("decoder (b, t) mask", lambda: decoder()(ids(4, 4), mask=bmask(4, 4)), ValueError, r"mask of shape \(4, 4\)"),
    Bad("decoder tokens device", lambda: decoder()(ids(1, 3).to(META)), ValueError, r"tokens on meta"),
    Bad("generate float prompt", lambda: decoder().generate(torch.zeros(1, 3), 2), TypeError, r"prompt must be"),
    Bad("generate n_new=0", lambda: decoder().generate(ids(1, 3), 0), ValueError, r"n_new=0"),
    Bad("generate n_new float", lambda: decoder().generate(ids(1, 3), 2.0), TypeError, r"n_new must be an int"),
    Bad("generate empty prompt", lambda: decoder().generate(ids(1, 0), 3), ValueError, r"prompt has shape \(1, 0\)"),
    Bad("generate 1-D prompt", lambda: decoder().generate(torch.tensor([1, 2]), 3), ValueError, r"prompt must have 2"),
    Bad("count_parameters str", lambda: count_parameters("model"), TypeError, r"model must be an nn.Module"),
    # ---- LoRA and the looped transformer
    Bad("LoRA base", lambda: LoRALinear(torch.nn.Conv1d(2, 2, 1), 2, 2), TypeError, r"base must be an nn.Linear"),
    Bad("LoRA rank=0", lambda: LoRALinear(torch.nn.Linear(4, 3), 0, 2), ValueError, r"rank=0"),
    Bad("LoRA rank float", lambda: LoRALinear(torch.nn.Linear(4, 3), 2.5, 2), TypeError, r"rank must be an int"),
    Bad("LoRA n_adapters=0", lambda: LoRALinear(torch.nn.Linear(4, 3), 2, 0), ValueError, r"n_adapters=0"),
    Bad("LoRA alpha nan", lambda: LoRALinear(torch.nn.Linear(4, 3), 2, 2, alpha=NAN), ValueError, r"alpha=nan"),
    Bad("LoRA alpha 0", lambda: LoRALinear(torch.nn.Linear(4, 3), 2, 2, alpha=0.0), ValueError, r"alpha=0.0"),
    Bad("LoRA x width", lambda: lora()(r(2, 5)), ValueError, r"x has shape \(2, 5\)"),
    Bad("LoRA float64 x", lambda: lora()(r(2, 4).double()), TypeError, r"x has dtype torch.float64"),
    Bad("LoRA active<0", lambda: lora_active(-1), ValueError, r"active=-1"),
    Bad("LoRA active float", lambda: lora_active(0.5), TypeError, r"active must be an int"),
    Bad("Looped n_heads=0", lambda: LoopedTransformer(4, n_heads=0), ValueError, r"n_heads=0"),
    Bad("Looped d_in=0", lambda: LoopedTransformer(0), ValueError, r"d_in=0"),
    Bad("Looped n_loops=0", lambda: LoopedTransformer(4, n_loops=0), ValueError, r"n_loops=0"),
    Bad("Looped lora_rank<0", lambda: LoopedTransformer(4, lora_rank=-1), ValueError, r"lora_rank=-1"),
    Bad("Looped lora_alpha nan", lambda: LoopedTransformer(4, lora_rank=2, lora_alpha=NAN), ValueError, r"alpha=nan"),
    Bad("Looped d_out=0", lambda: LoopedTransformer(4, d_out=0), ValueError, r"d_out=0"),
    Bad("Looped norm", lambda: LoopedTransformer(4, norm="batch"), ValueError, r"norm='batch'"),
    Bad("Looped d_model<0", lambda: LoopedTransformer(4, d_model=-8), ValueError, r"d_model=-8"),
    Bad("looped float64 x", lambda: looped()(r(2, 3, 4).double()), TypeError, r"x has dtype torch.float64"),
    Bad("looped x width", lambda: looped()(r(2, 3, 5)), ValueError, r"d_in=4"),
    Bad("looped n_loops=0", lambda: looped()(r(2, 3, 4), n_loops=0), ValueError, r"n_loops=0"),
    Bad("looped no positions", lambda: looped()(r(2, 0, 4)), ValueError, r"x has shape \(2, 0, 4\)"),
    Bad("looped too long", lambda: looped()(r(1, 257, 4)), ValueError, r"max_len=256"),
]


def _close(expected):
    def check(got):
        torch.testing.assert_close(got, expected)

    return check


def _shape(*shape):
    def check(got):
        assert tuple(got.shape) == shape, f"shape {tuple(got.shape)} != {shape}"

    return check


def _all_nan(got):
    assert torch.isnan(got).all(), "a NaN input must give NaN, not a finite value"


def _mha_empty_batch():
    return mha()(r(0, 5, 8))


def _decoder_empty_batch():
    return decoder()(ids(0, 3))


HANDLED = [
    # no queries: an empty output, not an error
    Handled("sdpa s=0", lambda: scaled_dot_product_attention(r(2, 0, 4), r(2, 5, 4), r(2, 5, 3)), _shape(2, 0, 3)),
    Handled("chunked s=0", lambda: chunked_attention(r(2, 0, 4), r(2, 5, 4), r(2, 5, 3)), _shape(2, 0, 3)),
    Handled(
        "sdpa empty batch", lambda: scaled_dot_product_attention(r(0, 5, 4), r(0, 5, 4), r(0, 5, 3)), _shape(0, 5, 3)
    ),
    Handled("softmax empty dim", lambda: softmax(r(3, 0)), _shape(3, 0)),
    Handled("MHA empty batch", _mha_empty_batch, _shape(0, 5, 8)),
    Handled("decoder empty batch", _decoder_empty_batch, _shape(0, 3, 11)),
    # NaN in a tensor is not scanned for (a device sync per call): it propagates to the output
    Handled(
        "sdpa NaN query row",
        lambda: scaled_dot_product_attention(torch.full((1, 4), NAN), r(3, 4), r(3, 2))[0],
        _all_nan,
    ),
    # a 2-D mask on 2-D scores is the full-rank (s, t) mask
    Handled(
        "sdpa (s, t) mask on (s, t) scores",
        lambda: scaled_dot_product_attention(r(3, 4), r(3, 4), r(3, 2), mask=torch.eye(3, dtype=torch.bool)),
        _close(r(3, 2)),
    ),
    # causal with more queries than keys: the first s - t queries see no key and get a zero output
    Handled(
        "sdpa causal s > t",
        lambda: scaled_dot_product_attention(r(4, 2), r(2, 2), r(2, 3), causal=True)[:2],
        _close(torch.zeros(2, 3)),
    ),
    # LoRA past the last adapter reuses the last one
    Handled("LoRA active past the last", lambda: lora_active(5) - lora_active(1), _close(torch.zeros(2, 3))),
]


test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
