"""Whether the Triton kernels can run here, and the one rule every kernel follows when they cannot.

Triton is optional (``pip install 'minitorch_xf[triton]'``). On a machine without CUDA the kernels run through
Triton's interpreter, which executes each program instance with numpy on the CPU. This module switches it on for this
process through triton's own setting (``triton.knobs.runtime.interpret``) when it finds no CUDA device, without
writing ``TRITON_INTERPRET`` into ``os.environ`` (so child processes and other programs do not inherit it): every
``@triton.jit`` kernel defined after ``import minitorch_xf.kernels`` (the package's and yours) is interpreted. Set
``TRITON_INTERPRET`` yourself (``1`` or ``0``) before starting Python to decide instead; the package then leaves the
choice to you. A triton too old to have ``knobs`` reads only the variable, at each ``@triton.jit``: there the variable
is set as before, and if triton was imported earlier without it the kernels fall back to torch, saying so. The
interpreter is slow (about 0.5 ms per program instance) and mishandles bfloat16, so on CPU the kernels accept float32
and float16 only.

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

from .._validate import check_choice, check_tensor

__all__ = ["BACKENDS", "HIDDEN", "INTERPRET", "MISSING", "triton", "triton_reason", "use_triton"]

BACKENDS = ("auto", "triton", "torch")
MISSING = "triton is not installed (pip install 'minitorch_xf[triton]', or triton==3.9.0)"
HIDDEN = "triton is hidden by XF_NO_TRITON=1 (unset it to use the kernels)"
LATE = (
    "triton (a version without triton.knobs) was imported before minitorch_xf.kernels, without TRITON_INTERPRET=1, "
    "so its CPU interpreter is off "
    "(torch.utils.flop_counter, for one, imports triton): import minitorch_xf.kernels first, or set "
    "TRITON_INTERPRET=1 before starting Python"
)


def _hidden() -> bool:
    """True when ``XF_NO_TRITON`` asks to run as if triton were missing (any value but empty or 0)."""
    return os.environ.get("XF_NO_TRITON", "0").strip() not in ("", "0")


def _interpret_set() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _switch_on_interpreter(module) -> bool:
    """Turn on ``module``'s interpreter for this process, leaving ``os.environ`` alone; False for a triton without
    ``knobs`` (older than 3.4), which reads only the environment variable."""
    knobs = getattr(module, "knobs", None)
    if knobs is None or not hasattr(knobs, "runtime") or not hasattr(knobs, "propagate_env"):
        return False
    previous = knobs.propagate_env
    knobs.propagate_env = False  # set the knob in memory only: no TRITON_INTERPRET=1 for the whole environment
    try:
        knobs.runtime.interpret = True
    finally:
        knobs.propagate_env = previous
    return True


def _load_triton():
    """(the triton module, None) when the kernels can use it, else (None, why not)."""
    if _hidden():
        return None, HIDDEN
    try:
        if importlib.util.find_spec("triton") is None:
            return None, MISSING
    except (ImportError, ValueError):  # a blocked or half-removed install counts as missing
        return None, MISSING
    if torch.cuda.is_available() or "TRITON_INTERPRET" in os.environ:  # compiled kernels, or the user's own choice
        try:
            import triton
        except ImportError:  # a broken install counts as missing
            return None, MISSING
        return triton, None
    earlier = "triton" in sys.modules
    os.environ["TRITON_INTERPRET"] = "1"  # a triton without knobs chooses the interpreter from it (set it first)
    try:
        import triton
    except ImportError:
        del os.environ["TRITON_INTERPRET"]
        return None, MISSING
    if _switch_on_interpreter(triton):
        del os.environ["TRITON_INTERPRET"]
        return triton, None
    if earlier:  # an old triton, imported before without the variable: the interpreter cannot be switched on
        del os.environ["TRITON_INTERPRET"]
        return None, LATE
    return triton, None  # an old triton: the variable stays (it is read at each @triton.jit)


def _interpreting(module) -> bool:
    """True when ``module`` (triton) runs kernels through its interpreter."""
    if module is None:
        return False
    knobs = getattr(module, "knobs", None)
    if knobs is not None and hasattr(knobs, "runtime"):
        return bool(knobs.runtime.interpret)
    return _interpret_set()


triton, _WHY_NOT = _load_triton()
INTERPRET = _interpreting(triton)
TRITON_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def triton_reason(**tensors: torch.Tensor) -> str | None:
    """Why the Triton kernels cannot take these tensors here (None when they can); each must be a tensor."""
    for name, t in tensors.items():
        check_tensor(name, t)
    if triton is None:
        return _WHY_NOT or (HIDDEN if _hidden() else MISSING)
    for name, t in tensors.items():
        if t.dtype not in TRITON_DTYPES:
            return f"{name} has dtype {t.dtype}; the Triton kernels take float16, bfloat16 or float32"
        if INTERPRET and t.device.type != "cpu":
            return f"{name} is on {t.device}: Triton's CPU interpreter takes CPU tensors"
        if INTERPRET and t.dtype == torch.bfloat16:
            return f"{name} has dtype {t.dtype}, which Triton's CPU interpreter mishandles (use float16 or float32)"
        if not INTERPRET and not t.is_cuda:
            return (
                f"{name} is on {t.device}: compiled Triton kernels need CUDA tensors "
                "(set TRITON_INTERPRET=1 before importing triton to run them on the CPU)"
            )
    return None


def use_triton(op: str, backend: str, reason: str | None) -> bool:
    """Apply the backend rule: True to run the kernel, False for the torch reference (with a warning under auto).

    ``op`` names the kernel in messages; ``reason`` is :func:`triton_reason`'s answer (a string, or None).
    """
    if not isinstance(op, str) or not op:
        raise TypeError(f"op must be the kernel's name (a non-empty str), got {op!r}")
    if not isinstance(backend, str):
        raise TypeError(f"backend must be one of {BACKENDS}, got {backend!r} ({type(backend).__name__})")
    check_choice("backend", backend, BACKENDS)
    if reason is not None and not isinstance(reason, str):
        raise TypeError(f"reason must be a str or None (what triton_reason returns), got {type(reason).__name__}")
    if backend == "torch":
        return False
    if reason is None:
        return True
    if backend == "triton":
        raise RuntimeError(f"{op}(backend='triton') cannot run: {reason}")
    warnings.warn(f"{op}: running the torch reference because {reason}", RuntimeWarning, stacklevel=3)
    return False
