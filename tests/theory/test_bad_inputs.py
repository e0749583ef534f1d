"""Every public function and class of ``minitorch_xf.theory`` called as a careless user would.

Each entry of ``BAD`` is a bad call that must raise up front with a message naming the bad argument (the
``match`` pattern); each entry of ``HANDLED`` is an odd but valid call whose documented answer we check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from bad_calls import Bad, Handled, walker_tests

from minitorch_xf.theory.energy import (
    EnergyTransformer,
    energy_descent_step,
    hopfield_energy,
    hopfield_update,
    kernel_weights,
    pairwise_energy,
    pairwise_energy_grad,
    relu_energy,
    relu_step,
    softmax_attention_update,
)
from minitorch_xf.theory.looped import SubleqTransformer, algoformer, subleq_interpreter, unroll
from minitorch_xf.theory.ode import (
    ParticleSystem,
    euler_flow,
    fit_loglog_slope,
    integrate,
    lie_trotter_step,
    local_errors,
    random_particle_system,
    rk4_flow,
    strang_step,
)

NAN, INF = math.nan, math.inf
F64 = torch.float64


def r(*shape, dtype=F64, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def sym(d, dtype=F64):
    a = r(d, d, dtype=dtype, seed=5)
    return (a + a.T) / 4


Y = r(5, 3)  # (n, d) tokens
W = sym(3)
PATTERNS = r(4, 3, seed=2)  # (N, d)
X0 = r(4, 3, seed=3)  # (n, d) particles


def ident(x):
    return x


def as_list(x):
    return x.tolist()


def as_list2(x, gamma):
    return x.tolist()


def step_id(x, gamma):
    return x


def first_two(x):
    return x[:2]


def system():
    return random_particle_system(3, hidden=4, seed=0)


def flows():
    s = system()
    return euler_flow(s.interaction), euler_flow(s.per_particle)


def lie(x, gamma, ff=None, fg=None):
    ff_, fg_ = flows()
    return lie_trotter_step(x, gamma, ff or ff_, fg or fg_)


def strang(x, gamma, ff=None, fg=None):
    ff_, fg_ = flows()
    return strang_step(x, gamma, ff or ff_, fg or fg_)


def errors(step=lie_trotter_step, reference=None, gammas=(0.1, 0.05)):
    ff, fg = flows()
    ref = rk4_flow(system().field) if reference is None else reference
    return local_errors(step, ref, X0, gammas, ff, fg)


def particles(**override):
    s = system()
    fields = {name: getattr(s, name) for name in ("w_q", "w_k", "w_v", "w_1", "b_1", "w_2")}
    fields.update(override)
    return ParticleSystem(**fields).field(X0)


def machine(**kw):
    return SubleqTransformer(2, 1, **kw)


def x_machine():
    m = machine()
    return m, m.encode([1, 2], [(0, 1, 0)])


INDEF = torch.diag(torch.tensor([1.0, 0.5, -0.5], dtype=F64))  # symmetric, one negative eigenvalue
PSD = r"w_s must be positive semi-definite.*-0.5"
RANK1 = torch.tensor([[1.0, 2.0, -1.0]]).T @ torch.tensor([[1.0, 2.0, -1.0]])  # float32 W^T W of rank 1


def loop_energy(y, w_s):
    """-sum_ij exp(-1/2 (y_i - y_j)^T W_s (y_i - y_j)), pair by pair."""
    return -sum(torch.exp(-0.5 * (a - b) @ w_s @ (a - b)) for a in y for b in y)


def sdpa_step(y, step):
    """(1 - step) y + step softmax(y y^T) y, from torch's attention: the descent step for equal-norm tokens."""
    return (1 - step) * y + step * torch.nn.functional.scaled_dot_product_attention(y, y, y, scale=1.0)


LN = torch.nn.functional.layer_norm(Y, (3,), eps=0.0)  # equal norms

COUNTER = ([5, 1, -1, 0, 0], [(2, 3, 1), (1, 0, 3), (4, 4, 0)])

BAD = [
    # ---- energy
    Bad("kernel_weights y 1-D", lambda: kernel_weights(r(5)), ValueError, r"y must have at least 2 dims"),
    Bad("kernel_weights y int", lambda: kernel_weights(Y.long()), TypeError, r"y must be a floating"),
    Bad("kernel_weights y str", lambda: kernel_weights("y"), TypeError, r"y must be a torch.Tensor"),
    Bad("kernel_weights w_s asym", lambda: kernel_weights(Y, r(3, 3)), ValueError, r"w_s must be symmetric"),
    Bad("kernel_weights w_s shape", lambda: kernel_weights(Y, sym(4)), ValueError, r"w_s must have shape \(3, 3\)"),
    Bad("kernel_weights w_s dtype", lambda: kernel_weights(Y, W.float()), TypeError, r"w_s has dtype torch.float32"),
    Bad("pairwise_energy w_s list", lambda: pairwise_energy(Y, [[1.0]]), TypeError, r"w_s must be a torch.Tensor"),
    Bad("pairwise_energy_grad w_s dtype", lambda: pairwise_energy_grad(Y.float(), W), TypeError, r"w_s has dtype"),
    Bad("descent step nan", lambda: energy_descent_step(Y, step=NAN), ValueError, r"step=nan"),
    Bad("descent step 0", lambda: energy_descent_step(Y, step=0), ValueError, r"step=0"),
    Bad("descent step<0", lambda: energy_descent_step(Y, step=-0.5), ValueError, r"step=-0.5"),
    Bad("descent step bool", lambda: energy_descent_step(Y, step=True), TypeError, r"step must be a .*number"),
    Bad("descent step inf", lambda: energy_descent_step(Y, step=INF), ValueError, r"step=inf"),
    Bad("attn update w_q shape", lambda: softmax_attention_update(Y, r(4, 4), W), ValueError, r"w_q must have shape"),
    Bad("attn update w_q dtype", lambda: softmax_attention_update(Y, W.float(), W), TypeError, r"w_q has dtype"),
    Bad("attn update step nan", lambda: softmax_attention_update(Y, W, W, step=NAN), ValueError, r"step=nan"),
    Bad("attn update w_v shape", lambda: softmax_attention_update(Y, W, W, w_v=r(2, 3)), ValueError, r"w_v must have"),
    Bad("relu_energy w asym", lambda: relu_energy(Y, r(3, 3)), ValueError, r"w must be symmetric"),
    Bad("relu_energy b shape", lambda: relu_energy(Y, W, r(4)), ValueError, r"b must have shape \(3,\)"),
    Bad("relu_energy b float", lambda: relu_energy(Y, W, 1.0), TypeError, r"b must be a torch.Tensor"),
    Bad("relu_energy w dtype", lambda: relu_energy(Y.float(), W), TypeError, r"w has dtype torch.float64"),
    Bad("relu_step step nan", lambda: relu_step(Y, W, step=NAN), ValueError, r"step=nan"),
    Bad("relu_step b list", lambda: relu_step(Y, W, [0.0, 0.0, 0.0]), TypeError, r"b must be a torch.Tensor"),
    Bad("relu_step x int", lambda: relu_step(Y.long(), W), TypeError, r"x must be a floating"),
    Bad("relu_step w dtype", lambda: relu_step(Y.float(), W), TypeError, r"w has dtype torch.float64"),
    Bad("hopfield_energy beta nan", lambda: hopfield_energy(Y, PATTERNS, beta=NAN), ValueError, r"beta=nan"),
    Bad("hopfield_energy no patterns", lambda: hopfield_energy(Y, r(0, 3)), ValueError, r"patterns has shape \(0, 3"),
    Bad("hopfield_energy d", lambda: hopfield_energy(Y, r(4, 2)), ValueError, r"patterns have d=2"),
    Bad("hopfield_energy patterns 3-D", lambda: hopfield_energy(Y, r(1, 4, 3)), ValueError, r"patterns must have 2"),
    Bad("hopfield_update beta 0", lambda: hopfield_update(Y, PATTERNS, beta=0), ValueError, r"beta=0"),
    Bad("hopfield_update no patterns", lambda: hopfield_update(Y, r(0, 3)), ValueError, r"patterns has shape \(0, 3"),
    Bad("hopfield_update dtype", lambda: hopfield_update(Y.float(), PATTERNS), TypeError, r"patterns has dtype"),
    Bad("EnergyTransformer d=0", lambda: EnergyTransformer(0, 2), ValueError, r"d=0"),
    Bad("EnergyTransformer n_layers=0", lambda: EnergyTransformer(3, 0), ValueError, r"n_layers=0"),
    Bad("EnergyTransformer step nan", lambda: EnergyTransformer(3, 2, step=NAN), ValueError, r"step=nan"),
    Bad("EnergyTransformer w shape", lambda: EnergyTransformer(3, 2, w=r(2, 2)), ValueError, r"w must have shape"),
    Bad("EnergyTransformer w int", lambda: EnergyTransformer(3, 2, w=torch.eye(3).long()), TypeError, r"w must be"),
    Bad("EnergyTransformer w str", lambda: EnergyTransformer(3, 2, w="eye"), TypeError, r"w must be a torch.Tensor"),
    Bad("EnergyTransformer y d", lambda: EnergyTransformer(3, 2)(r(5, 4)), ValueError, r"d=3"),
    Bad("EnergyTransformer y 1-D", lambda: EnergyTransformer(3, 2)(r(3)), ValueError, r"y must have at least 2"),
    # a step beyond (0, 1] loses the monotonicity guarantee; an indefinite W_s loses the energy's bounds
    Bad(
        "energy_descent_step step 2.5", lambda: energy_descent_step(Y, 2.5), ValueError, r"step=2.5 is outside \(0, 1\]"
    ),
    Bad(
        "energy_descent_step opt-in str",
        lambda: energy_descent_step(Y, 2.5, allow_step_above_one="yes"),
        TypeError,
        r"allow_step_above_one must be a bool",
    ),
    Bad("EnergyTransformer y meta", lambda: EnergyTransformer(3, 2)(Y.to("meta")), ValueError, r"y on meta, w on cpu"),
    # sizes that would make the allocator fail are refused up front, with the count they would need
    Bad("EnergyTransformer d 2**40", lambda: EnergyTransformer(2**40, 2), ValueError, r"d=1099511627776.*would need"),
    Bad("SubleqTransformer n_memory 2**40", lambda: SubleqTransformer(2**40, 1), ValueError, r"n_memory=.*would need"),
    Bad(
        "random_particle_system hidden 2**40",
        lambda: random_particle_system(3, hidden=2**40),
        ValueError,
        r"hidden=1099511627776.*would need",
    ),
    Bad("kernel_weights w_s nan", lambda: kernel_weights(Y, W * math.nan), ValueError, r"w_s holds NaN or inf"),
    Bad("EnergyTransformer step 1.5", lambda: EnergyTransformer(3, 2, step=1.5), ValueError, r"step=1.5 is outside"),
    Bad("energy_descent_step w_s indefinite", lambda: energy_descent_step(Y, 0.5, INDEF), ValueError, PSD),
    Bad("pairwise_energy w_s indefinite", lambda: pairwise_energy(Y, INDEF), ValueError, PSD),
    Bad("pairwise_energy_grad w_s indefinite", lambda: pairwise_energy_grad(Y, INDEF), ValueError, PSD),
    Bad("kernel_weights w_s indefinite", lambda: kernel_weights(Y, INDEF), ValueError, PSD),
    Bad("pairwise_energy w_s int", lambda: pairwise_energy(Y, torch.eye(3, dtype=torch.long)), TypeError, r"w_s must"),
    # ---- looped
    Bad("unroll step int", lambda: unroll(5, Y, 3), TypeError, r"step must be callable"),
    Bad("unroll n_loops=0", lambda: unroll(ident, Y, 0), ValueError, r"n_loops=0"),
    Bad("unroll n_loops float", lambda: unroll(ident, Y, 2.0), TypeError, r"n_loops must be an int"),
    Bad("unroll p list", lambda: unroll(ident, [1.0], 3), TypeError, r"p must be a torch.Tensor"),
    Bad("unroll step changes shape", lambda: unroll(lambda y: y[:1], Y, 3), ValueError, r"step returned shape"),
    Bad("unroll step returns str", lambda: unroll(lambda y: "y", Y, 2), TypeError, r"step returned str"),
    Bad("algoformer pre None", lambda: algoformer(None, ident, ident, Y, 2), TypeError, r"pre must be callable"),
    Bad("algoformer n_loops=0", lambda: algoformer(ident, ident, ident, Y, 0), ValueError, r"n_loops=0"),
    Bad("algoformer x list", lambda: algoformer(ident, ident, ident, [1.0], 2), TypeError, r"x must be a torch.Tensor"),
    Bad("algoformer loop int", lambda: algoformer(ident, 3, ident, Y, 2), TypeError, r"loop must be callable"),
    Bad("subleq n_steps=0", lambda: subleq_interpreter([1], [(0, 0, 0)], 0), ValueError, r"n_steps=0"),
    Bad("subleq empty memory", lambda: subleq_interpreter([], [(0, 0, 0)], 1), ValueError, r"memory must hold"),
    Bad("subleq empty program", lambda: subleq_interpreter([1], [], 1), ValueError, r"program must hold"),
    Bad("subleq float cell", lambda: subleq_interpreter([1.5], [(0, 0, 0)], 1), TypeError, r"memory\[0\]=1.5"),
    Bad("subleq pair", lambda: subleq_interpreter([1], [(0, 0)], 1), ValueError, r"program\[0\]=\(0, 0\)"),
    Bad("subleq bad address", lambda: subleq_interpreter([1], [(0, 1, 0)], 1), ValueError, r"b=1 is not a memory"),
    Bad("subleq negative address", lambda: subleq_interpreter([1], [(-1, 0, 0)], 1), ValueError, r"a=-1"),
    Bad("subleq int instruction", lambda: subleq_interpreter([1], [5], 1), ValueError, r"program\[0\]=5"),
    Bad("subleq memory int", lambda: subleq_interpreter(5, [(0, 0, 0)], 1), TypeError, r"memory must be a sequence"),
    Bad("subleq program str", lambda: subleq_interpreter([1], "abc", 1), ValueError, r"program\[0\]='a'"),
    Bad("subleq bool jump", lambda: subleq_interpreter([1], [(0, 0, True)], 1), ValueError, r"program\[0\]"),
    Bad("subleq bound nan", lambda: subleq_interpreter([1], [(0, 0, 0)], 1, bound=NAN), TypeError, r"bound must be"),
    Bad("subleq bound<0", lambda: subleq_interpreter([1], [(0, 0, 0)], 1, bound=-1), ValueError, r"bound=-1"),
    Bad("Subleq n_memory=0", lambda: SubleqTransformer(0, 1), ValueError, r"n_memory=0"),
    Bad("Subleq n_instructions=0", lambda: SubleqTransformer(1, 0), ValueError, r"n_instructions=0"),
    Bad("Subleq beta nan", lambda: machine(beta=NAN), ValueError, r"beta=nan"),
    Bad("Subleq beta inf", lambda: machine(beta=INF), ValueError, r"beta=inf"),
    Bad("Subleq bound=0", lambda: machine(bound=0), ValueError, r"bound=0"),
    Bad("Subleq dtype int", lambda: machine(dtype=torch.int64), TypeError, r"dtype=torch.int64"),
    Bad("Subleq dtype str", lambda: machine(dtype="float64"), TypeError, r"dtype='float64'"),
    Bad("Subleq encode size", lambda: machine().encode([1, 2, 3], [(0, 1, 0)]), ValueError, r"n_memory=2"),
    Bad("Subleq encode bound", lambda: machine(bound=10).encode([1, 20], [(0, 1, 0)]), ValueError, r"bound=10"),
    Bad("Subleq step shape", lambda: machine().step(r(3, 3)), ValueError, r"x has shape \(3, 3\)"),
    Bad("Subleq step float32", lambda: x_machine()[0].step(x_machine()[1].float()), TypeError, r"x has dtype"),
    Bad("Subleq step int", lambda: machine().step(torch.zeros(3, 27, dtype=torch.long)), TypeError, r"x must be a"),
    Bad("Subleq decode shape", lambda: machine().decode(r(3, 3)), ValueError, r"x has shape \(3, 3\)"),
    Bad("Subleq run n_steps=0", lambda: machine().run([1, 2], [(0, 1, 0)], 0), ValueError, r"n_steps=0"),
    # ---- ode
    Bad("euler_flow field int", lambda: euler_flow(5), TypeError, r"field must be callable"),
    Bad("euler flow gamma 0", lambda: euler_flow(ident)(X0, 0), ValueError, r"gamma=0"),
    Bad("euler flow gamma nan", lambda: euler_flow(ident)(X0, NAN), ValueError, r"gamma=nan"),
    Bad("rk4 n_substeps=0", lambda: rk4_flow(ident, 0), ValueError, r"n_substeps=0"),
    Bad("rk4 n_substeps float", lambda: rk4_flow(ident, 2.5), TypeError, r"n_substeps must be an int"),
    Bad("lie gamma<0", lambda: lie(X0, -0.1), ValueError, r"gamma=-0.1"),
    Bad("lie flow_f int", lambda: lie_trotter_step(X0, 0.1, 5, ident), TypeError, r"flow_f must be callable"),
    Bad("lie x str", lambda: lie("x", 0.1), TypeError, r"x must be a torch.Tensor"),
    Bad("strang gamma inf", lambda: strang(X0, INF), ValueError, r"gamma=inf"),
    Bad("strang flow_g None", lambda: strang_step(X0, 0.1, ident, None), TypeError, r"flow_g must be callable"),
    Bad("integrate n_steps=0", lambda: integrate(lie_trotter_step, X0, 0.1, 0, *flows()), ValueError, r"n_steps=0"),
    Bad("integrate step int", lambda: integrate(5, X0, 0.1, 2, *flows()), TypeError, r"step must be callable"),
    Bad("integrate x0 int", lambda: integrate(lie_trotter_step, X0.long(), 0.1, 2, *flows()), TypeError, r"x0 must"),
    Bad("local_errors empty", lambda: errors(gammas=[]), ValueError, r"gammas must hold at least one"),
    Bad("local_errors float", lambda: errors(gammas=0.1), TypeError, r"gammas must be a sequence"),
    Bad("local_errors 2-D", lambda: errors(gammas=torch.ones(2, 2) / 10), TypeError, r"gammas\[0\] must be a real"),
    Bad("local_errors gamma<0", lambda: errors(gammas=[0.1, -0.1]), ValueError, r"gamma.*=-0.1"),
    Bad("local_errors reference int", lambda: errors(reference=5), TypeError, r"reference must be callable"),
    Bad("local_errors gamma nan", lambda: errors(gammas=[0.1, NAN]), ValueError, r"gamma.*=nan"),
    Bad("local_errors step int", lambda: errors(step=5), TypeError, r"step must be callable"),
    Bad("fit slope repeated gamma", lambda: fit_loglog_slope([0.1, 0.1], [1.0, 2.0]), ValueError, r"distinct"),
    Bad("fit slope one pair", lambda: fit_loglog_slope([0.1], [1.0]), ValueError, r"at least 2"),
    Bad("fit slope lengths", lambda: fit_loglog_slope([0.1, 0.2], [1.0]), ValueError, r"errors has 1"),
    Bad("fit slope gamma<0", lambda: fit_loglog_slope([0.1, -0.2], [1.0, 2.0]), ValueError, r"gammas"),
    Bad("fit slope error 0", lambda: fit_loglog_slope([0.1, 0.2], [0.0, 1.0]), ValueError, r"errors"),
    Bad("fit slope nan", lambda: fit_loglog_slope([0.1, NAN], [1.0, 2.0]), ValueError, r"gammas"),
    Bad("fit slope str", lambda: fit_loglog_slope(["a", "b"], [1.0, 2.0]), TypeError, r"gammas and errors must be"),
    Bad("particles d=0", lambda: random_particle_system(0), ValueError, r"d=0"),
    Bad("particles hidden=0", lambda: random_particle_system(3, hidden=0), ValueError, r"hidden=0"),
    Bad("particles scale nan", lambda: random_particle_system(3, scale=NAN), ValueError, r"scale=nan"),
    Bad("particles seed<0", lambda: random_particle_system(3, seed=-1), ValueError, r"seed=-1"),
    Bad("particles seed float", lambda: random_particle_system(3, seed=2.5), TypeError, r"seed must be an int"),
    Bad("particles dtype int", lambda: random_particle_system(3, dtype=torch.int64), TypeError, r"dtype=torch.int64"),
    Bad("ParticleSystem w_k shape", lambda: particles(w_k=r(3, 2)), ValueError, r"w_k has shape \(3, 2\)"),
    Bad("ParticleSystem b_1 shape", lambda: particles(b_1=r(5)), ValueError, r"b_1 has shape \(5,\)"),
    Bad("ParticleSystem w_q str", lambda: particles(w_q="a"), TypeError, r"w_q must be a torch.Tensor"),
    Bad("ParticleSystem w_2 dtype", lambda: particles(w_2=r(4, 3).float()), TypeError, r"w_2 has dtype"),
    Bad("ParticleSystem x dtype", lambda: system().interaction(X0.float()), TypeError, r"x has dtype torch.float32"),
    Bad("ParticleSystem x width", lambda: system().field(r(4, 5)), ValueError, r"d=3"),
    # what a user-supplied field, flow or step returns is checked before it is used (no silent broadcast)
    Bad("euler_flow field list", lambda: euler_flow(as_list)(X0, 0.1), ValueError, r"field returned list"),
    Bad("euler_flow x list", lambda: euler_flow(ident)([1.0], 0.1), TypeError, r"x must be a torch.Tensor"),
    Bad("rk4_flow x int", lambda: rk4_flow(ident)(X0.long(), 0.1), TypeError, r"x must be a floating"),
    Bad("rk4_flow field drops a row", lambda: rk4_flow(first_two)(X0, 0.1), ValueError, r"field returned \(2, 3\)"),
    Bad(
        "lie_trotter_step flow_f drops a row",
        lambda: lie_trotter_step(X0, 0.1, lambda x, g: x[:2], lambda x, g: x),
        ValueError,
        r"flow_f returned \(2, 3\) for x of shape \(4, 3\)",
    ),
    Bad(
        "strang_step flow_g list", lambda: strang_step(X0, 0.1, step_id, as_list2), ValueError, r"flow_g returned list"
    ),
    Bad(
        "integrate step list",
        lambda: integrate(lambda x, g, f, h: x.tolist(), X0, 0.1, 2, step_id, step_id),
        ValueError,
        r"step returned list",
    ),
    Bad(
        "local_errors reference broadcast",
        lambda: errors(reference=lambda x, g: x[0]),
        ValueError,
        r"reference returned \(3,\) for x of shape \(4, 3\)",
    ),
    Bad("random_particle_system seed 2**70", lambda: random_particle_system(3, seed=2**70), ValueError, r"seed="),
    Bad("random_particle_system seed bool", lambda: random_particle_system(3, seed=True), TypeError, r"seed must"),
    Bad(
        "subleq_interpreter memory floats",
        lambda: subleq_interpreter(np.array([1.5]), [(0, 0, 0)], 1),
        TypeError,
        r"memory must be a sequence",
    ),
    Bad(
        "subleq_interpreter cell np.float",
        lambda: subleq_interpreter([np.float64(1)], [(0, 0, 0)], 1),
        TypeError,
        r"memory\[0\]=.*must be an int",
    ),
    Bad("subleq_interpreter n_steps 1.0", lambda: subleq_interpreter([1], [(0, 0, 0)], 1.0), TypeError, r"n_steps"),
    Bad(
        "SubleqTransformer.step x meta",
        lambda: x_machine()[0].step(x_machine()[1].to("meta")),
        ValueError,
        r"x is on meta",
    ),
    Bad("ParticleSystem x 1-D", lambda: system().per_particle(r(3)), ValueError, r"x must have at least 2"),
]


def _close(expected):
    def check(got):
        torch.testing.assert_close(got, expected)

    return check


def _shape(*shape):
    def check(got):
        assert tuple(got.shape) == shape, f"shape {tuple(got.shape)} != {shape}"

    return check


def _slope(expected):
    def check(got):
        assert abs(got - expected) < 1e-9, f"slope {got} != {expected}"

    return check


def _halted(states):
    assert states[-1] == ([0, 1, -1, 5, 0], 3), f"counter ended at {states[-1]}"


HANDLED = [
    # NumPy arrays and NumPy ints are programs and cells; a hand-run of mem[1] -= mem[0] (2 - 1 = 1 > 0: pc 1, halt)
    Handled("subleq_interpreter numpy arrays", lambda: subleq_interpreter(*map(np.array, COUNTER), 20), _halted),
    Handled(
        "subleq_interpreter numpy cells",
        lambda: subleq_interpreter([np.int64(1), np.int32(2)], [(np.int64(0), 1, 0)], np.int64(1)),
        lambda states: states == [([1, 1], 1)] or pytest.fail(str(states)),
    ),
    Handled(
        "SubleqTransformer.run numpy",
        lambda: machine().run(np.array([1, 2]), np.array([[0, 1, 0]]), 1),
        lambda states: (states[0][0].tolist(), states[0][1]) == ([1.0, 1.0], 1) or pytest.fail(str(states)),
    ),
    # a NumPy seed is the same seed; a transposed (non-contiguous) state is the same state
    Handled(
        "random_particle_system numpy seed",
        lambda: random_particle_system(3, seed=np.int64(4)).w_q,
        _close(random_particle_system(3, seed=4).w_q),
    ),
    Handled(
        "euler_flow non-contiguous x",
        lambda: euler_flow(system().field)(X0.T.contiguous().T, 0.1),
        _close(euler_flow(system().field)(X0, 0.1)),
    ),
    # no tokens: the empty sum, E = 0 (the bound -n^2 <= E <= -n with n = 0)
    Handled("pairwise_energy no tokens", lambda: pairwise_energy(r(0, 3)), _close(torch.tensor(0.0, dtype=F64))),
    # gammas and errors may be tensors; the slope of e = 2 g^3 is 3
    Handled(
        "fit slope tensors",
        lambda: fit_loglog_slope(torch.tensor([0.1, 0.2, 0.4]), 2 * torch.tensor([0.1, 0.2, 0.4]) ** 3),
        _slope(3.0),
    ),
    Handled("local_errors gammas tensor", lambda: errors(gammas=torch.tensor([0.1, 0.05])), _shape(2)),
    Handled("local_errors gammas ndarray", lambda: errors(gammas=np.array([0.1, 0.05])), _shape(2)),
    # one pattern: the Hopfield update returns it for any query
    Handled("hopfield one pattern", lambda: hopfield_update(Y, PATTERNS[:1]), _close(PATTERNS[:1].expand(5, 3))),
    # one token: no pair to attract, the descent step leaves it in place
    Handled("descent one token", lambda: energy_descent_step(Y[:1]), _close(Y[:1])),
    # step 2.5 with the explicit opt-in: the formula still applies (torch's attention on equal-norm tokens)
    Handled(
        "energy_descent_step step 2.5 opted in",
        lambda: energy_descent_step(LN, 2.5, allow_step_above_one=True),
        _close(sdpa_step(LN, 2.5)),
    ),
    Handled("energy_descent_step step 1 boundary", lambda: energy_descent_step(LN, 1), _close(sdpa_step(LN, 1.0))),
    # a rank-1 W^T W in float32 (eigenvalues 0 up to round-off) is positive semi-definite
    Handled(
        "pairwise_energy w_s rank 1",
        lambda: pairwise_energy(Y.float(), RANK1),
        _close(loop_energy(Y.float(), RANK1)),
    ),
    # a numpy integer step of 1 is a valid step
    Handled("energy_descent_step numpy step", lambda: energy_descent_step(LN, np.int64(1)), _close(sdpa_step(LN, 1.0))),
    # a jump target outside the program halts the machine (reported as pc = P)
    Handled("subleq jump out halts", lambda: subleq_interpreter(*COUNTER, 20), _halted),
]


test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
