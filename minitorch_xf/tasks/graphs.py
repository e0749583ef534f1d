r"""Directed graphs for search: random DAGs, breadth-first search, the balanced search task of Saparov et al. (2025).

A graph on ``n`` vertices $\{0, \dots, n-1\}$ is an **edge list**: a list of pairs ``(u, v)`` (an edge $u \to v$)
or an int tensor of shape (m, 2). Everything here takes and returns plain lists and tensors, no graph objects.

* :func:`random_dag` draws a DAG: a random order of the vertices, then each forward pair is an edge with
  probability ``p``;
* :func:`bfs_layers` returns the sets $V_t$ of vertices reachable from a source within $t$ steps (the BFS
  frontier sets that the continuous thought of chapter 7 superposes), :func:`bfs_reachable` the last of them;
* :func:`path_merging` runs the idealized search of chapter 7's path-merging theorem: every vertex holds a set of
  vertices it reaches, and each layer replaces the set by the union of its members' sets;
* :func:`balanced_search_graph` draws one search problem of Saparov et al. (2025): a start vertex with
  ``n_branches`` paths of ``lookahead`` edges, the goal at the end of one of them; the answer is the first vertex
  on the goal's branch. The other branches are distractors of the same length, so the next vertex cannot be
  read off without following a branch ``lookahead`` steps;
* :class:`SearchTask` writes these problems as tokens for the chapter's trained transformer:
  ``E u v E u v ... Q start goal > next <eos>`` (edges shuffled, vertex labels drawn from ``n_labels`` names).

Shapes: n vertices, m edges; edge tensors are (m, 2), reachability vectors (n,) bool.
"""

from __future__ import annotations

import numbers
import random
from dataclasses import dataclass

import numpy as np
import torch

from .._validate import check_flag, check_generator, check_number, check_positive
from .cot import Example, _check_examples, _check_rng, _check_tokenizer, _logits_rows, _model_device, _Task

__all__ = [
    "SearchTask",
    "balanced_search_graph",
    "bfs_layers",
    "bfs_reachable",
    "branch_choice_accuracy",
    "check_dag",
    "check_graph",
    "find_cycle",
    "path_merging",
    "random_dag",
]

EDGE, QUERY = "E", "Q"
MAX_ELEMENTS = 2**30  # entries of the largest tensor random_dag or path_merging will allocate
MAX_N = 2**15  # the largest n random_dag takes


def check_graph(edges, n: int) -> list[tuple[int, int]]:
    """Validate an edge list on ``n`` vertices and return it as a list of ``(u, v)`` int pairs.

    ``edges`` is a list/tuple of pairs or an int tensor (or numpy array) of shape (m, 2); every endpoint is an int
    (numpy ints included) in ``[0, n)``.
    ``n=0`` (an empty graph) is rejected: there is no vertex to search from.
    """
    check_number("n", n, integer=True)
    if n < 1:
        raise ValueError(f"n={n}: an empty graph has no vertex to search from; n must be >= 1")
    if isinstance(edges, np.ndarray):
        if edges.dtype.kind not in "iu":
            raise TypeError(f"edges must be an int array of shape (m, 2), got dtype={edges.dtype}")
        edges = torch.from_numpy(edges.astype(np.int64))
    if isinstance(edges, torch.Tensor):
        if edges.is_meta:
            raise ValueError("edges is a tensor without data (device meta): give a cpu or cuda tensor")
        if edges.dtype.is_floating_point or edges.dtype == torch.bool or edges.is_complex():
            raise TypeError(f"edges must be an int tensor of shape (m, 2), got dtype={edges.dtype}")
        if edges.dim() != 2 or edges.shape[1] != 2:
            if edges.numel() == 0 and edges.dim() == 1:  # torch.tensor([]) of ints: no edges
                return []
            raise ValueError(f"edges must have shape (m, 2), got shape {tuple(edges.shape)}")
        edges = edges.tolist()
    if not isinstance(edges, (list, tuple)):
        raise TypeError(f"edges must be a list of (u, v) pairs or an (m, 2) int tensor, got {type(edges).__name__}")
    out = []
    for i, e in enumerate(edges):
        if not isinstance(e, (list, tuple)) or len(e) != 2:
            raise ValueError(f"edges[{i}]={e!r} is not a pair (u, v)")
        for x in e:
            if isinstance(x, bool) or not isinstance(x, numbers.Integral):
                raise TypeError(f"edges[{i}]={e!r}: vertices must be ints, got {x!r} ({type(x).__name__})")
            if not 0 <= x < n:
                raise ValueError(f"edges[{i}]={e!r}: vertex {x} is not in [0, n={n})")
        out.append((int(e[0]), int(e[1])))
    return out


def _check_vertex(name: str, v, n: int) -> int:
    check_number(name, v, integer=True)
    if not 0 <= v < n:
        raise ValueError(f"{name}={v} is not a vertex of the graph: it must lie in [0, n={n})")
    return int(v)


def _successors(edges: list[tuple[int, int]], n: int) -> list[list[int]]:
    succ: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        succ[u].append(v)
    return succ


def find_cycle(edges, n: int) -> list[int] | None:
    """A directed cycle ``[v0, v1, ..., v0]`` of the graph, or None if it is acyclic (depth-first search)."""
    edges = check_graph(edges, n)
    succ = _successors(edges, n)
    state = [0] * n  # 0 unseen, 1 on the current path, 2 done
    for root in range(n):
        if state[root]:
            continue
        path, stack = [root], [iter(succ[root])]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state[nxt] == 1:
                return [*path[path.index(nxt) :], nxt]
            elif state[nxt] == 0:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(succ[nxt]))
    return None


def check_dag(edges, n: int) -> list[tuple[int, int]]:
    """Validate the edge list (:func:`check_graph`) and that it has no directed cycle; the error names the cycle."""
    edges = check_graph(edges, n)
    cycle = find_cycle(edges, n)
    if cycle is not None:
        raise ValueError(f"the graph has the cycle {' -> '.join(map(str, cycle))}; a DAG is required")
    return edges


def random_dag(n: int, p: float, generator: torch.Generator | None = None) -> list[tuple[int, int]]:
    r"""A random DAG: vertices in a random order $\pi$, each pair $\pi_i \to \pi_j$ ($i < j$) an edge w.p. ``p``."""
    check_positive("n", n)
    if n * n > MAX_ELEMENTS:
        raise ValueError(f"n={n} needs {n * n} coin flips ({4 * n * n / 2**30:.0f} GiB); use n <= {MAX_N}")
    check_number("p", p, low=0.0, high=1.0)
    check_generator("generator", generator)
    order = torch.randperm(n, generator=generator).tolist()
    coins = torch.rand(n, n, generator=generator)  # (n, n): one coin per ordered pair of positions
    return [(order[i], order[j]) for i in range(n) for j in range(i + 1, n) if coins[i, j] < p]


def bfs_layers(edges, n: int, source: int, steps: int | None = None) -> list[list[int]]:
    r"""The sets $V_0 = \{s\}, V_1, \dots$ of vertices reachable from ``source`` within $t$ steps (sorted lists).

    With ``steps``, the list has ``steps + 1`` entries (a set that stopped growing repeats); with ``steps=None`` it
    stops once a set stops growing: the last set is every vertex reachable from ``source`` and the list has one
    entry more than the source's eccentricity.
    """
    edges = check_graph(edges, n)
    source = _check_vertex("source", source, n)
    if steps is not None:
        check_positive("steps", steps, allow_zero=True)
    succ = _successors(edges, n)
    seen, frontier = {source}, [source]
    layers = [[source]]
    while steps is None or len(layers) <= steps:
        frontier = sorted({v for u in frontier for v in succ[u]} - seen)
        if not frontier and steps is None:
            break
        seen.update(frontier)
        layers.append(sorted(seen))
    return layers


def bfs_reachable(edges, n: int, source: int) -> torch.Tensor:
    """(n,) bool: which vertices are reachable from ``source`` (the source itself included)."""
    reach = bfs_layers(edges, n, source)[-1]  # validates the graph and the source
    out = torch.zeros(n, dtype=torch.bool)
    out[reach] = True
    return out


def path_merging(edges, n: int, layers: int) -> torch.Tensor:
    r"""Path merging (chapter 7): $R_0(v) = \{v\} \cup N^+(v)$, $R_{\ell+1}(v) = \bigcup_{w \in R_\ell(v)} R_\ell(w)$.

    Our statement of the set-merging search that Saparov et al. (2025) read off trained transformers. Returns
    (layers + 1, n, n) bool: entry ``[l, v, w]`` says $w \in R_l(v)$. The sets are merged as Python sets, one union
    per member, literally as the definition reads (no matrix products).
    """
    edges = check_graph(edges, n)
    check_positive("layers", layers, allow_zero=True)
    if (layers + 1) * n * n > MAX_ELEMENTS:
        raise ValueError(
            f"n={n} and layers={layers} give a ({layers + 1}, {n}, {n}) result of {(layers + 1) * n * n} entries "
            f"(at most {MAX_ELEMENTS})"
        )
    succ = _successors(edges, n)
    sets = [{v, *succ[v]} for v in range(n)]  # R_0
    history = [sets]
    for _ in range(layers):
        sets = [set().union(*(sets[w] for w in sets[v])) for v in range(n)]
        history.append(sets)
    out = torch.zeros(layers + 1, n, n, dtype=torch.bool)
    for layer, rows in enumerate(history):
        for v, members in enumerate(rows):
            out[layer, v, sorted(members)] = True
    return out


@dataclass
class SearchProblem:
    """One balanced search problem: the edges (shuffled), the start, the goal, and the answer (the next vertex)."""

    edges: list[tuple[int, int]]
    start: int
    goal: int
    answer: int
    n_vertices: int


def balanced_search_graph(
    n_branches: int, lookahead: int, n_labels: int | None = None, rng: random.Random | None = None
) -> SearchProblem:
    """Saparov et al.'s search problem: ``n_branches`` paths of ``lookahead`` edges out of a start vertex.

    The goal is the last vertex of one branch (chosen at random); the answer is that branch's first vertex. The
    ``1 + n_branches * lookahead`` vertices get distinct labels drawn from ``range(n_labels)`` (default: exactly
    that many labels), and the edge list is shuffled, so neither labels nor positions give the answer away.
    """
    check_positive("n_branches", n_branches)
    check_positive("lookahead", lookahead)
    n_used = 1 + n_branches * lookahead
    n_labels = n_used if n_labels is None else check_positive("n_labels", n_labels)
    if n_labels < n_used:
        raise ValueError(
            f"n_labels={n_labels} is too small: {n_branches} branches of lookahead {lookahead} use {n_used} vertices"
        )
    if rng is None:
        rng = random.Random()
    _check_rng(rng)
    labels = rng.sample(range(n_labels), n_used)
    start, rest = labels[0], labels[1:]
    branches = [rest[b * lookahead : (b + 1) * lookahead] for b in range(n_branches)]
    edges = [(path[i - 1] if i else start, path[i]) for path in branches for i in range(lookahead)]
    rng.shuffle(edges)
    target = rng.randrange(n_branches)
    return SearchProblem(edges, start, branches[target][-1], branches[target][0], n_labels)


@dataclass
class SearchTask(_Task):
    """The balanced search task as tokens: ``E u v ... E u v Q start goal > next <eos>``.

    ``lookahead`` is an int or a tuple of ints (each problem draws one of them uniformly), so one model can be
    trained on a mix and scored per lookahead with ``SearchTask(..., lookahead=L).examples(...)``.
    ``query_first=True`` writes the query before the edges, ``Q start goal E u v ... > next <eos>``: a causal
    model then reads every edge knowing the start and the goal (Saparov et al.'s models are not causal, so for them
    the order does not matter).
    """

    n_branches: int = 2
    lookahead: int | tuple[int, ...] = 2
    n_labels: int = 16
    query_first: bool = False

    def __post_init__(self):
        check_flag("query_first", self.query_first)
        check_positive("n_branches", self.n_branches)
        looks = self.lookahead if isinstance(self.lookahead, tuple) else (self.lookahead,)
        if not looks:
            raise ValueError("lookahead=() is empty: give at least one lookahead")
        for L in looks:
            check_positive("lookahead", L)
        self.lookaheads = tuple(looks)
        need = 1 + self.n_branches * max(looks)
        check_positive("n_labels", self.n_labels)
        if self.n_labels < need:
            raise ValueError(f"n_labels={self.n_labels} is too small: the largest problem uses {need} vertices")

    def tokens(self) -> list[str]:
        return [EDGE, QUERY, *map(str, range(self.n_labels))]

    def sample(self, rng: random.Random) -> Example:
        _check_rng(rng)
        problem = balanced_search_graph(self.n_branches, rng.choice(self.lookaheads), self.n_labels, rng)
        edges = [tok for u, v in problem.edges for tok in (EDGE, str(u), str(v))]
        query = [QUERY, str(problem.start), str(problem.goal)]
        prompt = [*query, *edges] if self.query_first else [*edges, *query]
        return self._example(prompt, [], [str(problem.answer)])


def branch_choice_accuracy(model, examples, tokenizer) -> float:
    """Fraction of search problems where the model's answer logit is highest on the right child of the start.

    One forward pass per group of equal-length prompts: at the ``>`` marker, compare the logits of the start's
    children only (the candidates the search must choose between), so chance is ``1 / n_branches`` whatever else
    the model writes. Whatever the model returns is scored, never raised on: logits that are not (b, L, V) floats
    with V at least the tokenizer's vocabulary score the group wrong, and so does a problem whose children's logits
    are not all finite.
    """
    with torch.no_grad():  # a context, not a decorator: the function keeps its own code object
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be an nn.Module (a Decoder), got {type(model).__name__}")
        _check_examples(examples)
        _check_tokenizer(tokenizer)
        for i, ex in enumerate(examples):
            if ex.prompt.count(QUERY) != 1 or len(ex.answer) != 1:
                raise ValueError(f"examples[{i}] is not a search problem (one {QUERY!r} query, a one-token answer)")
        device = _model_device(model)
        groups: dict[int, list[Example]] = {}
        for ex in examples:
            groups.setdefault(len(ex.prompt), []).append(ex)
        correct = 0
        for group in groups.values():
            queries = torch.tensor([tokenizer.encode(ex.query(cot=False)) for ex in group], device=device)  # (b, n)
            logits, _ = _logits_rows(model(queries), *queries.shape, len(tokenizer))
            if logits is None:
                continue  # malformed output: every problem of the group is wrong
            for ex, row in zip(group, logits[:, -1], strict=True):  # the answer's logits, read at the ">" marker
                q = ex.prompt.index(QUERY)  # the query "Q start goal" comes last, or first (query_first)
                start, edges = ex.prompt[q + 1], ex.prompt[:q] + ex.prompt[q + 3 :]
                children = [edges[i + 2] for i in range(0, len(edges), 3) if edges[i + 1] == start]
                scores = row[tokenizer.encode(children)]
                if children and torch.isfinite(scores).all():
                    correct += children[int(scores.argmax())] == ex.answer[0]
        return correct / len(examples)
