from . import Mutation

ODE = "minitorch_xf.theory.ode"
MUTATIONS = [
    Mutation(
        ODE,
        "euler_flow",
        "return x + gamma * _returned",
        "return x - gamma * _returned",
        "sign flip in the Euler step",
        "check_euler_flow",
    ),
    Mutation(
        ODE,
        "euler_flow",
        "return x + gamma * _returned",
        "return x + 0.5 * gamma * _returned",
        "dropped step size (half step)",
        "check_euler_flow",
    ),
    Mutation(
        ODE,
        "lie_trotter_step",
        'y = _returned("flow_f", flow_f(x, gamma), x)',
        'y = _returned("flow_f", flow_f(x, gamma / 2), x)',
        "half a step for F in Lie-Trotter",
        "check_lie_trotter_step",
    ),
    Mutation(
        ODE,
        "strang_step",
        'y = _returned("flow_g", flow_g(x, gamma / 2), x)',
        'y = _returned("flow_g", flow_g(x, gamma), x)',
        "a full first G step in Strang (scale dropped)",
        "check_strang_step",
    ),
]
