from . import Mutation

MUTATIONS = [
    Mutation(
        "minitorch_xf.nn.attention",
        "causal_mask",
        "return j <= i + (t - s)",
        "return j < i + (t - s)",
        "off-by-one in the causal mask (a query cannot see itself)",
        "check_causal_mask",
    ),
    Mutation(
        "minitorch_xf.nn.attention",
        "causal_mask",
        "return j <= i + (t - s)",
        "return j <= i + (t - s) + 1",
        "off-by-one in the causal mask (a query sees the next key)",
        "check_causal_mask",
    ),
    Mutation(
        "minitorch_xf.nn.norms",
        "layer_norm",
        "var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)",
        "var = ((x - mu) ** 2).sum(dim=-1, keepdim=True) / (x.shape[-1] - 1)",
        "wrong normaliser in LayerNorm (unbiased variance)",
        "check_layer_norm",
    ),
    Mutation(
        "minitorch_xf.nn.norms",
        "layer_norm",
        "y = (x - mu) / torch.sqrt(var + eps)",
        "y = x / torch.sqrt(var + eps)",
        "LayerNorm without centring",
        "check_layer_norm",
    ),
]
