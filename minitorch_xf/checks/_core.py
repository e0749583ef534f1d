"""The machinery behind every exercise check: randomized cases, clear feedback, one exception type.

A check calls the learner's function on fresh random cases (a new seed each run unless one is given, so a
hard-coded answer fails), compares with an independent reference, and either prints what passed or raises
:class:`CheckFailed` that names the case, the expected and the received values, and the largest difference.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

__all__ = ["CheckFailed", "Checker", "case_seed"]


class CheckFailed(AssertionError):
    """An exercise check did not pass; the message says which case and why."""


def case_seed(seed: int | None) -> int:
    """The seed of a check run: the one given, else a fresh random one (printed on failure to replay it)."""
    return int.from_bytes(os.urandom(4), "little") if seed is None else seed


def _short(x) -> str:
    if isinstance(x, torch.Tensor):
        flat = x.detach().flatten()
        head = ", ".join(f"{v:.4g}" for v in flat[:6].tolist())
        more = ", ..." if flat.numel() > 6 else ""
        return f"tensor(shape={tuple(x.shape)}, dtype={x.dtype}, [{head}{more}])"
    return repr(x)


class Checker:
    """Collects the cases of one check and reports them.

    >>> c = Checker("attention", seed=0)
    >>> got = c.call(my_attention, q, k, v)           # NotImplementedError -> CheckFailed("not implemented yet")
    >>> c.close("random q, k, v", expected, got)     # raises CheckFailed with the details on mismatch
    >>> c.done()                                      # prints "attention: 5 cases passed"
    """

    def __init__(self, name: str, seed: int | None = None):
        self.name, self.seed = name, case_seed(seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.passed: list[str] = []
        self.max_diff = 0.0

    def randint(self, lo: int, hi: int) -> int:
        """A random integer in [lo, hi] (both included) from this check's generator."""
        return int(torch.randint(lo, hi + 1, (1,), generator=self.generator))

    def randn(self, *shape: int) -> torch.Tensor:
        """A float64 standard normal tensor of ``shape`` from this check's generator."""
        return torch.randn(*shape, generator=self.generator, dtype=torch.float64)

    def fail(self, message: str):
        raise CheckFailed(
            f"✗ {self.name}: {message}\n  (passed before this: {len(self.passed)}; replay with seed={self.seed})"
        )

    def call(self, fn: Callable, *args, **kwargs):
        """Call the learner's function; turn the stub's NotImplementedError and crashes into a clear failure."""
        if not callable(fn):
            self.fail(f"expected a function, got {type(fn).__name__}")
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            self.fail(
                f"{getattr(fn, '__name__', 'the function')} is not implemented yet (it raises "
                "NotImplementedError): replace the `raise NotImplementedError()` line with your code"
            )
        except CheckFailed:
            raise
        except Exception as err:  # the learner's code crashed: report it as a failed case, with the error
            self.fail(f"{getattr(fn, '__name__', 'the function')} raised {type(err).__name__}: {err}")

    def close(self, case: str, expected: torch.Tensor, received, atol: float = 1e-5, rtol: float = 1e-4) -> None:
        """Compare one case: shape, dtype class, then values within tolerance."""
        if not isinstance(received, torch.Tensor):
            self.fail(f"case '{case}': expected a tensor, received {type(received).__name__}: {_short(received)}")
        if received.device != expected.device:
            self.fail(
                f"case '{case}': expected a tensor on device {expected.device}, received one on {received.device}"
            )
        if received.shape != expected.shape:
            self.fail(f"case '{case}': expected shape {tuple(expected.shape)}, received shape {tuple(received.shape)}")
        if torch.isnan(received).any() and not torch.isnan(expected).any():
            self.fail(
                f"case '{case}': received NaN values\n  expected: {_short(expected)}\n  received: {_short(received)}"
            )
        diff = (received.detach().double() - expected.detach().double()).abs()
        worst = float(diff.max()) if diff.numel() else 0.0
        tol = atol + rtol * expected.detach().double().abs()
        if (diff > tol).any():
            idx = tuple(int(i) for i in torch.nonzero(diff > tol)[0].tolist())
            self.fail(
                f"case '{case}': values differ (max |diff| = {worst:.3g}, tolerance atol={atol}, rtol={rtol})\n"
                f"  first bad entry at index {idx}: expected {expected[idx].item():.6g}, "
                f"received {received[idx].item():.6g}\n  expected: {_short(expected)}\n  received: {_short(received)}"
            )
        self.max_diff = max(self.max_diff, worst)
        self.passed.append(case)

    def true(self, case: str, condition: bool, detail: str) -> None:
        """A property case (e.g. 'rows sum to one'): fails with ``detail`` when ``condition`` is false."""
        if not condition:
            self.fail(f"case '{case}': {detail}")
        self.passed.append(case)

    def done(self) -> None:
        print(
            f"✓ {self.name}: all {len(self.passed)} cases passed (max |diff| = {self.max_diff:.2g}, seed={self.seed})"
        )
        for case in self.passed:
            print(f"    passed: {case}")
