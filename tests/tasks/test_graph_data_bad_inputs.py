"""Every public function of ``minitorch_xf.tasks.graph_data`` called as a careless user would.

Bad calls raise up front naming the argument or the offending edge; odd but valid calls give their documented answer
(tests/bad_calls.py).
"""

from __future__ import annotations

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.tasks import graph_data as gd

pytestmark = pytest.mark.ch15
C4 = gd.cycle_graph(4)
LOOP = torch.tensor([[0, 1, 1, 1], [1, 0, 1, 2]])


def _equal(expected):
    def check(out):
        assert out == expected, f"expected {expected!r}, got {out!r}"

    return check


BAD = [
    Bad("check_edge_index list", lambda: gd.check_edge_index([[0, 1], [1, 0]], 2), TypeError, "edge_index must be"),
    Bad("check_edge_index float", lambda: gd.check_edge_index(C4.float(), 4), TypeError, "int64"),
    Bad("check_edge_index shape", lambda: gd.check_edge_index(C4.T.contiguous(), 4), ValueError, r"shape \(2, E\)"),
    Bad(
        "check_edge_index unknown node",
        lambda: gd.check_edge_index(C4, 3),
        ValueError,
        r"\[:, 1\] = \(0, 3\) points to an unk",
    ),
    Bad("check_edge_index negative", lambda: gd.check_edge_index(-C4, 4), ValueError, "unknown node"),
    Bad("check_edge_index self-loop", lambda: gd.check_edge_index(LOOP, 3), ValueError, r"\(1, 1\) is a self-loop"),
    Bad("check_edge_index one way", lambda: gd.check_edge_index(C4[:, :3], 4), ValueError, "has no reverse edge"),
    Bad("check_edge_index num_nodes 0", lambda: gd.check_edge_index(C4, 0), ValueError, "num_nodes=0"),
    Bad("check_graph int x", lambda: gd.check_graph(torch.ones(4, 2, dtype=torch.long), C4), TypeError, "x must be"),
    Bad("check_graph no nodes", lambda: gd.check_graph(r(0, 2), C4), ValueError, "x has no nodes"),
    Bad("check_graph batch length", lambda: gd.check_graph(r(4, 2), C4, torch.zeros(3).long()), ValueError, "3 entr"),
    Bad(
        "check_graph batch unsorted",
        lambda: gd.check_graph(r(2, 1), gd.path_graph(2)[:, :0], torch.tensor([1, 0])),
        ValueError,
        "batch must be sorted",
    ),
    Bad("Graph edge to unknown node", lambda: gd.Graph(r(3, 2), C4), ValueError, "points to an unknown node"),
    Bad(
        "edge_index_from_list self-loop",
        lambda: gd.edge_index_from_list([(0, 1), (2, 2)], 3),
        ValueError,
        r"edges\[1\] = \(2, 2\) is a self-loop",
    ),
    Bad("edge_index_from_list unknown", lambda: gd.edge_index_from_list([(0, 5)], 3), ValueError, "unknown node"),
    Bad("edge_index_from_list repeat", lambda: gd.edge_index_from_list([(0, 1), (1, 0)], 3), ValueError, "repeats"),
    Bad("edge_index_from_list triple", lambda: gd.edge_index_from_list([(0, 1, 2)], 3), ValueError, "not a pair"),
    Bad("erdos_renyi p", lambda: gd.erdos_renyi_graph(5, 1.5), ValueError, r"p=1\.5"),
    Bad("erdos_renyi generator", lambda: gd.erdos_renyi_graph(5, 0.5, generator=0), TypeError, "generator"),
    Bad("cycle_graph 2", lambda: gd.cycle_graph(2), ValueError, "n=2"),
    Bad("path_graph 0", lambda: gd.path_graph(0), ValueError, "n=0"),
    Bad("complete_graph float", lambda: gd.complete_graph(2.5), TypeError, "n must be an int"),
    Bad("circulant_graph jump", lambda: gd.circulant_graph(6, [4]), ValueError, "jump=4"),
    Bad("csl_graph skip", lambda: gd.csl_graph(41, 1), ValueError, "skip=1"),
    Bad("rook_graph 0", lambda: gd.rook_graph(0), ValueError, "k=0"),
    Bad("disjoint_union empty", lambda: gd.disjoint_union(), ValueError, "at least one"),
    Bad("disjoint_union not a pair", lambda: gd.disjoint_union(C4), TypeError, "pair"),
    Bad("batch_graphs empty", lambda: gd.batch_graphs([]), ValueError, "at least one graph"),
    Bad(
        "batch_graphs widths",
        lambda: gd.batch_graphs([gd.Graph(r(4, 2), C4), gd.Graph(r(4, 3), C4)]),
        ValueError,
        "width 3",
    ),
    Bad("batch_graphs not a graph", lambda: gd.batch_graphs([C4]), TypeError, "Graph"),
    Bad("unbatch length", lambda: gd.unbatch(r(4, 2), torch.zeros(3).long()), ValueError, "3 entries"),
    Bad("degree unknown node", lambda: gd.degree(C4, 3), ValueError, "unknown node"),
    Bad("to_dense_adjacency unknown node", lambda: gd.to_dense_adjacency(C4, 2), ValueError, "unknown node"),
    Bad("is_connected unknown node", lambda: gd.is_connected(C4, 2), ValueError, "unknown node"),
]

HANDLED = [
    Handled("edge_index_from_list no edges", lambda: gd.edge_index_from_list([], 3).shape, _equal((2, 0))),
    Handled("path_graph one node", lambda: gd.path_graph(1).shape, _equal((2, 0))),
    Handled("is_connected one node", lambda: gd.is_connected(gd.path_graph(1), 1), _equal(True)),
    Handled(
        "is_connected two triangles",
        lambda: gd.is_connected(gd.disjoint_union((gd.cycle_graph(3), 3), (gd.cycle_graph(3), 3))[0], 6),
        _equal(False),
    ),
    Handled(
        "self-loop allowed when asked",
        lambda: gd.check_edge_index(LOOP, 3, allow_self_loops=True, undirected=False).shape,
        _equal((2, 4)),
    ),
    Handled("erdos_renyi p=0", lambda: gd.erdos_renyi_graph(4, 0.0).shape, _equal((2, 0))),
    Handled(
        "wl pairs are equal-sized",
        lambda: [a[1] == b[1] for a, b in gd.wl_indistinguishable_pairs().values()],
        _equal([True, True, True]),
    ),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
