"""Checks for chapter 13's exercises: a Triton row softmax, the online-softmax merge of two key blocks, and the
roofline bound.

References are independent of the package: ``torch.softmax`` for the kernel and for the whole-row softmax state, and
FLOP and byte counts taken from tensor shapes for the roofline.
"""

from __future__ import annotations

import os

import torch

from ._core import Checker

__all__ = ["check_attention_intensity", "check_merge_states", "check_roofline_time", "check_triton_softmax"]


def _kernel_device() -> str:
    """Where a Triton kernel can take tensors: the CPU under the interpreter, else CUDA."""
    interpreted = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
    return "cpu" if interpreted or not torch.cuda.is_available() else "cuda"


def check_triton_softmax(triton_softmax, n_cases: int = 4, seed: int | None = None) -> None:
    """``triton_softmax(x)``: x (m, n) float32 (on the CPU under Triton's interpreter, else on CUDA) -> softmax
    over the last dim."""
    c = Checker("triton_softmax", seed)
    device = _kernel_device()

    def run(x):
        out = c.call(triton_softmax, x.to(device))
        return out.cpu() if isinstance(out, torch.Tensor) else out

    for i in range(n_cases):
        m, n = c.randint(1, 6), c.randint(1, 300)
        x = 4 * torch.randn(m, n, generator=c.generator)
        c.close(f"#{i} x{(m, n)} (n not a power of two: mask the tail)", torch.softmax(x, -1), run(x))
    big = torch.tensor([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -999.0]])
    c.close("large logits (subtract the row max)", torch.softmax(big, -1), run(big))
    masked = torch.randn(3, 10, generator=c.generator)
    masked[:, 6:] = float("-inf")
    c.close("-inf entries get probability 0", torch.softmax(masked, -1), run(masked))
    c.done()


def _state(x: torch.Tensor, v: torch.Tensor):
    """The reference state of logits x (s, n) over values v (n, d), from torch.softmax."""
    m = x.max(1).values
    return m, torch.exp(x - m[:, None]).sum(1), torch.softmax(x, -1) @ v


def check_merge_states(merge_states, n_cases: int = 4, seed: int | None = None) -> None:
    """``merge_states((m1, l1, o1), (m2, l2, o2))`` -> (m, l, o): the state of the union of two key blocks."""
    c = Checker("merge_states", seed)
    for i in range(n_cases + 1):
        s, n, d = c.randint(1, 5), c.randint(2, 12), c.randint(1, 6)
        x = 3 * torch.randn(s, n, generator=c.generator, dtype=torch.float64)
        v = torch.randn(n, d, generator=c.generator, dtype=torch.float64)
        split = c.randint(1, n - 1)
        case = f"#{i} s={s} split {split}+{n - split}"
        if i == n_cases:
            x[:, split:] += 30.0  # the second block's max is far larger: the first must be rescaled
            case = f"{case}, second block 30 higher (rescale the first)"
        got = c.call(merge_states, _state(x[:, :split], v[:split]), _state(x[:, split:], v[split:]))
        if not isinstance(got, tuple | list) or len(got) != 3:
            c.fail(f"case '{case}': expected a tuple (m, l, o), received {type(got).__name__}")
        for name, want, have in zip(("m", "l", "o"), _state(x, v), got, strict=True):
            c.close(f"{case}: {name}", want, have, atol=1e-9, rtol=1e-9)
    c.done()


def check_roofline_time(roofline_time, n_cases: int = 5, seed: int | None = None) -> None:
    """``roofline_time(flops, nbytes, peak_flops, bandwidth)`` -> the lower bound max(F/P, B/W) in seconds."""
    c = Checker("roofline_time", seed)
    for i in range(n_cases):
        m, k, n = (2 ** c.randint(4, 14) for _ in range(3))
        flops, nbytes = 2.0 * m * k * n, 2.0 * (m * k + k * n + m * n)  # an fp16 matmul (m, k) @ (k, n)
        peak, bw = 1e12 * c.randint(10, 1000), 1e9 * c.randint(500, 5000)
        want = torch.tensor(max(flops / peak, nbytes / bw), dtype=torch.float64)
        got = c.call(roofline_time, flops, nbytes, peak, bw)
        bound = "compute" if flops / peak > nbytes / bw else "memory"
        c.close(f"#{i} matmul {m}x{k}x{n} ({bound}-bound)", want, torch.tensor(float(got), dtype=torch.float64))
    c.done()


def check_attention_intensity(attention_intensity, n_cases: int = 4, seed: int | None = None) -> None:
    """``attention_intensity(n, d, elem, materialized)`` -> FLOP per byte of one head's forward with s = t = n."""
    c = Checker("attention_intensity", seed)
    for i in range(n_cases):
        n, d, elem = 2 ** c.randint(6, 14), 2 ** c.randint(4, 7), (2, 4)[c.randint(0, 1)]
        q = torch.empty(n, d, device="meta")
        scores = torch.empty(n, n, device="meta")
        flops = 2 * 2 * n * n * d  # Q K^T and P V
        io = 4 * q.numel() * elem  # q, k, v in, o out
        for materialized in (False, True):
            nbytes = io + (4 * scores.numel() * elem if materialized else 0)  # S and P, each written and read
            got = c.call(attention_intensity, n, d, elem, materialized)
            want = torch.tensor(flops / nbytes, dtype=torch.float64)
            c.close(f"#{i} n={n} d={d} e={elem} materialized={materialized}", want,
                    torch.tensor(float(got), dtype=torch.float64))  # fmt: skip
    limit = c.call(attention_intensity, 1 << 20, 64, 2, True)
    c.true("standard attention stays below d/e = 32", float(limit) < 32, f"got {limit} FLOP/byte at n = 2^20")
    c.done()
