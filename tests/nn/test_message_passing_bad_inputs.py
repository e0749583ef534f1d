"""Every public callable of ``minitorch_xf.nn.message_passing`` called as a careless user would (tests/bad_calls.py)."""

from __future__ import annotations

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.nn.message_passing import (
    GraphAttentionLayer,
    GraphTransformerLayer,
    MPNNLayer,
    scatter_softmax,
    scatter_sum,
)
from minitorch_xf.tasks.graph_data import cycle_graph, path_graph

pytestmark = pytest.mark.ch15
C4 = cycle_graph(4)


def _shape(expected):
    def check(out):
        assert tuple(out.shape) == expected, f"expected shape {expected}, got {tuple(out.shape)}"

    return check


BAD = [
    Bad("MPNNLayer d=0", lambda: MPNNLayer(0), ValueError, "d=0"),
    Bad("MPNNLayer aggr", lambda: MPNNLayer(4, aggr="max"), ValueError, "aggr='max'"),
    Bad("MPNNLayer eps nan", lambda: MPNNLayer(4, eps=float("nan")), ValueError, "eps=nan"),
    Bad("MPNNLayer train_eps str", lambda: MPNNLayer(4, train_eps="yes"), TypeError, "train_eps"),
    Bad("MPNNLayer width", lambda: MPNNLayer(4)(r(4, 3), C4), ValueError, "feature width 3"),
    Bad("MPNNLayer unknown node", lambda: MPNNLayer(4)(r(3, 4), C4), ValueError, r"\(0, 3\) points to an unknown"),
    Bad("MPNNLayer self-loop", lambda: MPNNLayer(4)(r(2, 4), torch.tensor([[0], [0]])), ValueError, "self-loop"),
    Bad("MPNNLayer float64 x", lambda: MPNNLayer(4)(r(4, 4, dtype=torch.float64), C4), TypeError, "float64"),
    Bad("MPNNLayer 3-d x", lambda: MPNNLayer(4)(r(1, 4, 4), C4), ValueError, "x must have 2 dims"),
    Bad("GraphAttentionLayer heads", lambda: GraphAttentionLayer(6, 4), ValueError, "d=6 is not divisible"),
    Bad("GraphAttentionLayer no nodes", lambda: GraphAttentionLayer(4)(r(0, 4), C4[:, :0]), ValueError, "no nodes"),
    Bad("GraphAttentionLayer one way", lambda: GraphAttentionLayer(4)(r(4, 4), C4[:, :3]), ValueError, "reverse"),
    Bad(
        "attention_weights width",
        lambda: GraphAttentionLayer(4).attention_weights(r(4, 2), C4),
        ValueError,
        "feature width 2",
    ),
    Bad("GraphTransformerLayer d", lambda: GraphTransformerLayer(-1), ValueError, "d=-1"),
    Bad("GraphTransformerLayer unknown node", lambda: GraphTransformerLayer(4)(r(2, 4), C4), ValueError, "unknown"),
    Bad("scatter_sum index dtype", lambda: scatter_sum(r(4, 2), C4[1].float(), 4), TypeError, "index"),
    Bad("scatter_softmax index range", lambda: scatter_softmax(r(8, 2), C4[1] + 4, 4), ValueError, "index"),
]

HANDLED = [
    Handled("MPNNLayer isolated nodes", lambda: MPNNLayer(4)(r(3, 4), path_graph(1)[:, :0]), _shape((3, 4))),
    Handled(
        "GraphAttentionLayer isolated node", lambda: GraphAttentionLayer(4)(r(1, 4), path_graph(1)), _shape((1, 4))
    ),
    Handled(
        "GraphAttentionLayer loops given",
        lambda: GraphAttentionLayer(4)(r(2, 4), torch.tensor([[0, 0, 1], [0, 1, 0]])),
        _shape((2, 4)),
    ),
    Handled("scatter_sum empty", lambda: scatter_sum(r(0, 3), torch.zeros(0, dtype=torch.int64), 2), _shape((2, 3))),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
