"""Looped transformers: weight sharing, input injection, per-loop LoRA, and the SUBLEQ construction."""

import random

import pytest
import torch

from minitorch_xf.nn import LoopedTransformer, LoRALinear, count_parameters
from minitorch_xf.theory.looped import SubleqTransformer, algoformer, subleq_interpreter, unroll

pytestmark = pytest.mark.ch04


@pytest.mark.checks("prop-looped-params")
@pytest.mark.parametrize("m", [16, 32, 48])
def test_parameter_count_independent_of_loops(m):
    counts = {count_parameters(LoopedTransformer(5, m, 4, n_layers=1, n_loops=t, max_len=22)) for t in (1, 3, 8)}
    assert len(counts) == 1, f"the parameter count depends on the number of loops: {counts}"
    one = count_parameters(LoopedTransformer(5, m, 4, n_layers=1, n_loops=3, max_len=22))
    three = count_parameters(LoopedTransformer(5, m, 4, n_layers=3, n_loops=1, max_len=22))
    p_block = 12 * m**2 + 13 * m  # a pre-norm block with a 4m FFN, biases and two LayerNorms
    assert three - one == 2 * p_block, f"3 unshared layers add {three - one}, expected 2 p_b = {2 * p_block}"


def test_loop_is_the_shared_block_applied_with_input_injection():
    torch.manual_seed(0)
    model = LoopedTransformer(3, 16, 2, n_layers=1, n_loops=4, max_len=8).double().eval()
    x = torch.randn(2, 8, 3, dtype=torch.float64)
    p = model.pos(model.read_in(x))
    y = torch.zeros_like(p)
    for _ in range(4):  # an independent hand loop over the one shared block
        y = model.blocks[0](y + p, causal=True)
    expected = model.head(model.norm_out(y))
    torch.testing.assert_close(model(x), expected)
    all_out = model(x, n_loops=6, return_all=True)
    assert all_out.shape == (6, 2, 8, 1)
    torch.testing.assert_close(all_out[3], expected)
    # without injection the input enters once: Y_0 = P
    plain = LoopedTransformer(3, 16, 2, n_layers=1, n_loops=2, max_len=8, input_injection=False).double()
    p = plain.pos(plain.read_in(x))
    y = plain.blocks[0](plain.blocks[0](p, causal=True), causal=True)
    torch.testing.assert_close(plain(x), plain.head(plain.norm_out(y)))


def test_causal_prefix_does_not_see_the_future():
    torch.manual_seed(0)
    model = LoopedTransformer(3, 16, 2, n_loops=3, max_len=10).eval()
    x = torch.randn(1, 10, 3)
    x2 = x.clone()
    x2[:, 6:] = torch.randn(1, 4, 3)
    torch.testing.assert_close(model(x)[:, :6], model(x2)[:, :6])


@pytest.mark.checks("thm-forget")
def test_contractive_loop_forgets_its_input_unless_injected():
    """F(y) = tanh(W y + b) with spectral norm |W| = 0.8 is a contraction with rho = 0.8 (tanh is 1-Lipschitz)."""
    g = torch.Generator().manual_seed(0)
    d, rho = 6, 0.8
    w = torch.randn(d, d, generator=g, dtype=torch.float64)
    w = rho * w / torch.linalg.matrix_norm(w, 2)
    b = torch.randn(d, generator=g, dtype=torch.float64)

    def contraction(y):
        return torch.tanh(y @ w.T + b)

    y_star = unroll(contraction, torch.zeros(d, dtype=torch.float64), 300, input_injection=False)[-1]
    torch.testing.assert_close(contraction(y_star), y_star)  # the fixed point of F
    inputs = [3 * torch.randn(d, generator=g, dtype=torch.float64) for _ in range(5)]
    for p in inputs:  # without injection: |Y_t - Y*| <= rho^t |P - Y*|, whatever P is
        its = unroll(contraction, p, 40, input_injection=False)  # (Y_1, ..., Y_40)
        dist = torch.linalg.vector_norm(its - y_star, dim=-1)
        bound = rho ** torch.arange(1, 41, dtype=torch.float64) * torch.linalg.vector_norm(p - y_star)
        assert (dist <= bound + 1e-12).all(), (
            f"|Y_t - Y*| above rho^t |P - Y*| at t = {int((dist > bound).nonzero()[0]) + 1}"
        )
        assert dist[-1] < 1e-3, f"the plain loop did not forget P: |Y_40 - Y*| = {dist[-1]:.3g}"
    # with injection: the loop converges to Y*(P) = F(Y*(P) + P), a different point for each P
    fixed = torch.stack([unroll(contraction, p, 300)[-1] for p in inputs])  # (5, d)
    for p, y in zip(inputs, fixed, strict=True):
        torch.testing.assert_close(contraction(y + p), y)
    gaps = torch.cdist(fixed, fixed) + torch.eye(len(inputs), dtype=torch.float64)
    assert gaps.min() > 1e-2, f"two inputs share a fixed point: min distance {gaps.min():.3g}"


def test_unroll_and_algoformer():
    p = torch.randn(4)
    its = unroll(lambda y: 0.5 * y, p, 30)  # fixed point of y = 0.5 (y + p) is y = p
    torch.testing.assert_close(its[-1], p, atol=1e-6, rtol=0)
    its = unroll(lambda y: y + 1.0, p, 3, input_injection=False)
    torch.testing.assert_close(its, torch.stack([p + 1, p + 2, p + 3]))
    out = algoformer(lambda x: 2 * x, lambda h: h + 1, lambda h: -h, torch.tensor([1.0]), 4)
    torch.testing.assert_close(out, torch.tensor([-6.0]))


def test_lora_linear_matches_merged_weight():
    torch.manual_seed(0)
    base = torch.nn.Linear(6, 4).double()
    lora = LoRALinear(base, rank=2, n_adapters=3, alpha=4.0).double()
    with torch.no_grad():
        lora.lora_b.normal_()
    x = torch.randn(5, 6, dtype=torch.float64)
    for t in (0, 2, 7):
        lora.active = t
        s = min(t, 2)
        merged = base.weight + 2.0 * lora.lora_b[s] @ lora.lora_a[s]  # alpha / r = 2
        torch.testing.assert_close(lora(x), torch.nn.functional.linear(x, merged, base.bias))


@pytest.mark.checks("prop-lora")
def test_looped_lora_starts_shared_and_adds_per_loop_parameters():
    torch.manual_seed(0)
    shared = LoopedTransformer(4, 16, 2, n_loops=3, max_len=8)
    torch.manual_seed(0)
    relaxed = LoopedTransformer(4, 16, 2, n_loops=3, max_len=8, lora_rank=2)
    x = torch.randn(2, 8, 4)
    torch.testing.assert_close(relaxed(x), shared(x))  # B_t = 0 at init: the relaxed model is the shared one
    n_lin = len(relaxed.lora_layers)
    assert n_lin == 6  # q, k, v, o, and the two FFN layers
    extra = count_parameters(relaxed) - count_parameters(shared)
    assert extra == 3 * sum(2 * (lr.base.in_features + lr.base.out_features) for lr in relaxed.lora_layers)


COUNTER = ([5, 1, -1, 0, 0], [(2, 3, 1), (1, 0, 3), (4, 4, 0)])  # acc += 1 until cnt hits 0
COPY_SUB = ([7, 3, 0, 0], [(0, 3, 1), (3, 2, 2), (3, 3, 3), (1, 2, 4)])  # out = x (copy), then out -= y


def _assert_same_run(memory, program, n_steps, **kw):
    ref = subleq_interpreter(memory, program, n_steps)
    got = SubleqTransformer(len(memory), len(program), **kw).run(memory, program, n_steps)
    for step, ((ref_mem, ref_pc), (mem, pc)) in enumerate(zip(ref, got, strict=True)):
        torch.testing.assert_close(
            mem, torch.tensor(ref_mem, dtype=mem.dtype), atol=1e-9, rtol=0, msg=lambda m, s=step: f"step {s}: {m}"
        )
        assert pc == ref_pc, f"step {step}: pc {pc} != {ref_pc}"


def test_subleq_known_programs():
    assert subleq_interpreter(*COUNTER, 20)[-1] == ([0, 1, -1, 5, 0], 3)
    assert subleq_interpreter(*COPY_SUB, 6)[-1] == ([7, 3, 4, 0], 4)
    _assert_same_run(*COUNTER, 20)
    _assert_same_run(*COPY_SUB, 6)


@pytest.mark.checks("thm-subleq")
def test_subleq_random_programs():
    rng = random.Random(0)
    for _ in range(60):
        n, p = rng.randint(1, 5), rng.randint(1, 5)
        memory = [rng.randint(-5, 5) for _ in range(n)]
        program = [(rng.randrange(n), rng.randrange(n), rng.randint(-1, p)) for _ in range(p)]
        _assert_same_run(memory, program, 10, bound=10**5)


def test_subleq_float32_with_moderate_beta():
    _assert_same_run(*COUNTER, 20, dtype=torch.float32, beta=50.0)


def test_bad_inputs():
    with pytest.raises(ValueError, match="n_loops=0"):
        LoopedTransformer(5, n_loops=0)
    with pytest.raises(ValueError, match="n_loops=-2"):
        LoopedTransformer(5, max_len=8)(torch.randn(1, 4, 5), n_loops=-2)
    with pytest.raises(ValueError, match="d_in=5"):
        LoopedTransformer(5, max_len=8)(torch.randn(1, 4, 3))
    with pytest.raises(ValueError, match="d_model=30 is not divisible"):
        LoopedTransformer(5, d_model=30, n_heads=4)
    with pytest.raises(TypeError, match=r"base must be an nn\.Linear"):
        LoRALinear(torch.nn.Identity(), 2, 2)
    with pytest.raises(ValueError, match="n_loops=0"):
        unroll(lambda y: y, torch.ones(2), 0)
    with pytest.raises(ValueError, match="b=7 is not a memory address"):
        subleq_interpreter([0, 1], [(0, 7, 0)], 3)
    with pytest.raises(ValueError, match="must be a triple"):
        subleq_interpreter([0, 1], [(0, 1)], 3)
    with pytest.raises(ValueError, match="n_steps=0"):
        subleq_interpreter([0, 1], [(0, 1, 0)], 0)
    with pytest.raises(OverflowError, match="bound=3"):
        subleq_interpreter([-2, 2], [(0, 1, 0)], 5, bound=3)
    machine = SubleqTransformer(2, 1, bound=10)
    with pytest.raises(ValueError, match="bound=10"):
        machine.run([0, 11], [(0, 1, 0)], 2)
    with pytest.raises(ValueError, match="n_instructions=1"):
        machine.run([0, 1], [(0, 1, 0), (1, 0, 0)], 2)
    with pytest.raises(ValueError, match="expected \\(L, D\\)"):
        machine.step(torch.zeros(2, 2, dtype=torch.float64))
