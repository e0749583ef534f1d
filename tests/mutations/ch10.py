from . import Mutation

SVM = "minitorch_xf.theory.att_svm"
MUTATIONS = [
    Mutation(
        SVM,
        "loss_grad",
        "dl_df = -torch.sigmoid(-y * f) * y  # (..., n): d/df",
        "dl_df = torch.sigmoid(-y * f) * y  # (..., n): d/df",
        "sign flip in the loss gradient",
        "check_loss_grad",
    ),
    Mutation(
        SVM,
        "loss_grad",
        "return g_rows.transpose(-2, -1) @ z / x.shape[-3]",
        "return g_rows.transpose(-2, -1) @ z",
        "dropped 1/n normaliser of the gradient",
        "check_loss_grad",
    ),
]
