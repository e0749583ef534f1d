"""Checks for chapter 6's exercises: one CoT step of arithmetic mod p, the parity scratchpad, the LIS DP step, and
the final-answer parser.

References are independent of the package's generators: Python's ``eval`` mod p on random expressions, the sum of
the bits mod 2, brute force over subsequences, and hand-written malformed outputs.
"""

from __future__ import annotations

import itertools

from ._core import Checker

__all__ = ["check_arithmetic_step", "check_final_answer", "check_lis_step", "check_parity_scratchpad"]


def _expr(c: Checker, p: int, n_ops: int) -> list[str]:
    ops = ("+", "-", "*")
    expr = [str(c.randint(0, p - 1))]
    for _ in range(n_ops):
        expr += [ops[c.randint(0, 2)], str(c.randint(0, p - 1))]
    return expr


def check_arithmetic_step(arithmetic_step, n_cases: int = 30, seed: int | None = None) -> None:
    """``arithmetic_step(tokens, p)``: reduce one operation (the leftmost ``*``, else the leftmost ``+``/``-``)."""
    c = Checker("arithmetic_step", seed)
    for i in range(n_cases):
        p = (2, 3, 5, 7, 11)[c.randint(0, 4)]
        expr = _expr(c, p, c.randint(1, 5))
        got = c.call(arithmetic_step, list(expr), p)
        where = f"#{i} {' '.join(expr)} (mod {p})"
        c.true(f"{where}: a list of tokens", isinstance(got, list), f"expected a list of str, got {got!r}")
        c.true(f"{where}: one operation fewer", len(got) == len(expr) - 2, f"got {got!r}, {len(got)} tokens")
        value = eval(" ".join(expr)) % p  # the reference: Python's own precedence
        try:
            got_value = eval(" ".join(got)) % p
        except SyntaxError:
            c.fail(f"case '{where}': {got!r} is not an expression")
        c.true(f"{where}: same value mod p", got_value == value, f"{got!r} = {got_value} mod {p}, expected {value}")
        c.true(f"{where}: numbers stay in 0..p-1", all(int(t) < p for t in got[::2]), f"got {got!r}")
        ops = expr[1::2]
        k = ops.index("*") if "*" in ops else 0  # the operation to reduce
        kept = expr[: 2 * k] + expr[2 * k + 3 :]
        c.true(f"{where}: the right operation", got[: 2 * k] + got[2 * k + 1 :] == kept, f"got {got!r}")
    c.done()


def check_parity_scratchpad(parity_scratchpad, n_cases: int = 10, seed: int | None = None) -> None:
    """``parity_scratchpad(bits)`` -> the running parities ``[b1, b1^b2, ...]``, one per bit (the last = parity)."""
    c = Checker("parity_scratchpad", seed)
    for bits in itertools.product((0, 1), repeat=4):
        got = c.call(parity_scratchpad, list(bits))
        want = [sum(bits[: i + 1]) % 2 for i in range(4)]
        c.true(f"{bits}", list(got) == want, f"expected {want}, got {got!r}")
    for i in range(n_cases):
        bits = [c.randint(0, 1) for _ in range(c.randint(1, 30))]
        got = c.call(parity_scratchpad, list(bits))
        c.true(f"random #{i}, {len(bits)} bits", list(got)[-1:] == [sum(bits) % 2] and len(got) == len(bits), f"{got}")
    c.done()


def _lis_ending(a: list[int], i: int) -> int:
    return max(
        len(idx) + 1
        for n in range(i + 1)
        for idx in itertools.combinations(range(i), n)
        if all(a[x] < a[y] for x, y in itertools.pairwise([*idx, i]))
    )


def check_lis_step(lis_step, n_cases: int = 20, seed: int | None = None) -> None:
    """``lis_step(a, f)``: given ``a`` and the DP entries ``f`` of its first ``len(f)`` positions, the next entry."""
    c = Checker("lis_step", seed)
    for i in range(n_cases):
        a = [c.randint(0, 6) for _ in range(c.randint(1, 8))]
        k = c.randint(0, len(a) - 1)
        f = [_lis_ending(a, j) for j in range(k)]
        got = c.call(lis_step, list(a), list(f))
        want = _lis_ending(a, k)
        c.true(f"#{i} a={a}, f={f}", got == want, f"expected f_{k} = {want} (brute force), got {got!r}")
    c.done()


def check_final_answer(final_answer, seed: int | None = None) -> None:
    """``final_answer(tokens)`` -> the answer tokens between the last ``>`` and ``<eos>``, or None if malformed."""
    c = Checker("final_answer", seed)
    cases = [
        (["|", "1", "+", "2", ">", "3", "<eos>"], ["3"]),
        ([">", "0", "3", "<eos>", "7"], ["0", "3"]),
        (["|", "2", ">", "1", ">", "4", "<eos>"], ["4"]),
        ([">", "3"], None),
        (["|", "1", "<eos>"], None),
        (["|", "1", ">", "<eos>"], None),
        ([], None),
    ]
    for tokens, want in cases:
        got = c.call(final_answer, list(tokens))
        got = list(got) if got is not None else None
        c.true(" ".join(tokens) or "(empty)", got == want, f"expected {want!r}, got {got!r}")
    c.done()
