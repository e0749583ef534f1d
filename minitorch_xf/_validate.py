"""Input checks shared by the package: each raises an error that names the offending argument and value.

One mechanism for every public function: numbers go through :func:`check_number` (which rejects bools, NaN and
inf where a number is meant), tensors through :func:`check_tensor`. Tensors are not scanned for NaN or inf (that
would cost a device synchronisation on every call): a NaN inside a tensor propagates to the output.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

__all__ = [
    "check_callable",
    "check_choice",
    "check_divisible",
    "check_flag",
    "check_float_dtype",
    "check_generator",
    "check_like",
    "check_like_module",
    "check_number",
    "check_positive",
    "check_same_device",
    "check_same_dtype",
    "check_size",
    "check_tensor",
]


def check_number(
    name: str,
    value,
    *,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
):
    """``value`` is a finite real (or an int when ``integer``) in the interval given by ``low`` and ``high``.

    Bools are rejected (``True`` is not the number 1 here), and so are NaN and inf. Returns the value as a Python
    ``int`` or ``float``. ``low_open``/``high_open`` exclude the bound itself.
    """
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "an int" if integer else "a real number"
        raise TypeError(f"{name} must be {what}, got {value!r} ({type(value).__name__})")
    value = int(value) if isinstance(value, numbers.Integral) else float(value)  # numpy scalars -> Python
    if not math.isfinite(value):
        raise ValueError(f"{name}={value!r} must be finite")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        if high is None:
            bound = f"> {low}" if low_open else f">= {low}"
        elif low is None:
            bound = f"< {high}" if high_open else f"<= {high}"
        else:
            bound = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name}={value!r} must be {bound}")
    return value


def check_positive(name: str, value, integer: bool = True, allow_zero: bool = False):
    """``value`` is a positive int (or finite real when ``integer=False``); ``allow_zero`` admits 0."""
    return check_number(name, value, integer=integer, low=0, low_open=not allow_zero)


def check_flag(name: str, value) -> bool:
    """``value`` is ``True`` or ``False`` (not a string, a tensor or a number that happens to be truthy)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool (True or False), got {value!r} ({type(value).__name__})")
    return value


def check_callable(name: str, fn) -> None:
    if not callable(fn):
        raise TypeError(f"{name} must be callable, got {type(fn).__name__}")


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {tuple(choices)}")


def check_divisible(name: str, value: int, by_name: str, by: int) -> None:
    """Both are positive ints and ``by`` divides ``value``; checked in that order, so nothing divides by zero."""
    check_positive(name, value)
    check_positive(by_name, by)
    if value % by:
        raise ValueError(f"{name}={value} is not divisible by {by_name}={by}")


def check_float_dtype(name: str, dtype) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"{name}={dtype!r} must be a floating-point torch.dtype such as torch.float64")
    return dtype


def check_generator(name: str, generator) -> None:
    """``generator`` is None or a ``torch.Generator``."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(generator).__name__}")


def check_tensor(
    name: str, x, ndim: int | tuple[int, ...] | None = None, min_ndim: int | None = None, floating: bool = False
) -> torch.Tensor:
    """Check that ``x`` is a tensor of the right rank (and a floating dtype when asked)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.dim() not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dims, got shape {tuple(x.shape)}")
    if min_ndim is not None and x.dim() < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dims, got shape {tuple(x.shape)}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype={x.dtype}")
    return x


def check_same_device(**tensors: torch.Tensor | None) -> None:
    """All tensors given by keyword live on one device."""
    devices = {name: t.device for name, t in tensors.items() if t is not None}
    if len(set(devices.values())) > 1:
        listing = ", ".join(f"{n} on {d}" for n, d in devices.items())
        raise ValueError(f"tensors are on different devices: {listing}")


def check_same_dtype(**tensors: torch.Tensor | None) -> None:
    """All tensors given by keyword have one dtype; the message names each one's."""
    dtypes = {name: t.dtype for name, t in tensors.items() if t is not None}
    if len(set(dtypes.values())) > 1:
        listing = ", ".join(f"{n}: {d}" for n, d in dtypes.items())
        raise TypeError(f"tensors have different dtypes: {listing}")


def check_like(name: str, x: torch.Tensor, ref_name: str, ref: torch.Tensor) -> None:
    """``x`` has the dtype and device of ``ref``: the message says how to convert."""
    if x.dtype != ref.dtype:
        raise TypeError(
            f"{name} has dtype {x.dtype} but {ref_name} has dtype {ref.dtype}: convert one of them "
            f"(e.g. {name}.to({ref.dtype}))"
        )
    check_same_device(**{name: x, ref_name: ref})


def check_like_module(name: str, x: torch.Tensor, module: nn.Module) -> None:
    """``x`` has the dtype and device of ``module``'s parameters (a float64 input to a float32 model is an error)."""
    p = next(module.parameters(), None)
    if p is None:
        return
    if x.dtype != p.dtype:
        raise TypeError(
            f"{name} has dtype {x.dtype} but the {type(module).__name__}'s parameters are {p.dtype}: convert one "
            f"of them ({name}.to({p.dtype}) or module.to({x.dtype}))"
        )
    check_same_device(**{name: x, "parameters": p})


MAX_ELEMENTS = 2**31


def check_size(what: str, elements: int, limit: int = MAX_ELEMENTS) -> int:
    """An allocation of ``elements`` entries, sized by the arguments ``what`` names, stays within ``limit``.

    Raises before torch's allocator would fail (or swap) with the number of elements the arguments would need.
    """
    if elements > limit:
        raise ValueError(
            f"{what} would need {elements:,} elements, more than the {limit:,} allowed: choose smaller sizes"
        )
    return elements
