"""The long-range graph task called as a careless user would: each ``BAD`` call raises naming the argument, each
``HANDLED`` call gives its documented answer (a model's malformed output is scored wrong, not a crash)."""

from __future__ import annotations

import math

import pytest
import torch
from bad_calls import Bad, Handled, walker_tests

from minitorch_xf.tasks.graph_data import path_graph
from minitorch_xf.tasks.long_range_graphs import LongRangeTask, chance_ceiling, hop_distances, target_accuracy

pytestmark = pytest.mark.ch15

LABEL = torch.tensor([0, 1])


def _check_nan_wrong(result):
    acc, why = result
    assert acc == 0.5 and why["non-finite"] == 1, result


BAD = [
    Bad("task n_nodes", lambda: LongRangeTask(1), ValueError, r"n_nodes=1"),
    Bad("task colours", lambda: LongRangeTask(8, 1), ValueError, r"n_colors=1"),
    Bad("task kind", lambda: LongRangeTask(8, 3, 2, "grid"), ValueError, r"kind='grid' is not one of"),
    Bad("task too far", lambda: LongRangeTask(8, 3, 8, "path"), ValueError, r"min_distance=8 exceeds"),
    Bad("task cycle far", lambda: LongRangeTask(8, 3, 5, "cycle"), ValueError, r"largest distance 4"),
    Bad("task max < min", lambda: LongRangeTask(8, 3, 3, max_distance=2), ValueError, r"max_distance=2"),
    Bad("sample zero", lambda: LongRangeTask(8).sample(0), ValueError, r"n_graphs=0"),
    Bad("sample generator", lambda: LongRangeTask(8).sample(2, 7), TypeError, r"generator must be"),
    Bad("batch to", lambda: LongRangeTask(8).sample(1).to("nodevice"), RuntimeError, r"nodevice"),
    Bad("hop source", lambda: hop_distances(path_graph(3), 3, 3), ValueError, r"source=3"),
    Bad("hop edges", lambda: hop_distances(path_graph(3).float(), 3, 0), TypeError, r"edge_index must have dtype"),
    Bad("acc rows", lambda: target_accuracy(torch.zeros(3, 4), LABEL), ValueError, r"logits \(3, 4\) and label"),
    Bad(
        "acc label range",
        lambda: target_accuracy(torch.zeros(2, 4), torch.tensor([0, 4])),
        ValueError,
        r"label has values outside \[0, 4\)",
    ),
    Bad("acc label dtype", lambda: target_accuracy(torch.zeros(2, 4), LABEL.float()), TypeError, r"label must have"),
    Bad("acc 1-D", lambda: target_accuracy(torch.zeros(4), LABEL), ValueError, r"logits must have 2 dims"),
    Bad("ceiling delta", lambda: chance_ceiling(100, 4, 0.0), ValueError, r"delta=0.0"),
    Bad("ceiling n", lambda: chance_ceiling(0, 4), ValueError, r"n_graphs=0"),
]

HANDLED = [
    Handled(
        "nan logits scored wrong",
        lambda: target_accuracy(torch.tensor([[1.0, 0.0], [math.nan, 1.0]]), torch.tensor([0, 1])),
        _check_nan_wrong,
    ),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
