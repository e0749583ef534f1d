from . import Mutation

ASPECT = "minitorch_xf.theory.aspect_ratio"
INDUCTION = "minitorch_xf.theory.induction"
MUTATIONS = [
    Mutation(
        ASPECT,
        "block_params",
        "(2 * d * f + f + d)",
        "(2 * d * f + f)",
        "FFN output bias dropped",
        "check_block_param_count",
    ),
    Mutation(
        ASPECT,
        "block_params",
        "(4 * d * d + 4 * d)",
        "(4 * d * d)",
        "attention biases dropped",
        "check_block_param_count",
    ),
    Mutation(
        ASPECT, "block_params", "+ 4 * d\n", "+ 2 * d\n", "one layer norm instead of two", "check_block_param_count"
    ),
    Mutation(
        INDUCTION,
        "previous_token_head",
        "device=onehot.device), -1)",
        "device=onehot.device), 1)",
        "shift towards the next token (masked) instead of the previous one",
        "check_previous_token_head",
    ),
    Mutation(
        INDUCTION,
        "previous_token_head",
        "q = beta * (pos @ shift)",
        "q = pos @ shift",
        "inverse temperature beta ignored",
        "check_previous_token_head",
    ),
    Mutation(
        INDUCTION,
        "induction_head",
        "rank = gamma * torch.arange",
        "rank = -gamma * torch.arange",
        "recency bonus reversed (the oldest match wins)",
        "check_induction_head",
    ),
    Mutation(
        INDUCTION,
        "induction_head",
        "k = torch.cat([prev,",
        "k = torch.cat([onehot,",
        "keys from the current token instead of the previous one",
        "check_induction_head",
    ),
]
