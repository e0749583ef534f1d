"""GPU kernels in Triton (chapter 13): a fused row softmax, LayerNorm and FlashAttention, forward and backward.

Importing this package never needs triton: without it every kernel falls back to its torch reference (with a
warning that says so). See :mod:`minitorch_xf.kernels._backend` for when the kernels run and how.
"""

from . import online, roofline
from ._backend import BACKENDS, INTERPRET, MISSING, triton_reason
from .flash_attention import attention_reference, flash_attention
from .layernorm import layer_norm
from .softmax import softmax


def triton_available() -> bool:
    """True when triton imported (compiled on CUDA, or through the interpreter when ``INTERPRET``)."""
    from . import _backend

    return _backend.triton is not None


__all__ = [
    "BACKENDS",
    "INTERPRET",
    "MISSING",
    "attention_reference",
    "flash_attention",
    "layer_norm",
    "online",
    "roofline",
    "softmax",
    "triton_available",
    "triton_reason",
]
