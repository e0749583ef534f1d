"""minitorch_xf: the small PyTorch package behind *Transformer Theory from Scratch*."""

__version__ = "0.1.0"

from . import nn, runtime, tasks, train

__all__ = ["__version__", "nn", "runtime", "tasks", "train"]
