from . import Mutation


def _w0_before_eta(gd_step):
    """The package's ``gd_step(x, y, eta, w0)`` in the exercise's order ``(x, y, w0, eta)``."""
    return lambda x, y, w0, eta: gd_step(x, y, eta, w0)


ICL = "minitorch_xf.theory.icl"
MUTATIONS = [
    Mutation(
        ICL,
        "gd_step",
        "return w - eta / x.shape[-2] *",
        "return w - eta *",
        "dropped 1/N in the gradient",
        "check_gd_step",
        _w0_before_eta,
    ),
    Mutation(
        ICL,
        "gd_step",
        "return w - eta / x.shape[-2] *",
        "return w + eta / x.shape[-2] *",
        "sign flip in the gradient step",
        "check_gd_step",
        _w0_before_eta,
    ),
]
