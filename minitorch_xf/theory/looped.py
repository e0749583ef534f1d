r"""Looped transformers: unrolled iterations, AlgoFormer's composition, and a hand-set SUBLEQ computer.

* ``unroll``: $Y_{t+1} = F(Y_t + P)$ with input injection (Yang et al., 2024), or $Y_{t+1} = F(Y_t)$ without.
* ``algoformer``: $\mathrm{TF}_{post} \circ \mathrm{TF}_{loop}^{T} \circ \mathrm{TF}_{pre}$ (Gao et al., 2024).
* ``subleq_interpreter``: a plain-Python SUBLEQ machine, the reference.
* ``SubleqTransformer``: two attention + ReLU-MLP residual blocks with hand-set weights; applying them once runs
  one SUBLEQ instruction, so the looped network runs a program (a simplified Giannou et al., 2023).

SUBLEQ a, b, c:  ``mem[b] -= mem[a]; pc = c if mem[b] <= 0 else pc + 1``. A jump target outside [0, P) halts
(P = number of instructions); we report a halted machine's pc as P.

How the construction simplifies Giannou et al. (2023): positions are one-hot vectors of width L (theirs are
$\pm 1$ binary codes of width $\log n$); the program sits in read-only instruction fields of the tokens, not in the
memory (no self-modifying code); values are stored as exact integers in one coordinate (theirs in binary); one
step takes two blocks (theirs: 13 layers for a SUBLEQ step with memory-resident instructions).

Shapes: L tokens (one per address), D = 8 L + 3 channels per token; the state X is (L, D).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .._validate import check_callable, check_flag, check_float_dtype, check_positive, check_size, check_tensor
from ..nn.attention import scaled_dot_product_attention

__all__ = ["SubleqTransformer", "algoformer", "subleq_interpreter", "unroll"]


def unroll(
    step: Callable[[torch.Tensor], torch.Tensor], p: torch.Tensor, n_loops: int, input_injection: bool = True
) -> torch.Tensor:
    r"""Iterates of $Y_0 = 0$, $Y_{t+1} = F(Y_t + P)$ (Yang et al., 2024, sec. 3), or $Y_0 = P$, $Y_{t+1} = F(Y_t)$.

    Returns the stacked iterates $(Y_1, \dots, Y_T)$ of shape (T, *p.shape); ``step`` must keep p's shape.
    """
    check_callable("step", step)
    check_positive("n_loops", n_loops)
    check_tensor("p", p)
    check_flag("input_injection", input_injection)
    y = torch.zeros_like(p) if input_injection else p
    iterates = []
    for t in range(n_loops):
        y = step(y + p) if input_injection else step(y)
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"step returned {type(y).__name__} at loop {t}; it must return a tensor shaped like p")
        if y.shape != p.shape:
            raise ValueError(
                f"step returned shape {tuple(y.shape)} at loop {t}; it must keep p's shape {tuple(p.shape)}"
            )
        iterates.append(y)
    return torch.stack(iterates)  # (T, ...)


def algoformer(pre: Callable, loop: Callable, post: Callable, x: torch.Tensor, n_loops: int) -> torch.Tensor:
    r"""$\mathrm{TF}_{post}(\mathrm{TF}_{loop}^{T}(\mathrm{TF}_{pre}(x)))$ (Gao et al., 2024, AlgoFormer).

    ``pre`` preprocesses once (e.g. builds features), ``loop`` is applied ``n_loops`` = T times with shared
    weights (the iterative algorithm), ``post`` reads the answer out once.
    """
    for name, fn in (("pre", pre), ("loop", loop), ("post", post)):
        check_callable(name, fn)
    check_tensor("x", x)
    check_positive("n_loops", n_loops)
    h = pre(x)
    for _ in range(n_loops):
        h = loop(h)
    return post(h)


def _as_list(seq):
    """A NumPy array or a non-floating tensor as the (nested) list of Python numbers it holds; anything else as is."""
    if isinstance(seq, np.ndarray) and seq.dtype.kind in "iu":
        return seq.tolist()
    if isinstance(seq, torch.Tensor) and not seq.is_floating_point() and not seq.is_complex():
        return seq.tolist()
    return seq


def _check_program(memory: Sequence[int], program: Sequence[Sequence[int]]) -> tuple[list[int], list[tuple]]:
    # a NumPy array or an integer tensor reads as the nested list it holds; NumPy integers are ints
    memory, program = (_as_list(seq) for seq in (memory, program))
    for name, seq in (("memory", memory), ("program", program)):
        if not isinstance(seq, Sequence):
            raise TypeError(f"{name} must be a sequence (e.g. a list), got {type(seq).__name__}")
    mem = list(memory)
    if not mem:
        raise ValueError("memory must hold at least one cell")
    for i, v in enumerate(mem):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"memory[{i}]={v!r} must be an int")
    mem = [int(v) for v in mem]
    instrs = []
    for i, ins in enumerate(program):
        ins = _as_list(ins)
        if (
            not isinstance(ins, Sequence)
            or isinstance(ins, str)
            or len(ins) != 3
            or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in ins)
        ):
            raise ValueError(f"program[{i}]={ins!r} must be a triple of ints (a, b, c)")
        a, b, c = (int(v) for v in ins)
        for name, v in (("a", a), ("b", b)):
            if not 0 <= v < len(mem):
                raise ValueError(f"program[{i}]: {name}={v} is not a memory address in [0, {len(mem)})")
        instrs.append((a, b, c))
    if not instrs:
        raise ValueError("program must hold at least one instruction")
    return mem, instrs


def subleq_interpreter(
    memory: Sequence[int], program: Sequence[Sequence[int]], n_steps: int, bound: int | None = None
) -> list[tuple[list[int], int]]:
    """Run SUBLEQ for ``n_steps`` steps in plain Python; return (memory, pc) after every step.

    ``mem[b] -= mem[a]; pc = c if mem[b] <= 0 else pc + 1``; a pc outside [0, P) halts (reported as P) and
    further steps change nothing. With ``bound`` (an int > 0), a value leaving [-bound, bound] raises OverflowError.
    """
    check_positive("n_steps", n_steps)
    if bound is not None:
        check_positive("bound", bound)
    mem, instrs = _check_program(memory, program)
    halt = len(instrs)
    pc, states = 0, []
    for _ in range(n_steps):
        if 0 <= pc < halt:
            a, b, c = instrs[pc]
            mem[b] -= mem[a]
            if bound is not None and abs(mem[b]) > bound:
                raise OverflowError(f"mem[{b}]={mem[b]} left [-bound, bound] with bound={bound}")
            pc = c if mem[b] <= 0 else pc + 1
            pc = pc if 0 <= pc < halt else halt
        states.append((list(mem), pc))
    return states


@dataclass(frozen=True)
class _Layout:
    """Channel offsets of one token: its memory value, its position, its instruction, the global pc, scratch."""

    n: int  # L, the number of tokens (addresses)

    def field(self, i: int) -> slice:
        return slice(1 + i * self.n, 1 + (i + 1) * self.n)

    mem = 0

    @property
    def pos(self) -> slice:
        return self.field(0)

    @property
    def ins_a(self) -> slice:
        return self.field(1)

    @property
    def ins_b(self) -> slice:
        return self.field(2)

    @property
    def ins_c(self) -> slice:
        return self.field(3)

    @property
    def pc(self) -> slice:
        return self.field(4)

    @property
    def s_a(self) -> slice:
        return self.field(5)

    @property
    def s_b(self) -> slice:
        return self.field(6)

    @property
    def s_c(self) -> slice:
        return self.field(7)

    @property
    def v_a(self) -> int:
        return 1 + 8 * self.n

    @property
    def v_b(self) -> int:
        return 2 + 8 * self.n

    @property
    def width(self) -> int:
        return 3 + 8 * self.n


class SubleqTransformer:
    r"""A looped transformer whose hand-set weights execute one SUBLEQ instruction per loop.

    One loop = two residual blocks $X \leftarrow X + \mathrm{Attn}(X)$, $X \leftarrow X + \mathrm{MLP}(X)$:

    1. fetch -- one attention head, query $\beta\,\mathrm{pc}$, key = position: every token copies the
       instruction $(a, b, c)$ stored at address pc into its scratch (the block's MLP is the zero map);
    2. read + execute -- two heads (queries $\beta e_a$ and $\beta e_b$, value = memory cell) copy
       $\mathrm{mem}[a]$ and $\mathrm{mem}[b]$; a ReLU MLP writes $\mathrm{mem}[b]-\mathrm{mem}[a]$ into
       cell b, moves pc to c or pc + 1, and clears the scratch so the next loop starts clean.

    Softmax with a large inverse temperature $\beta$ is a hard read: off-target weights are $e^{-\beta}$.
    For integer memory with $|v| \le$ ``bound`` the MLP is exact, using $[x \le 0] = \mathrm{ReLU}(1-x) -
    \mathrm{ReLU}(-x)$ on integers and gating by $\mathrm{ReLU}(\cdot - M(1-g))$ with $M = 2\,\mathrm{bound}+2$.

    Args:
        n_memory: N memory cells; the machine adds a zero cell Z = N and a halt instruction (Z, Z, P) at P.
        n_instructions: P program slots.
        bound: the largest |value| the MLP handles exactly.
        beta: inverse temperature of the hard reads, a finite number > 0. A read is off by about
            $L \cdot \mathrm{bound} \cdot e^{-\beta}$, so keep $\beta \gg \log(L \cdot \mathrm{bound})$ (the default
            100 is far above it for any machine that fits in memory).
        dtype: a floating dtype; float64 keeps the memory values exact.
    """

    def __init__(
        self,
        n_memory: int,
        n_instructions: int,
        bound: int = 1000,
        beta: float = 100.0,
        dtype: torch.dtype = torch.float64,
    ):
        check_positive("n_memory", n_memory)
        check_positive("n_instructions", n_instructions)
        check_positive("bound", bound)
        check_positive("beta", beta, integer=False)
        check_float_dtype("dtype", dtype)
        self.n_memory, self.n_instructions, self.bound, self.beta, self.dtype = (
            n_memory,
            n_instructions,
            bound,
            float(beta),
            dtype,
        )
        self.layout = _Layout(max(n_memory, n_instructions) + 1)
        check_size(
            f"SubleqTransformer(n_memory={n_memory}, n_instructions={n_instructions})'s weights",
            self.layout.width * self.layout.width,
        )
        self.zero_cell, self.halt = n_memory, n_instructions
        self.fetch = self._fetch_weights()
        self.execute_attn, self.execute_mlp = self._execute_weights()

    # ---- weights -------------------------------------------------------------------------------------------
    def _zeros(self, *shape: int) -> torch.Tensor:
        return torch.zeros(*shape, dtype=self.dtype)

    def _fetch_weights(self) -> list[tuple[torch.Tensor, ...]]:
        lay, n = self.layout, self.layout.n
        w_q, w_k = self._zeros(lay.width, n), self._zeros(lay.width, n)
        w_q[lay.pc] = self.beta * torch.eye(n, dtype=self.dtype)  # query: beta * one-hot(pc)
        w_k[lay.pos] = torch.eye(n, dtype=self.dtype)  # key: one-hot(position)
        w_ov = self._zeros(lay.width, lay.width)  # value -> output: instruction fields -> scratch
        for src, dst in ((lay.ins_a, lay.s_a), (lay.ins_b, lay.s_b), (lay.ins_c, lay.s_c)):
            w_ov[src, dst] = torch.eye(n, dtype=self.dtype)
        return [(w_q, w_k, w_ov)]

    def _execute_weights(self):
        lay, n = self.layout, self.layout.n
        eye = torch.eye(n, dtype=self.dtype)
        heads = []
        for scratch, out in ((lay.s_a, lay.v_a), (lay.s_b, lay.v_b)):
            w_q, w_k, w_ov = self._zeros(lay.width, n), self._zeros(lay.width, n), self._zeros(lay.width, lay.width)
            w_q[scratch] = self.beta * eye  # query: beta * one-hot(a) (or b)
            w_k[lay.pos] = eye
            w_ov[lay.mem, out] = 1.0  # copy the attended token's memory value into v_a (or v_b)
            heads.append((w_q, w_k, w_ov))
        big = 2.0 * self.bound + 2.0
        units: list[tuple[dict, float, dict]] = []  # (input weights {channel: w}, bias, output weights)
        va, vb = lay.v_a, lay.v_b
        for k in range(n):
            pos_k, sb_k, sc_k, pc_k = lay.pos.start + k, lay.s_b.start + k, lay.s_c.start + k, lay.pc.start + k
            # memory write: token k == b gets  -v_a  =  ReLU(-v_a + M(pos_k + sb_k - 2)) - ReLU(v_a + ...)
            units.append(({va: -1.0, pos_k: big, sb_k: big}, -2 * big, {lay.mem: 1.0}))
            units.append(({va: 1.0, pos_k: big, sb_k: big}, -2 * big, {lay.mem: -1.0}))
            # branch taken (x = v_b - v_a <= 0): pc_k += c_k [x <= 0]
            units.append(({vb: -1.0, va: 1.0, sc_k: big}, 1.0 - big, {pc_k: 1.0}))
            units.append(({vb: -1.0, va: 1.0, sc_k: big}, -big, {pc_k: -1.0}))
            # fall through (x >= 1): pc_k += pc_{k-1} [x >= 1]
            if k > 0:
                prev = lay.pc.start + k - 1
                units.append(({vb: 1.0, va: -1.0, prev: big}, -big, {pc_k: 1.0}))
                units.append(({vb: 1.0, va: -1.0, prev: big}, -1.0 - big, {pc_k: -1.0}))
            # erase the old pc and the scratch (all non-negative one-hots)
            for ch in (pc_k, lay.s_a.start + k, sb_k, sc_k):
                units.append(({ch: 1.0}, 0.0, {ch: -1.0}))
        for ch in (va, vb):  # erase the signed read values: v = ReLU(v) - ReLU(-v)
            units.append(({ch: 1.0}, 0.0, {ch: -1.0}))
            units.append(({ch: -1.0}, 0.0, {ch: 1.0}))
        w1, b1, w2 = self._zeros(lay.width, len(units)), self._zeros(len(units)), self._zeros(len(units), lay.width)
        for j, (inp, bias, out) in enumerate(units):
            for ch, w in inp.items():
                w1[ch, j] = w
            b1[j] = bias
            for ch, w in out.items():
                w2[j, ch] = w
        return heads, (w1, b1, w2)

    # ---- the network ---------------------------------------------------------------------------------------
    @staticmethod
    def attention(x: torch.Tensor, heads) -> torch.Tensor:
        r"""$\sum_h \mathrm{softmax}(X W_Q^h (X W_K^h)^\top)\, X W_{OV}^h$ (scale 1: $\beta$ sits in $W_Q$)."""
        out = torch.zeros_like(x)
        for w_q, w_k, w_ov in heads:
            out = out + scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_ov, scale=1.0)  # (L, D)
        return out

    @staticmethod
    def mlp(x: torch.Tensor, weights) -> torch.Tensor:
        r"""$\mathrm{ReLU}(X W_1 + b_1) W_2$."""
        w1, b1, w2 = weights
        return torch.relu(x @ w1 + b1) @ w2  # (L, H) then (L, D)

    def _check_state(self, x: torch.Tensor) -> None:
        check_tensor("x", x, ndim=2, floating=True)
        if x.shape != (self.layout.n, self.layout.width):
            raise ValueError(f"x has shape {tuple(x.shape)}; expected (L, D) = {(self.layout.n, self.layout.width)}")
        if x.dtype != self.dtype:
            raise TypeError(f"x has dtype {x.dtype} but the machine's weights are {self.dtype}: use x.to({self.dtype})")
        if x.device.type != "cpu":
            raise ValueError(f"x is on {x.device} but the machine's weights are on the CPU: use x.cpu()")

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """One loop = one SUBLEQ instruction: fetch block, then read/execute block. x: (L, D) -> (L, D)."""
        self._check_state(x)
        x = x + self.attention(x, self.fetch)  # block 1 (its MLP is the zero map)
        x = x + self.attention(x, self.execute_attn)  # block 2: read mem[a], mem[b]
        return x + self.mlp(x, self.execute_mlp)  # block 2: write, branch, clean up

    # ---- encoding ------------------------------------------------------------------------------------------
    def encode(self, memory: Sequence[int], program: Sequence[Sequence[int]]) -> torch.Tensor:
        """The initial state X (L, D): memory values, positions, instructions (+ the halt instruction), pc = 0."""
        mem, instrs = _check_program(memory, program)
        if len(mem) != self.n_memory or len(instrs) != self.n_instructions:
            raise ValueError(
                f"got {len(mem)} memory cells and {len(instrs)} instructions; this machine has "
                f"n_memory={self.n_memory} and n_instructions={self.n_instructions}"
            )
        if any(abs(v) > self.bound for v in mem):
            raise ValueError(f"memory values must lie in [-bound, bound] with bound={self.bound}, got {mem}")
        lay, n = self.layout, self.layout.n
        x = self._zeros(n, lay.width)
        x[: len(mem), lay.mem] = torch.tensor(mem, dtype=self.dtype)
        x[:, lay.pos] = torch.eye(n, dtype=self.dtype)
        halt_ins = (self.zero_cell, self.zero_cell, self.halt)  # Z -= Z is 0 <= 0: jump to itself forever
        for i, (a, b, c) in enumerate([*instrs, halt_ins]):
            c = c if 0 <= c < self.n_instructions else self.halt  # any jump outside the program halts
            x[i, lay.ins_a.start + a] = x[i, lay.ins_b.start + b] = x[i, lay.ins_c.start + c] = 1.0
        x[:, lay.pc.start] = 1.0  # pc = 0, stored in every token
        return x

    def decode(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(memory (N,) as floats, pc) from a state X (L, D); a halted machine has pc = P."""
        self._check_state(x)
        lay = self.layout
        pc = int(x[0, lay.pc].argmax())
        return x[: self.n_memory, lay.mem], (pc if pc < self.n_instructions else self.halt)

    def run(self, memory: Sequence[int], program: Sequence[Sequence[int]], n_steps: int):
        """Loop ``n_steps`` times; return (memory, pc) after every step, like :func:`subleq_interpreter`."""
        check_positive("n_steps", n_steps)
        x, states = self.encode(memory, program), []
        for _ in range(n_steps):
            x = self.step(x)
            states.append(self.decode(x))
        return states
