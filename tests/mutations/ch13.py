from . import Mutation

ONLINE = "minitorch_xf.kernels.online"
MUTATIONS = [
    Mutation(
        ONLINE,
        "merge_states",
        "o = (a1[:, None] * o1 + a2[:, None] * o2)",
        "o = (a1[:, None] * o1 + a1[:, None] * o2)",
        "the second state weighted by the first's factor",
        "check_merge_states",
    ),
    Mutation(
        ONLINE,
        "merge_states",
        "o = (a1[:, None] * o1 + a2[:, None] * o2) / torch.where(ell > 0, ell, torch.ones_like(ell))[:, None]",
        "o = (a1[:, None] * o1 + a2[:, None] * o2)",
        "dropped normaliser of the merged output",
        "check_merge_states",
    ),
]
