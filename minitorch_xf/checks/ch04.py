"""Checks for chapter 4's exercises: the input-injection loop, a LoRA-adapted linear layer, a SUBLEQ step.

Each check draws random cases (fresh each run unless ``seed`` is given) and compares the learner's function with
an independent reference: a plain loop, ``torch.nn.functional.linear`` with the merged weight, and a plain-Python
SUBLEQ step written here (not the package's interpreter).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._core import Checker

__all__ = ["check_input_injection", "check_lora_linear", "check_subleq_step"]


def check_input_injection(looped_forward, n_cases: int = 4, seed: int | None = None) -> None:
    """``looped_forward(step, p, n_loops)`` -> Y_T with Y_0 = 0, Y_{t+1} = step(Y_t + p)."""
    c = Checker("input_injection", seed)
    for i in range(n_cases):
        n, m, t = c.randint(1, 6), c.randint(2, 8), c.randint(1, 7)
        w = torch.randn(m, m, generator=c.generator, dtype=torch.float64) / m**0.5
        p = torch.randn(n, m, generator=c.generator, dtype=torch.float64)

        def step(y, w=w):
            return torch.tanh(y @ w)

        expected = torch.zeros_like(p)
        for _ in range(t):
            expected = torch.tanh((expected + p) @ w)
        c.close(f"#{i} p{tuple(p.shape)}, n_loops={t}", expected, c.call(looped_forward, step, p, t))
    p = torch.randn(3, 4, generator=c.generator, dtype=torch.float64)
    c.close("n_loops=1 is one call on P", torch.sin(p), c.call(looped_forward, torch.sin, p, 1))
    c.done()


def check_lora_linear(lora_linear, n_cases: int = 4, seed: int | None = None) -> None:
    """``lora_linear(x, weight, bias, lora_a, lora_b, alpha)`` = x W^T + b + (alpha / r) x A^T B^T."""
    c = Checker("lora_linear", seed)
    for i in range(n_cases):
        d_in, d_out, r, b = c.randint(2, 12), c.randint(1, 10), c.randint(1, 4), c.randint(1, 5)
        x = torch.randn(b, d_in, generator=c.generator, dtype=torch.float64)
        weight = torch.randn(d_out, d_in, generator=c.generator, dtype=torch.float64)
        bias = torch.randn(d_out, generator=c.generator, dtype=torch.float64)
        lora_a = torch.randn(r, d_in, generator=c.generator, dtype=torch.float64)
        lora_b = torch.randn(d_out, r, generator=c.generator, dtype=torch.float64)
        alpha = float(c.randint(1, 16))
        expected = F.linear(x, weight + (alpha / r) * lora_b @ lora_a, bias)  # the merged weight
        got = c.call(lora_linear, x, weight, bias, lora_a, lora_b, alpha)
        c.close(f"#{i} x{tuple(x.shape)} W{tuple(weight.shape)} r={r} alpha={alpha}", expected, got)
    c.done()


def _subleq_reference(mem: list[int], pc: int, program: list[list[int]]) -> tuple[list[int], int]:
    mem = list(mem)
    if not 0 <= pc < len(program):
        return mem, pc
    a, b, target = program[pc]
    mem[b] = mem[b] - mem[a]
    return mem, (target if mem[b] <= 0 else pc + 1)


def check_subleq_step(subleq_step, n_cases: int = 12, seed: int | None = None) -> None:
    """``subleq_step(mem, pc, program)`` with mem (N,) int64, program (P, 3) int64 -> (new mem tensor, new pc int).

    ``mem[b] -= mem[a]; pc = c if mem[b] <= 0 else pc + 1``; a pc outside [0, P) is halted: nothing changes.
    The input ``mem`` must not be modified in place.
    """
    c = Checker("subleq_step", seed)
    for i in range(n_cases):
        n, p = c.randint(1, 6), c.randint(1, 5)
        mem = torch.randint(-6, 7, (n,), generator=c.generator)
        program = torch.stack(
            [
                torch.randint(0, n, (p,), generator=c.generator),
                torch.randint(0, n, (p,), generator=c.generator),
                torch.randint(-1, p + 1, (p,), generator=c.generator),
            ],
            dim=1,
        )  # (P, 3)
        pc = c.randint(0, p) if i % 4 else p + 1  # every fourth case starts halted
        ref_mem, ref_pc = _subleq_reference(mem.tolist(), pc, program.tolist())
        before = mem.clone()
        got = c.call(subleq_step, mem, pc, program)
        if not (isinstance(got, tuple) and len(got) == 2):
            c.fail(f"case #{i}: expected a pair (mem, pc), received {got!r}")
        c.true(
            f"#{i} input not modified",
            bool(torch.equal(mem, before)),
            f"your function changed its input mem in place: {before.tolist()} -> {mem.tolist()}",
        )
        c.close(
            f"#{i} mem={before.tolist()} pc={pc} program={program.tolist()}",
            torch.tensor(ref_mem, dtype=torch.float64),
            torch.as_tensor(got[0]).double(),
            atol=0,
            rtol=0,
        )
        c.true(f"#{i} pc", int(got[1]) == ref_pc, f"pc after the step: expected {ref_pc}, received {got[1]!r}")
    c.done()
