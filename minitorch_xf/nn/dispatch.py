r"""One switch for softmax attention: implementations register here, inputs are checked once, at the entry.

Shape glossary: b batch, h heads, s queries, t keys, d head dim, e value dim; ``...`` any batch dims.

Every backend computes the same function, $\mathrm{softmax}(QK^\top\cdot\mathrm{scale} + M)V$, with the causal mask
aligned **bottom-right** (the s queries are the last s of the t positions) and a query that sees no key giving 0.
A backend is a plain function ``fn(q, k, v, mask, causal, scale) -> (..., s, e)`` of tensors already checked by
:func:`attention` (or by :class:`~minitorch_xf.nn.attention.MultiHeadAttention`, which builds them itself): it
validates nothing. ``"reference"`` and ``"sdpa"`` register in :mod:`~minitorch_xf.nn.attention`,
``"memory_efficient"`` in :mod:`~minitorch_xf.nn.memory_efficient`, ``"triton"`` in
:mod:`minitorch_xf.kernels.flash_attention` once that module is imported.

This module imports no other attention module (they import it), so the import graph has no cycle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .._validate import (
    check_callable,
    check_choice,
    check_flag,
    check_number,
    check_same_device,
    check_same_dtype,
    check_tensor,
)

__all__ = ["ATTENTION_BACKENDS", "attention", "register_attention_backend"]

ATTENTION_BACKENDS = ("reference", "memory_efficient", "sdpa")  # the ones the package always registers


@dataclass(frozen=True)
class _Backend:
    fn: Callable[..., torch.Tensor]
    takes_mask: bool


_REGISTRY: dict[str, _Backend] = {}


def register_attention_backend(name: str, fn, takes_mask: bool = True) -> None:
    """Register ``fn(q, k, v, mask, causal, scale)`` under ``name`` (replacing an earlier one of that name).

    ``fn`` receives checked tensors (see the module docstring), ``scale`` as a float, ``causal`` bottom-right aligned
    and ``mask`` a bool tensor or None (never a mask when ``takes_mask=False``: :func:`attention` refuses it first).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    check_callable("fn", fn)
    _REGISTRY[name] = _Backend(fn, check_flag("takes_mask", takes_mask))


def attention_backends() -> tuple[str, ...]:
    """The names registered so far, in registration order."""
    return tuple(_REGISTRY)


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[int, ...]:
    """Validate q (..., s, d), k (..., t, d), v (..., t, e); return the broadcast batch shape."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, x, min_ndim=2, floating=True)
    check_same_device(q=q, k=k, v=v)
    check_same_dtype(q=q, k=k, v=v)
    rank = max(q.dim(), k.dim(), v.dim())
    if any(x.dim() not in (2, rank) for x in (q, k, v)):
        # (b, h, s, d) against (b, t, d) would broadcast k's batch against q's heads when b == h
        raise ValueError(
            f"q, k and v must have the same number of dims (or 2 for one shared by every batch): q has shape "
            f"{tuple(q.shape)}, k has shape {tuple(k.shape)}, v has shape {tuple(v.shape)}; give k and v a head dim "
            f"of size 1 (k[:, None]) to share them across heads"
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must share the head dim d: q has shape {tuple(q.shape)} (d={q.shape[-1]}), "
            f"k has shape {tuple(k.shape)} (d={k.shape[-1]})"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of keys t: k has shape {tuple(k.shape)}, v has shape {tuple(v.shape)}"
        )
    try:
        batch = tuple(torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]))
    except RuntimeError:
        raise ValueError(
            "q, k and v must have the same batch dims (..., e.g. (b, h)), or 1 where one is shared: "
            f"q has shape {tuple(q.shape)}, k has shape {tuple(k.shape)}, v has shape {tuple(v.shape)}"
        ) from None
    if q.shape[-1] == 0:
        raise ValueError(f"q and k have head dim d=0 (q has shape {tuple(q.shape)}): there is nothing to compare")
    if k.shape[-2] == 0:
        raise ValueError(f"k has shape {tuple(k.shape)}: t=0 keys, so no query has anything to attend to")
    return batch


def _check_mask(mask: torch.Tensor, q: torch.Tensor, batch: tuple[int, ...], t: int) -> None:
    """The mask has one dim per score dim (..., s, t), each of the scores' size or 1: never a guess."""
    check_tensor("mask", mask)
    check_same_device(q=q, mask=mask)
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = may attend), got dtype={mask.dtype}")
    target = (*batch, q.shape[-2], t)
    fits = mask.dim() == len(target) and all(m in (1, n) for m, n in zip(mask.shape, target, strict=True))
    if not fits:
        ones = "1, " * len(batch)
        hint = f"an (s, t) mask as ({ones}s, t)"
        if batch:
            hint += f", a (b, t) key-padding mask as (b, {'1, ' * (len(batch) - 1)}1, t) (what padding_mask returns)"
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not fit the scores' shape {target}: the mask needs one dim per "
            f"score dim, each of the scores' size or 1 (so that no shape is ambiguous); pass {hint}"
        )


def _check_scale(scale: float | None, d: int) -> float:
    return 1.0 / math.sqrt(d) if scale is None else check_number("scale", scale, low=0, low_open=True)


def _backend(name: str, mask: torch.Tensor | None) -> _Backend:
    """The registered backend ``name``, refusing a mask it cannot take."""
    check_choice("backend", name, attention_backends())
    entry = _REGISTRY[name]
    if mask is not None and not entry.takes_mask:
        masked = [n for n, b in _REGISTRY.items() if b.takes_mask]
        raise ValueError(f"backend={name!r} takes no mask (only causal=True); use one of {tuple(masked)}")
    return entry


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    backend: str = "reference",
    scale: float | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Softmax attention by a registered backend (:func:`attention_backends`); the arguments are checked here, once.

    Args:
        q: (..., s, d), k: (..., t, d), v: (..., t, e), batch dims as in
            :func:`~minitorch_xf.nn.attention.scaled_dot_product_attention`.
        causal: bottom-right aligned for every backend (torch's own ``is_causal`` is top-left: the ``"sdpa"``
            backend passes an explicit mask when s != t).
        backend: ``"reference"``, ``"memory_efficient"``, ``"sdpa"``, or one registered later (``"triton"``).
        scale: a finite number > 0, default $1/\\sqrt d$.
        mask: bool (..., s, t), True = may attend; refused by backends that take none (``"memory_efficient"``).
    Returns:
        (..., s, e).
    """
    entry = _backend(backend, mask)
    batch = _check_qkv(q, k, v)
    check_flag("causal", causal)
    if mask is not None:
        _check_mask(mask, q, batch, k.shape[-2])
    return entry.fn(q, k, v, mask, causal, _check_scale(scale, q.shape[-1]))


def _run(backend: str, q, k, v, mask, causal: bool, scale: float) -> torch.Tensor:
    """Call backend ``backend`` on tensors the caller has checked (``MultiHeadAttention`` builds them itself)."""
    return _backend(backend, mask).fn(q, k, v, mask, causal, scale)
