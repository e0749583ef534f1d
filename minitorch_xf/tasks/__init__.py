"""Data generators: every task makes its own data from a seed; nothing is downloaded."""

from .algorithmic import DigitTask
from .positions import even_token, position_identification
from .regression import LinearRegressionTask, interleave, least_squares_predictions

__all__ = [
    "DigitTask",
    "LinearRegressionTask",
    "even_token",
    "interleave",
    "least_squares_predictions",
    "position_identification",
]
