"""From-scratch transformer building blocks, each tested against torch's own implementation.

Bad arguments raise up front with a message that names them (``minitorch_xf._validate``). Tensor *values* are not
scanned (that would cost a device synchronisation per call): a NaN in an input gives NaN in the output.
"""

from .attention import (
    MultiHeadAttention,
    causal_mask,
    chunked_attention,
    padding_mask,
    scaled_dot_product_attention,
    softmax,
)
from .blocks import MacaronBlock, TransformerBlock, make_norm
from .ffn import FeedForward
from .hyla import HypernetworkAttention, HypernetworkTransformer
from .models import Decoder, Encoder, LoopedTransformer, LoRALinear, TransformerStack, count_parameters
from .norms import LayerNorm, RMSNorm, layer_norm, rms_norm
from .positional import LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding, sinusoidal_table
from .relative import RelativeAttention, relative_attention, toeplitz

__all__ = [
    "Decoder",
    "Encoder",
    "FeedForward",
    "HypernetworkAttention",
    "HypernetworkTransformer",
    "LayerNorm",
    "LearnedPositionalEmbedding",
    "LoRALinear",
    "LoopedTransformer",
    "MacaronBlock",
    "MultiHeadAttention",
    "RMSNorm",
    "RelativeAttention",
    "RotaryEmbedding",
    "SinusoidalPositionalEncoding",
    "TransformerBlock",
    "TransformerStack",
    "causal_mask",
    "chunked_attention",
    "count_parameters",
    "layer_norm",
    "make_norm",
    "padding_mask",
    "relative_attention",
    "rms_norm",
    "scaled_dot_product_attention",
    "sinusoidal_table",
    "softmax",
    "toeplitz",
]
