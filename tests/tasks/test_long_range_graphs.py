"""The long-range graph task against independent references: networkx distances and graph checks, scipy's exact
binomial tail for the chance ceiling, and a plain loop for the scorer."""

from __future__ import annotations

import math

import networkx as nx
import pytest
import torch
from scipy.stats import binom

from minitorch_xf.tasks.graph_data import check_graph, erdos_renyi_graph
from minitorch_xf.tasks.long_range_graphs import (
    LongRangeTask,
    chance_ceiling,
    hop_distances,
    target_accuracy,
)

pytestmark = pytest.mark.ch15


def _nx(edge_index: torch.Tensor, n: int) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edge_index.T.tolist())
    return graph


def test_hop_distances_match_networkx():
    for seed in range(5):
        n = 12
        ei = erdos_renyi_graph(n, 0.2, generator=torch.Generator().manual_seed(seed))
        ref = nx.single_source_shortest_path_length(_nx(ei, n), 3)
        expect = torch.tensor([ref.get(i, -1) for i in range(n)])
        assert torch.equal(hop_distances(ei, n, 3), expect)


@pytest.mark.parametrize("kind", ["path", "cycle", "tree"])
def test_sample_obeys_the_task_definition(kind):
    task = LongRangeTask(11, 4, 3, kind)
    b = task.sample(20, torch.Generator().manual_seed(1))
    check_graph(b.x, b.edge_index, b.batch)
    assert b.x.shape == (220, 6)
    graph = _nx(b.edge_index, 220)
    comps = list(nx.connected_components(graph))
    assert len(comps) == 20 and all(len(c) == 11 for c in comps)
    for g in range(20):
        t, s = int(b.target[g]), int(b.source[g])
        assert int(b.batch[t]) == int(b.batch[s]) == g
        d = nx.shortest_path_length(graph, t, s)
        assert d == int(b.distance[g]) >= 3
        assert b.x[s, 0] == 1 and b.x[t, 1] == 1  # the flags
        assert int(b.x[s, 2:].argmax()) == int(b.label[g])  # the label is the source's colour
        nodes = b.batch == g
        assert b.x[nodes, 0].sum() == 1 and b.x[nodes, 1].sum() == 1
    torch.testing.assert_close(b.x[:, 2:].sum(1), torch.ones(220))  # one colour per node
    if kind == "path":
        assert all(d <= 2 for _, d in graph.degree())
    if kind == "cycle":
        assert all(d == 2 for _, d in graph.degree())
    if kind == "tree":
        assert all(nx.is_tree(graph.subgraph(c)) for c in comps)


def test_labels_and_node_order_are_random():
    task = LongRangeTask(10, 4, 3, "path")
    b = task.sample(400, torch.Generator().manual_seed(2))
    freq = torch.bincount(b.label, minlength=4).float() / 400
    assert (freq - 0.25).abs().max() < 0.07  # a uniform colour: 4.5 standard errors of 0.022
    local_target = b.target - torch.arange(400) * 10
    assert len(set(local_target.tolist())) == 10  # the target sits anywhere
    assert b.distance.min() >= 3 and b.distance.max() == 9


def test_max_distance_caps_the_distance():
    b = LongRangeTask(16, 3, 3, "path", max_distance=4).sample(50, torch.Generator().manual_seed(3))
    assert b.distance.min() >= 3 and b.distance.max() <= 4


def test_same_generator_same_batch():
    task = LongRangeTask(9, 3, 2, "tree")
    a = task.sample(5, torch.Generator().manual_seed(4))
    b = task.sample(5, torch.Generator().manual_seed(4))
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index) and torch.equal(a.label, b.label)


def test_target_accuracy_matches_a_loop_and_scores_malformed_rows_wrong():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(30, 4, generator=g)
    label = torch.randint(4, (30,), generator=g)
    logits[3, 1] = math.nan
    logits[7, 2] = math.inf
    logits[9] = torch.tensor([1.0, 1.0, 0.0, -1.0])  # a tie
    label[9] = 0
    correct = 0
    for i in range(30):
        row = logits[i].tolist()
        if i in (3, 7, 9):
            continue  # non-finite or tied: wrong whatever the label
        correct += max(range(4), key=lambda c: row[c]) == int(label[i])
    acc, why = target_accuracy(logits, label)
    assert acc == pytest.approx(correct / 30)
    assert why["non-finite"] == 2 and why["tie"] == 1
    assert why["correct"] + why["wrong"] + why["non-finite"] + why["tie"] == 30


@pytest.mark.parametrize(("n", "c", "delta"), [(100, 4, 1e-3), (500, 4, 1e-6), (1000, 2, 1e-6), (300, 5, 0.05)])
def test_chance_ceiling_bounds_the_exact_binomial_tail(n, c, delta):
    """A blind predictor is right Binomial(n, 1/C) times: the tail at the ceiling is at most delta (scipy)."""
    ceiling = chance_ceiling(n, c, delta)
    k = math.ceil(ceiling * n)
    assert binom.sf(k - 1, n, 1 / c) <= delta  # P(correct >= k)
    assert ceiling < 1 / c + 0.5


def test_a_blind_predictor_stays_under_the_ceiling():
    """Predict from everything but the source: a fixed function of the target's own colour is right 1/C of the time."""
    task = LongRangeTask(16, 4, 3, "cycle")
    b = task.sample(1000, torch.Generator().manual_seed(6))
    logits = b.x[b.target, 2:]  # guess the target's own colour
    acc, _ = target_accuracy(logits, b.label)
    assert acc < chance_ceiling(1000, 4)
