"""Data generators: every task makes its own data from a seed; nothing is downloaded."""

from .algorithmic import DigitTask
from .regression import LinearRegressionTask, interleave, least_squares_predictions

__all__ = ["DigitTask", "LinearRegressionTask", "interleave", "least_squares_predictions"]
