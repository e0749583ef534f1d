"""Data generators: every task makes its own data from a seed; nothing is downloaded."""

from .algorithmic import DigitTask
from .cot import (
    ArithmeticTask,
    AutomatonTask,
    EditDistanceTask,
    EquationsTask,
    Example,
    LISTask,
    ParityTask,
    Tokenizer,
    evaluate,
    exact_match,
    score_output,
    training_batch,
)
from .positions import even_token, position_identification
from .regression import LinearRegressionTask, interleave, least_squares_predictions

__all__ = [
    "ArithmeticTask",
    "AutomatonTask",
    "DigitTask",
    "EditDistanceTask",
    "EquationsTask",
    "Example",
    "LISTask",
    "LinearRegressionTask",
    "ParityTask",
    "Tokenizer",
    "evaluate",
    "even_token",
    "exact_match",
    "interleave",
    "least_squares_predictions",
    "position_identification",
    "score_output",
    "training_batch",
]
