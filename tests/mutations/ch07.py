from . import Mutation

CT = "minitorch_xf.theory.continuous_thought"
MUTATIONS = [
    Mutation(
        CT,
        "frontier_superposition",
        "return u[vs].sum(0) / math.sqrt(len(vs))",
        "return u[vs].sum(0) / len(vs)",
        "wrong normaliser of the superposition (1/n instead of 1/sqrt(n))",
        "check_frontier_superposition",
    ),
    Mutation(
        CT,
        "continuous_thought_step",
        "members |= {t for s, t in edges if s in members}",
        "members |= {s for s, t in edges if t in members}",
        "edges followed backwards",
        "check_continuous_thought_step",
    ),
    Mutation(
        "minitorch_xf.tasks.graphs",
        "bfs_reachable",
        "out[reach] = True",
        "out[reach[:-1]] = True",
        "off-by-one: the last reached vertex dropped",
        "check_bfs_reachable",
    ),
]
