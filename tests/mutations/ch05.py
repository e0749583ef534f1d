from . import Mutation

MUTATIONS = [
    Mutation(
        "minitorch_xf.nn.relative",
        "toeplitz",
        "return values[..., i - j + max_len - 1]",
        "return values[..., j - i + max_len - 1]",
        "transposed Toeplitz index (i - j -> j - i)",
        "check_toeplitz",
    ),
    Mutation(
        "minitorch_xf.nn.relative",
        "toeplitz",
        "return values[..., i - j + max_len - 1]",
        "return values[..., (i - j + max_len) % values.shape[-1]]",
        "off-by-one in the Toeplitz offset",
        "check_toeplitz",
    ),
]
