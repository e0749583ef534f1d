"""Data generators: every task makes its own data from a seed; nothing is downloaded."""

from . import graph_data, long_range_graphs
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
from .fuzzy_logic import FuzzyLogicTask
from .graphs import SearchTask
from .icl_regression import pair_tokens
from .match3 import match3_batch, match3_labels, match3_positive_rate, match3_worst_case
from .positions import even_token, position_identification
from .regression import LinearRegressionTask, interleave, least_squares_predictions
from .sraven import SRavenTask

__all__ = [
    "ArithmeticTask",
    "AutomatonTask",
    "DigitTask",
    "EditDistanceTask",
    "EquationsTask",
    "Example",
    "FuzzyLogicTask",
    "LISTask",
    "LinearRegressionTask",
    "ParityTask",
    "SRavenTask",
    "SearchTask",
    "Tokenizer",
    "evaluate",
    "even_token",
    "exact_match",
    "graph_data",
    "interleave",
    "least_squares_predictions",
    "long_range_graphs",
    "match3_batch",
    "match3_labels",
    "match3_positive_rate",
    "match3_worst_case",
    "pair_tokens",
    "position_identification",
    "score_output",
    "training_batch",
]
