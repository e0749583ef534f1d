"""From-scratch transformer building blocks, each tested against torch's own implementation.

Bad arguments raise up front with a message that names them (``minitorch_xf._validate``). Tensor *values* are not
scanned (that would cost a device synchronisation per call): a NaN in an input gives NaN in the output. The
exceptions are values a documented domain constrains: token ids (in ``[0, vocab_size)``), sequence lengths, and the
features of linear attention's ``feature_map`` (non-negative). Sizes that would allocate more than 2**31 elements
are refused with the count they would need.
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
from .chunkwise import causal_linear_chunkwise
from .dispatch import register_attention_backend
from .ffn import FeedForward
from .gps import GPSLayer, GraphNet, VirtualNode
from .higher_order import (
    OneLayerClassifier,
    TensorAttention,
    khatri_rao,
    match3_head,
    match3_sharpness,
    polynomial_tensor_attention,
    tensor_attention,
    tensor_attention_explicit,
)
from .hyla import HypernetworkAttention, HypernetworkTransformer
from .kernelized import NormAttention, linear_attention, linear_attention_recurrent
from .matformer import MatFormerFFN, matformer_loss, matformerize
from .memory_efficient import memory_efficient_attention, set_attention_backend
from .message_passing import GraphAttentionLayer, GraphTransformerLayer, MPNNLayer, scatter_softmax, scatter_sum
from .minimal import MinimalAttention, SequenceClassifier
from .models import Decoder, Encoder, LoopedTransformer, LoRALinear, TransformerStack, count_parameters
from .norms import LayerNorm, RMSNorm, layer_norm, rms_norm
from .positional import LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding, sinusoidal_table
from .relative import RelativeAttention, relative_attention, toeplitz
from .scan_attention import attention_rnn, prefix_scan_attention, scan_combine

__all__ = [
    "Decoder",
    "Encoder",
    "FeedForward",
    "GPSLayer",
    "GraphAttentionLayer",
    "GraphNet",
    "GraphTransformerLayer",
    "HypernetworkAttention",
    "HypernetworkTransformer",
    "LayerNorm",
    "LearnedPositionalEmbedding",
    "LoRALinear",
    "LoopedTransformer",
    "MPNNLayer",
    "MacaronBlock",
    "MatFormerFFN",
    "MinimalAttention",
    "MultiHeadAttention",
    "NormAttention",
    "OneLayerClassifier",
    "RMSNorm",
    "RelativeAttention",
    "RotaryEmbedding",
    "SequenceClassifier",
    "SinusoidalPositionalEncoding",
    "TensorAttention",
    "TransformerBlock",
    "TransformerStack",
    "VirtualNode",
    "attention_rnn",
    "causal_linear_chunkwise",
    "causal_mask",
    "chunked_attention",
    "count_parameters",
    "khatri_rao",
    "layer_norm",
    "linear_attention",
    "linear_attention_recurrent",
    "make_norm",
    "match3_head",
    "match3_sharpness",
    "matformer_loss",
    "matformerize",
    "memory_efficient_attention",
    "padding_mask",
    "polynomial_tensor_attention",
    "prefix_scan_attention",
    "register_attention_backend",
    "relative_attention",
    "rms_norm",
    "scaled_dot_product_attention",
    "scan_combine",
    "scatter_softmax",
    "scatter_sum",
    "set_attention_backend",
    "sinusoidal_table",
    "softmax",
    "tensor_attention",
    "tensor_attention_explicit",
    "toeplitz",
]
