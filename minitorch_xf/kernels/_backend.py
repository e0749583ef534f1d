"""Whether the Triton kernels can run here, and the one rule every kernel follows when they cannot.

Triton is optional (``pip install 'minitorch_xf[triton]'``). On a machine without CUDA the kernels run through
Triton's interpreter, which executes each program instance with numpy on the CPU: it must be switched on with
``TRITON_INTERPRET=1`` *before* ``import triton``, so this module sets that variable (unless it is already set)
when it finds no CUDA device, then imports triton. If something imported triton earlier without the variable (as
``torch.utils.flop_counter`` does), the interpreter cannot be switched on any more and the kernels fall back to
torch, saying so. The interpreter is slow (about 0.5 ms per program instance) and
mishandles bfloat16, so on CPU the kernels accept float32 and float16 only.

Set ``XF_NO_TRITON=1`` (before importing this package) to act as if triton were not installed: the kernels then run
their torch fallbacks, so the path a reader without triton takes can be run and tested on a machine that has it.

Each public kernel takes ``backend="auto" | "triton" | "torch"``: ``"torch"`` always runs the torch reference,
``"triton"`` raises a ``RuntimeError`` saying why when the kernel cannot run, and ``"auto"`` runs the kernel when it
can and otherwise falls back to torch with a ``RuntimeWarning`` that says why.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings

import torch

from .._validate import check_choice

__all__ = ["BACKENDS", "HIDDEN", "INTERPRET", "MISSING", "triton", "triton_reason", "use_triton"]

BACKENDS = ("auto", "triton", "torch")
MISSING = "triton is not installed (pip install 'minitorch_xf[triton]', or triton==3.9.0)"
HIDDEN = "triton is hidden by XF_NO_TRITON=1 (unset it to use the kernels)"
LATE = (
    "triton was imported before minitorch_xf.kernels, without TRITON_INTERPRET=1, so its CPU interpreter is off "
    "(torch.utils.flop_counter, for one, imports triton): import minitorch_xf.kernels first, or set "
    "TRITON_INTERPRET=1 before starting Python"
)


def _hidden() -> bool:
    """True when ``XF_NO_TRITON`` asks to run as if triton were missing (any value but empty or 0)."""
    return os.environ.get("XF_NO_TRITON", "0").strip() not in ("", "0")


def _interpret_set() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _load_triton():
    """(the triton module, None) when the kernels can use it, else (None, why not)."""
    if _hidden():
        return None, HIDDEN
    try:
        if importlib.util.find_spec("triton") is None:
            return None, MISSING
    except (ImportError, ValueError):  # a blocked or half-removed install counts as missing
        return None, MISSING
    if not torch.cuda.is_available():
        if "triton" in sys.modules and not _interpret_set():  # imported already, without the interpreter
            return None, LATE
        os.environ.setdefault("TRITON_INTERPRET", "1")  # must precede the import: the interpreter is chosen then
    try:
        import triton
    except ImportError:  # a broken install counts as missing
        return None, MISSING
    return triton, None


triton, _WHY_NOT = _load_triton()
INTERPRET = triton is not None and _interpret_set()
TRITON_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def triton_reason(**tensors: torch.Tensor) -> str | None:
    """Why the Triton kernels cannot take these tensors here (None when they can)."""
    if triton is None:
        return _WHY_NOT or (HIDDEN if _hidden() else MISSING)
    for name, t in tensors.items():
        if t.dtype not in TRITON_DTYPES:
            return f"{name} has dtype {t.dtype}; the Triton kernels take float16, bfloat16 or float32"
        if INTERPRET and t.dtype == torch.bfloat16:
            return f"{name} has dtype {t.dtype}, which Triton's CPU interpreter mishandles (use float16 or float32)"
        if not INTERPRET and not t.is_cuda:
            return (
                f"{name} is on {t.device}: compiled Triton kernels need CUDA tensors "
                "(set TRITON_INTERPRET=1 before importing triton to run them on the CPU)"
            )
    return None


def use_triton(op: str, backend: str, reason: str | None) -> bool:
    """Apply the backend rule: True to run the kernel, False for the torch reference (with a warning under auto)."""
    check_choice("backend", backend, BACKENDS)
    if backend == "torch":
        return False
    if reason is None:
        return True
    if backend == "triton":
        raise RuntimeError(f"{op}(backend='triton') cannot run: {reason}")
    warnings.warn(f"{op}: running the torch reference because {reason}", RuntimeWarning, stacklevel=3)
    return False
