from . import Mutation

MODULE = "minitorch_xf.theory.induction"
MUTATIONS = [
    Mutation(
        MODULE,
        "mean_pool",
        "return x.sum(dim=-2) / x.shape[-2]",
        "return x.sum(dim=-2)",
        "dropped 1/n normaliser",
        "check_mean_pool",
    ),
    Mutation(
        MODULE,
        "mean_pool",
        "return x.sum(dim=-2) / x.shape[-2]",
        "return x.sum(dim=-2) / (x.shape[-2] + 1)",
        "off-by-one in the normaliser",
        "check_mean_pool",
    ),
    Mutation(
        MODULE,
        "centred",
        "return x - mean_pool(x).unsqueeze(-2)",
        "return x + mean_pool(x).unsqueeze(-2)",
        "sign flip in the centring",
        "check_centred",
    ),
]
