"""Exercise checks (one module per chapter), the stub generator and the batch autograder.

In a notebook: ``from minitorch_xf.checks.ch01 import check_attention; check_attention(attention)``.
"""

from ._core import Checker, CheckFailed

__all__ = ["CheckFailed", "Checker"]
