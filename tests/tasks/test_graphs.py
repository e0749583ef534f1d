"""Chapter 7's path merging (``minitorch_xf.tasks.graphs.path_merging``) against independent references.

References: reachability within $k$ edges as the nonzero pattern of $(I + A)^k$ (a matrix power, where the package
merges Python sets), and on a path graph $0 \\to 1 \\to \\dots$ the closed form "vertex $k$ is within $2^\\ell$ edges
of 0".
"""

from __future__ import annotations

import math

import pytest
import torch

from minitorch_xf.tasks.graphs import path_merging, random_dag

pytestmark = pytest.mark.ch07


def within(edges, n: int, k: int) -> torch.Tensor:
    """(n, n) bool: entry [v, w] says w is reachable from v by a path of at most k edges, from (I + A)^k."""
    a = torch.eye(n, dtype=torch.float64)
    for u, v in edges:
        a[u, v] = 1.0
    return torch.linalg.matrix_power(a, k) > 0


@pytest.mark.checks("thm-path-merging")
@pytest.mark.parametrize("seed", range(4))
def test_merged_sets_are_the_vertices_within_two_to_the_l_edges(seed):
    """After l merging layers R_l(v) is exactly the set within 2^l edges of v, on random graphs (cycles allowed)."""
    g = torch.Generator().manual_seed(seed)
    for trial in range(10):
        n = int(torch.randint(2, 14, (1,), generator=g))
        p = 0.05 + 0.3 * float(torch.rand(1, generator=g))
        if trial % 2:  # DAGs and graphs with cycles
            edges = random_dag(n, p, g)
        else:
            coins = torch.rand(n, n, generator=g)
            edges = [(u, v) for u in range(n) for v in range(n) if u != v and coins[u, v] < p]
        merged = path_merging(edges, n, 4)  # (5, n, n)
        for layer in range(5):
            want = within(edges, n, 2**layer)
            assert torch.equal(merged[layer], want), f"n={n}, edges={edges}, layer {layer}"


@pytest.mark.checks("thm-path-merging")
def test_a_goal_k_edges_down_a_path_needs_ceil_log2_k_layers():
    """On the path 0 -> 1 -> ... -> 40, vertex k is in R_l(0) iff k <= 2^l: the fewest layers is ceil(log2 k)."""
    n = 41
    merged = path_merging([(i, i + 1) for i in range(n - 1)], n, 6)  # (7, n, n)
    for k in range(1, n):
        first = next(layer for layer in range(7) if merged[layer, 0, k])
        assert first == math.ceil(math.log2(k)), f"vertex {k} first reached at layer {first}"
