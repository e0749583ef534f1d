"""Chapter 7's public functions (``minitorch_xf.tasks.graphs``, ``minitorch_xf.theory.continuous_thought``) called
as a careless user would: bad graphs (a cycle where a DAG is required, an unknown vertex, an empty graph, bad
shapes and dtypes) raise up front naming the value; odd but valid calls get their documented answer."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from bad_calls import Bad, Handled, walker_tests

from minitorch_xf.tasks.graphs import (
    SearchTask,
    balanced_search_graph,
    bfs_layers,
    bfs_reachable,
    check_dag,
    path_merging,
    random_dag,
)
from minitorch_xf.theory.continuous_thought import (
    ContinuousThoughtSearch,
    continuous_thought_step,
    frontier_superposition,
    vertex_embeddings,
)

pytestmark = pytest.mark.ch07
U = vertex_embeddings(4)
EDGES = [(0, 1), (1, 2)]


RANDOM_U = vertex_embeddings(6, 8, torch.Generator().manual_seed(0))  # random unit rows, n <= d


def model(**kw):
    return ContinuousThoughtSearch(U, max_edges=kw.pop("max_edges", 3), **kw)


BAD = [
    Bad("cycle-in-dag", lambda: check_dag([(0, 1), (1, 2), (2, 0)], 3), ValueError, r"cycle 0 -> 1 -> 2 -> 0"),
    Bad("self-loop-in-dag", lambda: check_dag([(1, 1)], 3), ValueError, r"cycle 1 -> 1"),
    Bad("unknown-vertex-edge", lambda: bfs_reachable([(0, 7)], 3, 0), ValueError, r"edges\[0\]=\(0, 7\).*n=3"),
    Bad("negative-vertex-edge", lambda: bfs_reachable([(0, -1)], 3, 0), ValueError, r"vertex -1"),
    Bad("unknown-source", lambda: bfs_reachable(EDGES, 3, 5), ValueError, r"source=5"),
    Bad("unknown-root", lambda: model().thoughts(EDGES, 9, 1), ValueError, r"root=9"),
    Bad("unknown-goal", lambda: model().reachable(EDGES, 0, 4, 1), ValueError, r"goal=4"),
    Bad("empty-graph-n0", lambda: bfs_layers([], 0, 0), ValueError, r"n=0"),
    Bad("empty-edge-prompt", lambda: model().thoughts([], 0, 1), ValueError, r"edges is empty"),
    Bad("edges-not-pairs", lambda: bfs_reachable([(0, 1, 2)], 3, 0), ValueError, r"edges\[0\]=\(0, 1, 2\)"),
    Bad("edges-float-tensor", lambda: bfs_reachable(torch.zeros(2, 2), 3, 0), TypeError, r"dtype=torch.float32"),
    Bad("edges-bad-shape", lambda: bfs_reachable(torch.zeros(2, 3, dtype=torch.long), 3, 0), ValueError, r"\(2, 3\)"),
    Bad("edges-string", lambda: bfs_reachable("0 1", 3, 0), TypeError, r"edges must be"),
    Bad("vertex-float", lambda: bfs_reachable([(0, 1.0)], 3, 0), TypeError, r"1.0"),
    Bad("vertex-bool", lambda: bfs_reachable([(0, True)], 3, 0), TypeError, r"True"),
    Bad("negative-steps", lambda: bfs_layers(EDGES, 3, 0, steps=-1), ValueError, r"steps=-1"),
    Bad("dag-p-above-1", lambda: random_dag(5, 1.5), ValueError, r"p=1.5"),
    Bad("dag-p-nan", lambda: random_dag(5, float("nan")), ValueError, r"p=nan"),
    Bad("dag-n-zero", lambda: random_dag(0, 0.5), ValueError, r"n=0"),
    Bad("dag-generator", lambda: random_dag(5, 0.5, generator=3), TypeError, r"generator"),
    Bad("balanced-lookahead-0", lambda: balanced_search_graph(2, 0), ValueError, r"lookahead=0"),
    Bad("balanced-few-labels", lambda: balanced_search_graph(3, 2, n_labels=5), ValueError, r"n_labels=5"),
    Bad("balanced-rng", lambda: balanced_search_graph(2, 2, rng=3), TypeError, r"rng"),
    Bad("task-empty-lookahead", lambda: SearchTask(2, (), 8), ValueError, r"lookahead=\(\)"),
    Bad("task-few-labels", lambda: SearchTask(2, (1, 4), 8), ValueError, r"n_labels=8"),
    Bad("embeddings-int", lambda: ContinuousThoughtSearch(torch.eye(3, dtype=torch.long), 2), TypeError, r"dtype"),
    Bad("embeddings-1d", lambda: ContinuousThoughtSearch(torch.ones(3), 2), ValueError, r"embeddings.*\(3,\)"),
    Bad("embeddings-empty", lambda: frontier_superposition(torch.zeros(0, 3), [0]), ValueError, r"\(0, 3\)"),
    Bad("decoder-name", lambda: model(decoder="exact"), ValueError, r"decoder='exact'"),
    Bad("beta-zero", lambda: model(beta=0.0), ValueError, r"beta=0.0"),
    Bad("too-many-edges", lambda: model(max_edges=1).thoughts(EDGES, 0, 1), ValueError, r"max_edges=1"),
    Bad("too-many-steps", lambda: model(max_steps=2).thoughts(EDGES, 0, 3), ValueError, r"steps=3"),
    Bad("superpose-empty", lambda: frontier_superposition(U, []), ValueError, r"vertices=\[\]"),
    Bad("superpose-repeat", lambda: frontier_superposition(U, [1, 1]), ValueError, r"repeated"),
    Bad("superpose-unknown", lambda: frontier_superposition(U, [6]), ValueError, r"6"),
    Bad("step-thought-shape", lambda: continuous_thought_step(U, EDGES, torch.ones(3)), ValueError, r"\(3,\)"),
    Bad(
        "step-thought-zero",
        lambda: continuous_thought_step(U, EDGES, torch.zeros(4, dtype=U.dtype)),
        ValueError,
        r"no positive",
    ),
    Bad(
        "step-thought-dtype", lambda: continuous_thought_step(U, EDGES, torch.ones(4)), TypeError, r"thought has dtype"
    ),
    Bad("embed-d-zero", lambda: vertex_embeddings(3, 0), ValueError, r"d=0"),
    Bad("merge-negative-layers", lambda: path_merging(EDGES, 3, -1), ValueError, r"layers=-1"),
    Bad("merge-float-layers", lambda: path_merging(EDGES, 3, 1.5), TypeError, r"layers.*1.5"),
    # the default readout with random (non-orthonormal) embeddings gives impossible answers: refused, naming the fix
    Bad(
        "ContinuousThoughtSearch random embeddings default decoder",
        lambda: ContinuousThoughtSearch(RANDOM_U, max_edges=3),
        ValueError,
        r"embeddings are not orthonormal.*decoder='dual'",
    ),
    Bad("ContinuousThoughtSearch decoder int", lambda: model(decoder=1), ValueError, r"decoder=1"),
    Bad("ContinuousThoughtSearch max_edges 2.0", lambda: model(max_edges=2.0), TypeError, r"max_edges must be an int"),
    Bad("ContinuousThoughtSearch.reachable goal 1.0", lambda: model().reachable(EDGES, 0, 1.0, 1), TypeError, r"goal"),
    Bad("ContinuousThoughtSearch.thoughts steps True", lambda: model().thoughts(EDGES, 0, True), TypeError, r"steps"),
    Bad(
        "ContinuousThoughtSearch embeddings meta",
        lambda: ContinuousThoughtSearch(U.to("meta"), 2),
        ValueError,
        r"embeddings are on meta",
    ),
    Bad("ContinuousThoughtSearch.readout list", lambda: model().readout([[1.0] * 4]), TypeError, r"thoughts must be a"),
    Bad(
        "ContinuousThoughtSearch.readout d",
        lambda: model().readout(torch.ones(2, 3, dtype=U.dtype)),
        ValueError,
        r"thoughts has shape \(2, 3\); expected \(T, 4\)",
    ),
    Bad(
        "ContinuousThoughtSearch.readout float32",
        lambda: model().readout(torch.ones(2, 4)),
        TypeError,
        r"thoughts has dtype torch.float32 but embeddings",
    ),
    Bad(
        "ContinuousThoughtSearch.filter z shape",
        lambda: model().filter(torch.ones(3, dtype=U.dtype)),
        ValueError,
        r"z has shape \(3,\)",
    ),
    Bad(
        "ContinuousThoughtSearch.layer1 x width",
        lambda: model().layer1(torch.ones(3, 5, dtype=U.dtype)),
        ValueError,
        r"x has shape \(3, 5\); expected \(L, width=",
    ),
    Bad(
        "ContinuousThoughtSearch.layer2 x int",
        lambda: model().layer2(torch.ones(3, 5, dtype=torch.long)),
        TypeError,
        r"x must be a floating",
    ),
    Bad("vertex_embeddings n 2**40", lambda: vertex_embeddings(2**40), ValueError, r"n=1099511627776.*would need"),
    Bad(
        "ContinuousThoughtSearch max_edges 2**40", lambda: model(max_edges=2**40), ValueError, r"max_edges=.*would need"
    ),
    Bad("frontier_superposition numpy float", lambda: frontier_superposition(U, np.array([0.5])), TypeError, r"0.5"),
    Bad(
        "vertex_embeddings dtype long", lambda: vertex_embeddings(3, dtype=torch.long), TypeError, r"dtype=torch.int64"
    ),
    Bad("vertex_embeddings dtype str", lambda: vertex_embeddings(3, 2, dtype="float64"), TypeError, r"dtype='float64'"),
    Bad("vertex_embeddings n 3.0", lambda: vertex_embeddings(3.0), TypeError, r"n must be an int"),
    Bad("vertex_embeddings d bool", lambda: vertex_embeddings(3, True), TypeError, r"d must be an int"),
    Bad("merge-unknown-vertex", lambda: path_merging([(0, 5)], 3, 1), ValueError, r"edges\[0\]=\(0, 5\)"),
]


def _is_all_false_but(source):
    def check(out):
        assert out.tolist() == [i == source for i in range(len(out))]

    return check


def _equals(expected):
    def check(out):
        out = out.tolist() if isinstance(out, torch.Tensor) else out
        assert out == expected, f"expected {expected!r}, got {out!r}"

    return check


def _n_edges(count):
    def check(problem):
        assert len(problem.edges) == count

    return check


def _is_root(out):
    torch.testing.assert_close(out, U[2][None])


HANDLED = [
    Handled("no-edges-reachable-is-source", lambda: bfs_reachable([], 3, 1), _is_all_false_but(1)),
    Handled(
        "edges-empty-int-tensor", lambda: bfs_reachable(torch.tensor([], dtype=torch.long), 2, 0), _is_all_false_but(0)
    ),
    Handled("edge-tensor", lambda: bfs_reachable(torch.tensor(EDGES), 4, 0), _equals([True, True, True, False])),
    Handled("zero-steps", lambda: bfs_layers(EDGES, 3, 0, steps=0), _equals([[0]])),
    Handled("dag-p0", lambda: random_dag(6, 0.0), _equals([])),
    Handled(
        "merge-zero-layers-no-edges",
        lambda: path_merging([], 2, 0),
        _equals([[[True, False], [False, True]]]),
    ),
    Handled("zero-thoughts", lambda: model().thoughts(EDGES, 2, 0), _is_root),
    # the dual readout on random, linearly independent embeddings reads the BFS answer; numpy ints are vertices
    Handled(
        "ContinuousThoughtSearch dual random",
        lambda: [
            ContinuousThoughtSearch(RANDOM_U, max_edges=2, decoder="dual").reachable(EDGES, np.int64(0), goal, 2)
            for goal in range(6)
        ],
        _equals([True, True, True, False, False, False]),
    ),
    # a NumPy array of vertices: (u_0 + u_2) / sqrt 2
    Handled(
        "frontier_superposition numpy vertices",
        lambda: frontier_superposition(U, np.array([0, 2])),
        lambda out: torch.testing.assert_close(out, torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=U.dtype) / 2**0.5),
    ),
    # d = n without a generator: one-hot rows, as documented
    Handled("vertex_embeddings d=n one-hot", lambda: vertex_embeddings(3, 3), _equals(torch.eye(3).tolist())),
    Handled(
        "balanced-default-rng",
        lambda: balanced_search_graph(2, 3, rng=random.Random(0)),
        _n_edges(6),
    ),
]
test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
