from . import Mutation

ENERGY = "minitorch_xf.theory.energy"
MUTATIONS = [
    Mutation(
        ENERGY,
        "pairwise_energy",
        "return -kernel_weights(y, w_s).sum(dim=(-2, -1))",
        "return kernel_weights(y, w_s).sum(dim=(-2, -1))",
        "sign flip of the energy",
        "check_pairwise_energy",
    ),
    Mutation(
        ENERGY,
        "pairwise_energy",
        "return torch.exp(-_half_sq_dists(",
        "return torch.exp(-2 * _half_sq_dists(",
        "dropped 1/2 in the kernel's exponent",
        "check_pairwise_energy",
    ),
    Mutation(
        ENERGY,
        "relu_step",
        "return torch.relu(x - step * grad)",
        "return torch.relu(x + step * grad)",
        "sign flip in the projected gradient step",
        "check_relu_step",
    ),
    Mutation(
        ENERGY,
        "relu_step",
        "return torch.relu(x - step * grad)",
        "return x - step * grad",
        "projection onto the orthant dropped",
        "check_relu_step",
    ),
]
