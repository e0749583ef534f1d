"""Chapter 7's graph search and continuous-thought construction against independent references.

References: the transitive closure by boolean matrix powers (no BFS), reachability within t steps as the nonzero
entries of (I + A)^t, a brute-force cycle test (a DAG's adjacency matrix is nilpotent), and the balanced search
graph's structure read off the edge list by following successor pointers.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest
import torch

from minitorch_xf.tasks import Tokenizer
from minitorch_xf.tasks.graphs import (
    SearchTask,
    balanced_search_graph,
    bfs_layers,
    bfs_reachable,
    branch_choice_accuracy,
    check_dag,
    find_cycle,
    random_dag,
)
from minitorch_xf.theory.continuous_thought import (
    ContinuousThoughtSearch,
    continuous_thought_step,
    frontier_superposition,
    vertex_embeddings,
)

pytestmark = pytest.mark.ch07


def adjacency(edges, n: int) -> torch.Tensor:
    a = torch.zeros(n, n, dtype=torch.float64)
    for u, v in edges:
        a[u, v] = 1.0
    return a


def within(edges, n: int, source: int, t: int) -> torch.Tensor:
    """(n,) bool: reachable in <= t steps, the nonzero entries of row `source` of (I + A)^t."""
    m = torch.linalg.matrix_power(torch.eye(n, dtype=torch.float64) + adjacency(edges, n), t)
    return m[source] > 0


def closure(edges, n: int) -> torch.Tensor:
    return torch.stack([within(edges, n, s, n) for s in range(n)])  # (n, n): row s = reachable from s


def graphs(count: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    for _ in range(count):
        n = int(torch.randint(2, 13, (1,), generator=g))
        p = float(torch.rand(1, generator=g)) * 0.5
        yield n, random_dag(n, p, g), int(torch.randint(n, (1,), generator=g))


def test_bfs_reachable_matches_the_matrix_power_closure():
    for n, edges, source in graphs(60, seed=1):
        assert torch.equal(bfs_reachable(edges, n, source), closure(edges, n)[source])


@pytest.mark.checks("lem-frontier-powers")
def test_bfs_layers_are_the_sets_reachable_within_t_steps():
    """V_t = nonzero entries of row r of (I + A)^t for every t <= n; BFS stops after e(r) <= n - 1 expansions, the
    eccentricity read off the matrix powers, with every reachable vertex (the closure) in its last set."""
    for n, edges, source in graphs(40, seed=2):
        layers = bfs_layers(edges, n, source, steps=n)
        assert len(layers) == n + 1
        for t, layer in enumerate(layers):
            assert layer == torch.nonzero(within(edges, n, source, t)).flatten().tolist()
        free = bfs_layers(edges, n, source)  # stops when the set stops growing
        assert free[-1] == layers[-1] and free == layers[: len(free)]
        assert len(free) == 1 or free[-1] != free[-2]
        reach = closure(edges, n)[source]
        first = [min(t for t in range(n) if within(edges, n, source, t)[v]) for v in range(n) if reach[v]]
        assert len(free) - 1 == max(first) <= n - 1, "BFS must stop after the eccentricity of the source"
        assert free[-1] == torch.nonzero(reach).flatten().tolist()


def test_random_dag_is_acyclic_and_has_about_p_of_the_pairs():
    g = torch.Generator().manual_seed(3)
    counts = []
    for _ in range(30):
        edges = random_dag(10, 0.3, g)
        a = adjacency(edges, 10)
        assert torch.linalg.matrix_power(a, 10).abs().sum() == 0  # nilpotent <=> no directed cycle
        assert find_cycle(edges, 10) is None and len(set(edges)) == len(edges)
        counts.append(len(edges))
    assert abs(sum(counts) / len(counts) / 45 - 0.3) < 0.05  # 45 pairs


def test_find_cycle_returns_a_real_cycle():
    edges = [(0, 1), (1, 2), (2, 3), (3, 1), (4, 0)]
    cycle = find_cycle(edges, 5)
    assert cycle[0] == cycle[-1] and all((u, v) in edges for u, v in itertools.pairwise(cycle))
    with pytest.raises(ValueError, match="cycle"):
        check_dag(edges, 5)


@pytest.mark.parametrize(("branches", "lookahead"), [(2, 1), (2, 4), (3, 3), (4, 2)])
def test_balanced_search_graph_structure(branches, lookahead):
    rng = random.Random(4)
    for _ in range(20):
        pb = balanced_search_graph(branches, lookahead, n_labels=30, rng=rng)
        succ = {}
        for u, v in pb.edges:
            succ.setdefault(u, []).append(v)
        assert len(pb.edges) == branches * lookahead and len(succ[pb.start]) == branches
        ends = []
        for first in succ[pb.start]:  # follow every branch to its end
            path = [first]
            while path[-1] in succ:
                assert len(succ[path[-1]]) == 1
                path.append(succ[path[-1]][0])
            assert len(path) == lookahead
            ends.append((path[-1], first))
        assert (pb.goal, pb.answer) in ends


def test_search_task_tokens_and_answer_positions_vary():
    task = SearchTask(n_branches=2, lookahead=(1, 3), n_labels=12)
    examples = task.examples(200, seed=5)
    lengths = {len(ex.prompt) for ex in examples}
    assert lengths == {3 * 2 + 3, 3 * 6 + 3}
    for ex in examples[:20]:
        edges = [(int(ex.prompt[i + 1]), int(ex.prompt[i + 2])) for i in range(0, len(ex.prompt) - 3, 3)]
        start, goal = int(ex.prompt[-2]), int(ex.prompt[-1])
        nxt = int(ex.answer[0])
        assert (start, nxt) in edges and bfs_reachable(edges, 12, nxt)[goal]
    first_edge = {ex.prompt[1] for ex in examples}
    assert len(first_edge) > 5  # labels are drawn, not fixed


def test_query_first_writes_the_same_problem_with_the_query_in_front():
    """The same seed draws the same problems; query_first moves "Q start goal" before the edges."""
    last, first = (SearchTask(2, (1, 3), 12, query_first=q).examples(30, seed=9) for q in (False, True))
    for a, b in zip(last, first, strict=True):
        assert b.prompt == a.prompt[-3:] + a.prompt[:-3] and b.answer == a.answer
        assert b.prompt[0] == "Q"
    with pytest.raises(TypeError, match="query_first must be a bool"):
        SearchTask(2, 2, 8, query_first=1)


def test_frontier_superposition_is_the_normalized_indicator():
    u = vertex_embeddings(6)
    c = frontier_superposition(u, [1, 4])
    torch.testing.assert_close(c, torch.tensor([0, 1, 0, 0, 1, 0], dtype=torch.float64) / math.sqrt(2))


def test_random_embeddings_are_unit_vectors():
    u = vertex_embeddings(20, 64, torch.Generator().manual_seed(6))
    torch.testing.assert_close(u.norm(dim=1), torch.ones(20, dtype=torch.float64))


@pytest.mark.checks("thm-superposition")
@pytest.mark.parametrize(("d", "decoder"), [(None, "matched"), (48, "dual")])
def test_every_thought_is_the_bfs_superposition(d, decoder):
    """c_t = |V_t|^{-1/2} sum_{v in V_t} u_v with V_t from (I + A)^t, at every step (Zhu et al.'s Lemma)."""
    g = torch.Generator().manual_seed(7)
    for n, edges, root in graphs(12, seed=8):
        if not edges:
            continue
        u = vertex_embeddings(n, d, g)
        model = ContinuousThoughtSearch(u, max_edges=len(edges), decoder=decoder)
        thoughts = model.thoughts(edges, root, n - 1)
        for t in range(n):
            ref = torch.nonzero(within(edges, n, root, t)).flatten().tolist()
            torch.testing.assert_close(thoughts[t], u[ref].sum(0) / math.sqrt(len(ref)), atol=1e-8, rtol=1e-6)
        for goal in range(n):
            assert model.reachable(edges, root, goal, n - 1) == bool(closure(edges, n)[root, goal])


def test_layer1_copies_source_and_target_into_edge_tokens():
    u = vertex_embeddings(5)
    edges = [(0, 3), (3, 4), (2, 1)]
    model = ContinuousThoughtSearch(u, max_edges=3)
    h = model.layer1(model.encode(edges, 0))
    for i, (s, t) in enumerate(edges):
        marker = h[3 + 3 * i]
        torch.testing.assert_close(marker[model.S], u[s], atol=1e-12, rtol=0)
        torch.testing.assert_close(marker[model.T], u[t], atol=1e-12, rtol=0)


def test_dead_end_thought_stays_put():
    """No edge leaves V_t: the sink takes the attention and the thought does not change."""
    u = vertex_embeddings(4)
    model = ContinuousThoughtSearch(u, max_edges=2)
    thoughts = model.thoughts([(1, 2), (2, 3)], 0, 3)
    for t in range(4):
        torch.testing.assert_close(thoughts[t], u[0])


def test_continuous_thought_step_matches_bfs_with_orthonormal_embeddings():
    g = torch.Generator().manual_seed(9)
    for n, edges, root in graphs(30, seed=10):
        q, _ = torch.linalg.qr(torch.randn(n + 3, n, generator=g, dtype=torch.float64))  # (n+3, n) orthonormal cols
        u = q.T  # (n, n + 3) orthonormal rows
        c = u[root]
        layers = bfs_layers(edges, n, root, steps=4)
        for t in range(1, 5):
            c = continuous_thought_step(u, edges, c)
            torch.testing.assert_close(c, u[layers[t]].sum(0) / math.sqrt(len(layers[t])))


class _Oracle(torch.nn.Module):
    """Reads the edges and the query back from the token ids and puts its logit on the right child (by BFS)."""

    def __init__(self, tok, n_labels):
        super().__init__()
        self.tok, self.n_labels, self.w = tok, n_labels, torch.nn.Parameter(torch.zeros(1))

    def forward(self, tokens):
        out = torch.zeros(*tokens.shape, len(self.tok))
        for b, row in enumerate(tokens.tolist()):
            words = self.tok.decode(row)[:-1]  # drop the ">" marker
            q = words.index("Q")  # the query, last or first
            start, goal = int(words[q + 1]), int(words[q + 2])
            words = words[:q] + words[q + 3 :]
            edges = [(int(words[i + 1]), int(words[i + 2])) for i in range(0, len(words), 3)]
            good = [v for s, v in edges if s == start and bfs_reachable(edges, self.n_labels, v)[goal]]
            out[b, -1, self.tok.ids[str(good[0])]] = 1.0
        return out


def test_branch_choice_accuracy_scores_an_oracle_one_and_a_constant_about_half():
    task = SearchTask(n_branches=2, lookahead=(1, 3), n_labels=10)
    tok = Tokenizer(task.vocabulary())
    examples = task.examples(300, seed=11)
    assert branch_choice_accuracy(_Oracle(tok, 10), examples, tok) == 1.0
    in_front = SearchTask(n_branches=2, lookahead=(1, 3), n_labels=10, query_first=True).examples(100, seed=12)
    assert branch_choice_accuracy(_Oracle(tok, 10), in_front, tok) == 1.0
    constant = torch.nn.Linear(1, 1)
    constant.forward = lambda tokens: torch.zeros(*tokens.shape, len(tok))  # ties -> the first child listed
    assert 0.4 < branch_choice_accuracy(constant, examples, tok) < 0.6


def test_dual_readout_with_dependent_embeddings_warns():
    """n > d random embeddings are linearly dependent: the dual readout is not exact, and says so."""
    u = vertex_embeddings(6, 3, torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match=r"rank 3 < n=6"):
        ContinuousThoughtSearch(u, max_edges=2, decoder="dual")


def test_matched_readout_on_random_embeddings_is_an_explicit_choice():
    """The chapter's failing variant stays reachable when asked for by name."""
    u = vertex_embeddings(6, 8, torch.Generator().manual_seed(0))
    assert ContinuousThoughtSearch(u, max_edges=2, decoder="matched").decoder == "matched"
