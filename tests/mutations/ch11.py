from . import Mutation

HYLA = "minitorch_xf.nn.hyla"
MUTATIONS = [
    Mutation(
        HYLA,
        "rms_head_norm",
        ".pow(2).mean(dim=1, keepdim=True)",
        ".pow(2).mean(dim=-1, keepdim=True)",
        "RMS normaliser over the wrong axis (keys, not heads)",
        "check_rms_head_norm",
    ),
    Mutation(
        HYLA,
        "hypernetwork_weights",
        '"bhst,hmn->bstmn"',
        '"bhst,hnm->bstmn"',
        "transposed per-head weight",
        "check_hypernetwork_weights",
    ),
    Mutation(
        "minitorch_xf.tasks.fuzzy_logic",
        "zadeh_dnf",
        "return literals.amin(-1).amax(-1)",
        "return literals.amax(-1).amin(-1)",
        "AND and OR swapped in the Zadeh DNF",
        "check_zadeh_dnf",
    ),
]
