from . import Mutation

ENC = "minitorch_xf.theory.graph_encodings"
MP = "minitorch_xf.nn.message_passing"


def _aggregate(layer_cls):
    # the package's neighbour sum (MPNNLayer.aggregate) in the exercise's signature
    return lambda x, edge_index: layer_cls(x.shape[1]).aggregate(x, edge_index)


def _wl_round(wl_colours):
    return lambda colours, edge_index: wl_colours(edge_index, colours.shape[0], iterations=1, initial=colours)[1]


def _dense_to_edges(fn):
    # an exercise's (adj, k) call as the package's (edge_index, num_nodes, k) call
    def call(adj, k):
        out = fn(adj.nonzero().T.contiguous(), adj.shape[0], k)
        return out[0] if isinstance(out, tuple) else out

    return call


MUTATIONS = [
    Mutation(
        MP,
        "MPNNLayer",
        "total = scatter_sum(x[src], dst, x.shape[0])  # (N, d)",
        "total = scatter_sum(x[dst], dst, x.shape[0])  # (N, d)",
        "a node sums its own state once per edge instead of its neighbours' states",
        "check_neighbour_sum",
        adapter=_aggregate,
    ),
    Mutation(
        MP,
        "MPNNLayer",
        "return out.index_add_(0, index, src)",
        "return out.index_copy_(0, index, src)",
        "scatter keeps the last message instead of summing",
        "check_neighbour_sum",
        adapter=_aggregate,
    ),
    Mutation(
        ENC,
        "wl_colours",
        "signatures = [(colours[v], tuple(sorted(colours[u] for u in neighbours[v]))) for v in range(num_nodes)]",
        "signatures = [tuple(sorted(colours[u] for u in neighbours[v])) for v in range(num_nodes)]",
        "refinement forgets the node's own colour",
        "check_wl_refine",
        adapter=_wl_round,
    ),
    Mutation(
        ENC,
        "wl_colours",
        "signatures = [(colours[v], tuple(sorted(colours[u] for u in neighbours[v]))) for v in range(num_nodes)]",
        "signatures = [(colours[v], tuple(sorted(set(colours[u] for u in neighbours[v])))) for v in range(num_nodes)]",
        "neighbour colours as a set, not a multiset",
        "check_wl_refine",
        adapter=_wl_round,
    ),
    Mutation(
        ENC,
        "random_walk_se",
        "power = power @ p",
        "power = power @ a",
        "walk counts instead of probabilities (no 1/degree)",
        "check_random_walk_se",
        adapter=_dense_to_edges,
    ),
    Mutation(
        ENC,
        "random_walk_se",
        "out.append(torch.diagonal(power))",
        "out.append(torch.diagonal(power @ p))",
        "off-by-one in the walk length",
        "check_random_walk_se",
        adapter=_dense_to_edges,
    ),
    Mutation(
        ENC,
        "laplacian_pe",
        "pe[start : start + n] = vec[:, 1 : k + 1]",
        "pe[start : start + n] = vec[:, :k]",
        "keeps the trivial eigenvector of eigenvalue 0",
        "check_laplacian_pe",
        adapter=_dense_to_edges,
    ),
    Mutation(
        ENC,
        "laplacian_pe",
        "return torch.eye(num_nodes, dtype=torch.float64) - inv_sqrt[:, None] * a * inv_sqrt[None, :]",
        "return torch.eye(num_nodes, dtype=torch.float64) - a / (a.sum(1) + 1)[:, None]",
        "wrong normalization of the Laplacian",
        "check_laplacian_pe",
        adapter=_dense_to_edges,
    ),
]
