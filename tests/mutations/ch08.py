from . import Mutation

MUTATIONS = [
    Mutation(
        "minitorch_xf.nn.higher_order",
        "khatri_rao",
        "out = a.unsqueeze(-2) * b.unsqueeze(-3)",
        "out = a.unsqueeze(-3) * b.unsqueeze(-2)",
        "Khatri-Rao factors in the wrong order",
        "check_khatri_rao",
    ),
    Mutation(
        "minitorch_xf.tasks.match3",
        "match3_labels",
        "(-a) % modulus in pair_sums",
        "a % modulus in pair_sums",
        "sign flip in the Match3 condition",
        "check_match3_labels",
    ),
]
