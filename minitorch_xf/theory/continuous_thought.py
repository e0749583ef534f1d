r"""A hand-built two-layer transformer whose continuous thought is the BFS frontier in superposition (Zhu et al., 2025).

Our formulation of the construction of Zhu et al. (2025, "Reasoning by Superposition"). Vertex $v$ has an
embedding $u_v \in \mathbb{R}^d$: one-hot ($d = n$) or a random unit vector. The prompt lists each edge $(s, t)$ as
three tokens ``s t <e>``, then the root $r$; every later position holds a **continuous thought**: the last hidden
state, fed back as the next input. The $t$-th thought is

$$c_t = |V_t|^{-1/2} \sum_{v \in V_t} u_v, \qquad V_t = \{v : v \text{ reachable from } r \text{ in} \le t
\text{ steps}\},$$

so after $D$ thoughts ($D$ the diameter) $c_D$ holds every vertex reachable from $r$, and ``r -> goal`` is decided
by the overlap $\langle c_D, u_{goal}\rangle$ against a threshold. Weights are set by formula, never trained:

* **layer 1** (two positional heads): the ``<e>`` token at position $p$ attends to positions $p-2$ and $p-1$ and
  copies the source embedding $u_s$ and the target embedding $u_t$ into two buffer subspaces;
* **layer 2** (one head): the thought's query is $\beta W^\top W c_t$ ($W$ the readout below; $\beta c_t$ for
  one-hot embeddings), each ``<e>`` token's key its source buffer $u_s$, so the edges whose source lies in $V_t$
  score $\beta |V_t|^{-1/2}$ and all others $\approx 0$; the value is the
  target buffer. A sink token (position 0, value 0) with a score below every frontier edge takes the attention
  when no edge leaves $V_t$. The residual adds $c_t$;
* **MLP filter**: one hidden unit pair per vertex reads $\langle w_v, z\rangle$ ($w_v = u_v$, or the dual basis
  vector with ``decoder="dual"``), maps it through the ramp ``clamp(x / eps - 1, 0, 1)`` (a difference of two
  ReLUs) and writes $\sum_v h_v u_v$; dividing by $\sqrt{\sum_v h_v}$ (the number of active vertices) restores
  the $|V|^{-1/2}$ normalization.

Residual stream of width ``3 d + max_len + 3``: ``[content | source buffer | target buffer | position one-hot |
1, is_edge_marker, is_sink]``. Shapes: n vertices, d embedding dim, m edges, L = 3 m + 2 + steps positions.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from .._validate import (
    check_choice,
    check_float_dtype,
    check_generator,
    check_like,
    check_number,
    check_positive,
    check_size,
    check_tensor,
)
from ..tasks.graphs import _check_vertex, check_graph

__all__ = [
    "ContinuousThoughtSearch",
    "continuous_thought_step",
    "frontier_superposition",
    "vertex_embeddings",
]

DECODERS = ("matched", "dual")


def vertex_embeddings(
    n: int, d: int | None = None, generator: torch.Generator | None = None, dtype=torch.float64
) -> torch.Tensor:
    """(n, d) vertex embeddings: one-hot rows (``d=None`` or ``d=n`` without a generator) or random unit vectors."""
    check_positive("n", n)
    check_generator("generator", generator)
    check_float_dtype("dtype", dtype)
    if d is not None:
        check_positive("d", d)
    check_size(f"vertex_embeddings(n={n}, d={d})", n * (n if d is None else d))
    if d is None or (d == n and generator is None):
        return torch.eye(n, dtype=dtype)
    u = torch.randn(n, d, generator=generator, dtype=dtype)  # (n, d)
    return u / u.norm(dim=1, keepdim=True)


def _check_embeddings(embeddings) -> torch.Tensor:
    check_tensor("embeddings", embeddings, ndim=2, floating=True)
    if embeddings.shape[0] == 0 or embeddings.shape[1] == 0:
        raise ValueError(f"embeddings has shape {tuple(embeddings.shape)}: it needs one row per vertex, d >= 1")
    return embeddings


def frontier_superposition(embeddings: torch.Tensor, vertices) -> torch.Tensor:
    r"""$|V|^{-1/2} \sum_{v \in V} u_v$: the normalized superposition of the rows of ``embeddings`` in ``vertices``.

    embeddings: (n, d); vertices: a non-empty list of distinct vertex indices -> (d,).
    """
    u = _check_embeddings(embeddings)
    if isinstance(vertices, (torch.Tensor, np.ndarray)):
        vertices = vertices.tolist()
    if not isinstance(vertices, (list, tuple)) or not vertices:
        raise ValueError(f"vertices={vertices!r} must be a non-empty list of vertex indices")
    vs = [_check_vertex("vertices[i]", v, u.shape[0]) for v in vertices]
    if len(set(vs)) != len(vs):
        raise ValueError(f"vertices={vertices!r} has repeated vertices: a set is superposed")
    return u[vs].sum(0) / math.sqrt(len(vs))


def _check_decoder(decoder, u: torch.Tensor) -> str:
    """The readout for ``u``: the default refuses non-orthonormal embeddings; ``"dual"`` warns when it is inexact."""
    if decoder is not None:
        check_choice("decoder", decoder, DECODERS)
    if decoder is None:
        u_d = u.detach()
        off = float((u_d @ u_d.T - torch.eye(u.shape[0], dtype=u.dtype, device=u.device)).abs().max())
        if off > 1e3 * torch.finfo(u.dtype).eps:
            raise ValueError(
                f"embeddings are not orthonormal (max |<u_v, u_w> - [v = w]| = {off:.3g}): the default matched "
                "readout then mixes in cross-talk and can give impossible answers (the root unreachable from "
                "itself); pass decoder='dual' (exact when the n embeddings are linearly independent, n <= d), or "
                "decoder='matched' to accept the cross-talk"
            )
        return "matched"
    if decoder == "dual":
        rank = int(torch.linalg.matrix_rank(u.detach().double()))
        if rank < u.shape[0]:
            warnings.warn(
                f"embeddings have rank {rank} < n={u.shape[0]} (linearly dependent, e.g. n > d): the dual readout "
                "is not exact and reachability answers can be wrong",
                stacklevel=3,
            )
    return decoder


class ContinuousThoughtSearch:
    """The two-layer construction above, for graphs on the ``n`` vertices of ``embeddings`` (n, d).

    Args:
        embeddings: (n, d) float vertex embeddings (:func:`vertex_embeddings`).
        max_edges: the longest edge list a prompt may hold (fixes the positional width).
        max_steps: the most thoughts :meth:`thoughts` may run.
        beta: the attention sharpness of both layers (scores are multiplied by it); default ``50 * sqrt(n)``.
        decoder: ``"matched"`` (the filter reads $\\langle u_v, z\\rangle$) or ``"dual"`` (it reads with the dual
            basis $U^+$, exact when the $n$ embeddings are linearly independent, i.e. $n \\le d$). The default,
            ``None``, is ``"matched"`` for orthonormal embeddings and raises for any others: there the matched
            readout mixes in cross-talk and gives impossible answers (chapter 7, "Random embeddings"; even the
            root can read as unreachable from itself), so pass ``"dual"``, or ``"matched"`` to study the failure.
            ``"dual"`` with linearly dependent embeddings warns: it is not exact there either.
    """

    def __init__(
        self,
        embeddings: torch.Tensor,
        max_edges: int,
        max_steps: int | None = None,
        beta: float | None = None,
        decoder: str | None = None,
    ):
        u = _check_embeddings(embeddings)
        if u.device.type != "cpu":
            raise ValueError(
                f"embeddings are on {u.device}: the construction's weights are built on the CPU, pass embeddings.cpu()"
            )
        n, d = u.shape
        check_positive("max_edges", max_edges)
        max_steps = n if max_steps is None else check_positive("max_steps", max_steps)
        beta = 50.0 * math.sqrt(n) if beta is None else check_number("beta", beta, low=0, low_open=True)
        decoder = _check_decoder(decoder, u)
        self.u, self.n, self.d, self.beta, self.decoder = u, n, d, beta, decoder
        self.max_edges, self.max_steps = max_edges, max_steps
        self.max_len = 3 * max_edges + 2 + max_steps
        # the filter's threshold: below every coefficient of a member (>= 1/sqrt(n) for the kept set, >= 1/m for a
        # new target under the averaging attention), so eps = 1 / (4 max(m, sqrt n)) and the ramp ends at 2 eps
        self.eps = 1.0 / (4.0 * max(max_edges, math.sqrt(n)))
        self.sink_score = 0.5 / math.sqrt(n)  # below 1/sqrt(|V_t|), the score of a frontier edge, above 0
        self.decode = u if decoder == "matched" else torch.linalg.pinv(u).T  # (n, d): rows w_v
        # slices of the residual stream
        self.C, self.S, self.T = slice(0, d), slice(d, 2 * d), slice(2 * d, 3 * d)
        self.P = slice(3 * d, 3 * d + self.max_len)
        self.ONE, self.MARK, self.SINK = 3 * d + self.max_len, 3 * d + self.max_len + 1, 3 * d + self.max_len + 2
        self.width = 3 * d + self.max_len + 3
        check_size(
            f"ContinuousThoughtSearch(n={n}, d={d}, max_edges={max_edges}, max_steps={max_steps})'s weights",
            self.width * max(self.max_len, d + 1),
        )
        self._build_weights()

    def _build_weights(self) -> None:
        """Every weight matrix by formula: (width, k) maps from the residual stream."""
        w, d, L, dt = self.width, self.d, self.max_len, self.u.dtype
        shift = [torch.zeros(w, L, dtype=dt) for _ in range(2)]  # layer 1 queries: e_p -> e_{p-2}, e_{p-1}
        for back, q in zip((2, 1), shift, strict=True):
            q[self.P][back:, : L - back] = torch.eye(L - back, dtype=dt)
        self.q1 = [self.beta * q for q in shift]
        self.k1 = torch.zeros(w, L, dtype=dt)
        self.k1[self.P] = torch.eye(L, dtype=dt)  # key = the position one-hot
        self.v1 = torch.zeros(w, d, dtype=dt)
        self.v1[self.C] = torch.eye(d, dtype=dt)  # value = the content
        self.o1 = [torch.zeros(d, w, dtype=dt) for _ in range(2)]  # write into the source / target buffer
        self.o1[0][:, self.S] = torch.eye(d, dtype=dt)
        self.o1[1][:, self.T] = torch.eye(d, dtype=dt)
        # layer 2: query [beta * content, 1]; key [source buffer, flag score]; value target buffer -> content
        self.q2 = torch.zeros(w, d + 1, dtype=dt)
        self.q2[self.C, :d] = self.beta * self.decode.T @ self.decode  # score = beta * (W c)_s: c's weight on s
        self.q2[self.ONE, d] = 1.0
        self.k2 = torch.zeros(w, d + 1, dtype=dt)
        self.k2[self.S, :d] = torch.eye(d, dtype=dt)
        gamma = 4.0 * self.beta  # non-edge tokens score -gamma: far below every edge
        self.k2[self.ONE, d] = -gamma
        self.k2[self.MARK, d] = gamma
        self.k2[self.SINK, d] = gamma + self.beta * self.sink_score
        self.v2 = torch.zeros(w, d, dtype=dt)
        self.v2[self.T] = torch.eye(d, dtype=dt)
        self.o2 = torch.zeros(d, w, dtype=dt)
        self.o2[:, self.C] = torch.eye(d, dtype=dt)

    @staticmethod
    def _attend(x: torch.Tensor, wq, wk, wv, wo) -> torch.Tensor:
        """Causal single-head attention without the 1/sqrt(d) scale (the scale is in beta): (L, w) -> (L, w)."""
        scores = (x @ wq) @ (x @ wk).T  # (L, L)
        causal = torch.ones_like(scores, dtype=torch.bool).tril()
        weights = scores.masked_fill(~causal, -math.inf).softmax(-1)  # (L, L)
        return weights @ (x @ wv) @ wo

    def encode(self, edges, root: int) -> torch.Tensor:
        """The prompt ``<sink> s t <e> ... s t <e> r`` as residual-stream rows: (3 m + 2, width)."""
        edges = check_graph(edges, self.n)
        root = _check_vertex("root", root, self.n)
        if not edges:
            raise ValueError("edges is empty: the prompt needs at least one edge")
        if len(edges) > self.max_edges:
            raise ValueError(f"the graph has {len(edges)} edges, more than max_edges={self.max_edges}")
        rows = [self._token(None, 0, sink=True)]
        for s, t in edges:
            rows += [self._token(self.u[s], len(rows)), self._token(self.u[t], len(rows) + 1)]
            rows.append(self._token(None, len(rows), marker=True))
        rows.append(self._token(self.u[root], len(rows)))
        return torch.stack(rows)

    def _token(self, content, pos: int, marker: bool = False, sink: bool = False) -> torch.Tensor:
        x = torch.zeros(self.width, dtype=self.u.dtype)
        if content is not None:
            x[self.C] = content
        x[self.P.start + pos] = 1.0
        x[self.ONE], x[self.MARK], x[self.SINK] = 1.0, float(marker), float(sink)
        return x

    def _check_stream(self, x) -> torch.Tensor:
        check_tensor("x", x, ndim=2, floating=True)
        if x.shape[1] != self.width or not 1 <= x.shape[0] <= self.max_len:
            raise ValueError(
                f"x has shape {tuple(x.shape)}; expected (L, width={self.width}) with 1 <= L <= {self.max_len} "
                "(rows of the residual stream, as encode() builds them)"
            )
        check_like("x", x, "embeddings", self.u)
        return x

    def layer1(self, x: torch.Tensor) -> torch.Tensor:
        """Copy each edge's source and target embedding into its ``<e>`` token's buffers: (L, w) -> (L, w)."""
        self._check_stream(x)
        heads = (self._attend(x, q, self.k1, self.v1, o) for q, o in zip(self.q1, self.o1, strict=True))
        out = x + sum(heads)
        # the buffers only mean something at <e> tokens; elsewhere layer 2 gives them a score of -gamma
        return out

    def layer2(self, x: torch.Tensor) -> torch.Tensor:
        """The thought attends to the edges leaving its superposition and adds their targets: (L, w) -> (L, w)."""
        self._check_stream(x)
        return x + self._attend(x, self.q2, self.k2, self.v2, self.o2)

    def filter(self, z: torch.Tensor) -> torch.Tensor:
        r"""MLP filter, then normalization: (d,) -> $(\sum_v h_v)^{-1/2} \sum_v h_v u_v$, $h_v$ = ramp($w_v^\top z$)."""
        check_tensor("z", z, ndim=1, floating=True)
        if z.shape[0] != self.d:
            raise ValueError(f"z has shape {tuple(z.shape)}; expected ({self.d},) like the embeddings")
        check_like("z", z, "embeddings", self.u)
        a = self.decode @ z / self.eps  # (n,)
        h = torch.relu(a - 1.0) - torch.relu(a - 2.0)  # (n,) in [0, 1]: 0 below eps, 1 above 2 eps
        total = h.sum()
        if total <= 0:
            return torch.zeros_like(z)
        return (h @ self.u) / total.sqrt()

    def thoughts(self, edges, root: int, steps: int) -> torch.Tensor:
        """Run ``steps`` continuous thoughts from ``root``: (steps + 1, d), row t is $c_t$ (row 0 is $u_r$)."""
        check_positive("steps", steps, allow_zero=True)
        if steps > self.max_steps:
            raise ValueError(f"steps={steps} is more than max_steps={self.max_steps}")
        x = self.encode(edges, root)  # (3 m + 2, w)
        out = [x[-1, self.C]]
        for _ in range(steps):
            h = self.layer2(self.layer1(x))  # (L, w); layer 1 is recomputed as a transformer would (no cache)
            c = self.filter(h[-1, self.C])  # (d,): the next continuous thought
            out.append(c)
            x = torch.cat([x, self._token(c, x.shape[0])[None]])  # fed back as the next input
        return torch.stack(out)

    def overlaps(self, edges, root: int, steps: int) -> torch.Tensor:
        r"""(steps + 1, n): $\langle c_t, w_v \rangle$ for every thought and vertex (the frontier growing)."""
        return self.readout(self.thoughts(edges, root, steps))

    def reachable(self, edges, root: int, goal: int, steps: int, threshold: float | None = None) -> bool:
        r"""Decide ``root -> goal``: $\langle c_{steps}, w_{goal}\rangle >$ ``threshold`` (default $1/(2\sqrt n)$).

        $w_{goal}$ is the goal's readout vector: its embedding $u_{goal}$ (``decoder="matched"``) or its dual vector.
        """
        goal = _check_vertex("goal", goal, self.n)
        if threshold is None:
            threshold = 0.5 / math.sqrt(self.n)
        check_number("threshold", threshold)
        return bool(self.thoughts(edges, root, steps)[-1] @ self.decode[goal] > threshold)

    def readout(self, thoughts: torch.Tensor) -> torch.Tensor:
        r"""(T, d) thoughts -> (T, n) overlaps $\langle c_t, w_v\rangle$ with every vertex's readout vector."""
        check_tensor("thoughts", thoughts, ndim=2, floating=True)
        if thoughts.shape[1] != self.d:
            raise ValueError(f"thoughts has shape {tuple(thoughts.shape)}; expected (T, {self.d}) like the embeddings")
        check_like("thoughts", thoughts, "embeddings", self.u)
        return thoughts @ self.decode.T


def continuous_thought_step(embeddings: torch.Tensor, edges, thought: torch.Tensor) -> torch.Tensor:
    r"""One idealized thought step (orthonormal embeddings): read $V_t$ off $c_t$, add the out-neighbours, superpose.

    $V_t = \{v : \langle u_v, c_t\rangle > \frac12 \max_w \langle u_w, c_t\rangle\}$ is exact for orthonormal rows
    and an equal-weight superposition; the result is $|V_{t+1}|^{-1/2}\sum_{v\in V_{t+1}} u_v$ with
    $V_{t+1} = V_t \cup N^+(V_t)$.
    """
    u = _check_embeddings(embeddings)
    edges = check_graph(edges, u.shape[0])
    check_tensor("thought", thought, ndim=1, floating=True)
    if thought.shape[0] != u.shape[1]:
        raise ValueError(f"thought has shape {tuple(thought.shape)}; expected ({u.shape[1]},) like the embeddings")
    check_like("thought", thought, "embeddings", u)
    scores = u @ thought  # (n,)
    if not scores.max() > 0:
        raise ValueError("thought has no positive overlap with any vertex: it is not a superposition of vertices")
    members = {int(v) for v in torch.nonzero(scores > 0.5 * scores.max()).flatten()}
    members |= {t for s, t in edges if s in members}
    return frontier_superposition(u, sorted(members))
