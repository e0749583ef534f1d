r"""The roofline model (Williams, Waterman & Patterson, 2009): a kernel that does $F$ FLOPs and moves $B$ bytes
between DRAM and the chip runs no faster than $\max(F/P, B/W)$ for peak compute $P$ (FLOP/s) and bandwidth $W$
(byte/s), i.e. at most $\min(P, I\,W)$ FLOP/s with arithmetic intensity $I = F/B$. Below the ridge point
$I^* = P/W$ a kernel is memory-bound.

Counts for attention (``b`` batch, ``h`` heads, ``s`` queries, ``t`` keys, ``d`` head dim, ``e`` bytes per element):
the forward does two matmuls, $4bhstd$ FLOPs (half of it with a causal mask, for s = t); the backward five,
$2.5\times$ the forward. FlashAttention moves $q, k, v$ in and $o$ out, $e\,bh(2s + 2t)d$ bytes (ignoring the
re-reads of $k, v$ per query block, which the on-chip cache mostly absorbs); standard attention also writes and reads
the $s \times t$ scores and probabilities, about $4e\,bhst$ more.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from .._validate import check_flag, check_number, check_positive

__all__ = [
    "attainable_flops",
    "attention_bytes",
    "attention_flops",
    "recorded_gpu_runs",
    "ridge_point",
    "row_op_bytes",
    "summarize_run",
]


def attention_flops(b: int, h: int, s: int, t: int, d: int, causal: bool = False, backward: bool = False) -> float:
    r"""FLOPs of attention: $4bhstd$ forward ($\times\frac12$ causal), $2.5\times$ that for the backward."""
    for name, value in (("b", b), ("h", h), ("s", s), ("t", t), ("d", d)):
        check_positive(name, value)
    check_flag("causal", causal)
    check_flag("backward", backward)
    flops = 4.0 * b * h * s * t * d * (0.5 if causal else 1.0)
    return flops * 2.5 if backward else flops


def attention_bytes(b: int, h: int, s: int, t: int, d: int, elem: int = 2, materialized: bool = False) -> float:
    r"""DRAM bytes of one attention forward: $e\,bh(2s+2t)d$, plus $4e\,bhst$ when the scores are materialised."""
    for name, value in (("b", b), ("h", h), ("s", s), ("t", t), ("d", d), ("elem", elem)):
        check_positive(name, value)
    check_flag("materialized", materialized)
    io = elem * b * h * (2 * s + 2 * t) * d
    return float(io + (4 * elem * b * h * s * t if materialized else 0))


def row_op_bytes(m: int, n: int, elem: int = 2, backward: bool = False) -> float:
    r"""DRAM bytes of a fused row op (softmax, LayerNorm) on ``(m, n)``: read x, write y ($2emn$); backward $3emn$."""
    check_positive("m", m)
    check_positive("n", n)
    check_positive("elem", elem)
    check_flag("backward", backward)
    return float((3 if backward else 2) * elem * m * n)


def ridge_point(peak_flops: float, bandwidth: float) -> float:
    r"""The intensity $I^* = P/W$ (FLOP/byte) where the roofline turns from memory-bound to compute-bound."""
    peak_flops = check_number("peak_flops", peak_flops, low=0, low_open=True)
    bandwidth = check_number("bandwidth", bandwidth, low=0, low_open=True)
    return peak_flops / bandwidth


def attainable_flops(intensity: float, peak_flops: float, bandwidth: float) -> float:
    r"""The roofline: $\min(P,\ I\,W)$ FLOP/s for arithmetic intensity $I$."""
    intensity = check_number("intensity", intensity, low=0)
    peak_flops = check_number("peak_flops", peak_flops, low=0, low_open=True)
    bandwidth = check_number("bandwidth", bandwidth, low=0, low_open=True)
    return min(peak_flops, intensity * bandwidth)


def recorded_gpu_runs(folder: str | Path) -> list[dict]:
    """The GPU benchmark records ``folder/gpu-*.json`` written by ``benchmarks/gpu_kernels.py`` (sorted by name).

    ``folder`` must be an existing folder (a mistyped path is an error, not an empty list of runs).
    """
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a path (str or pathlib.Path), got {type(folder).__name__}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"folder={str(folder)!r} is not an existing folder")
    runs = []
    for path in sorted(folder.glob("gpu-*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not a GPU benchmark record: it is not valid JSON ({err})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} is not a GPU benchmark record: it holds a {type(data).__name__}, not an object")
        for key in ("device", "versions", "results"):
            if key not in data:
                raise ValueError(f"{path} is not a GPU benchmark record: it has no {key!r} entry")
        runs.append({**data, "path": str(path)})
    return runs


def summarize_run(run: dict) -> list[dict]:
    """One row per benchmark case of a GPU record, with the figures the chapter compares (no number is made up:
    every value is read from the record, or derived from two values in it). ``run`` is one of
    :func:`recorded_gpu_runs`' records; a result without a figure the table needs is an error naming it."""
    if not isinstance(run, Mapping):
        raise TypeError(f"run must be a dict (one of recorded_gpu_runs' records), got {type(run).__name__}")
    if not isinstance(run.get("results"), list):
        raise ValueError(f"run has no 'results' list (keys: {sorted(run)}): is it a GPU benchmark record?")
    peaks = run.get("peaks", {})
    rows = []
    for i, r in enumerate(run["results"]):
        try:
            rows.append(_summary_row(r, peaks))
        except (KeyError, TypeError, AttributeError, ZeroDivisionError) as err:
            raise ValueError(f"run['results'][{i}] lacks a figure the summary needs: {err!r}") from None
    return rows


def _summary_row(r: dict, peaks: dict) -> dict:
    """One row of :func:`summarize_run`."""
    if r["op"] == "flash_attention":
        peak = peaks.get(f"matmul_{r['dtype']}_TFLOPs")
        return {
            "op": "flash_attention", "dtype": r["dtype"], "size": f"s={r['s']} d={r['d']}", "causal": r["causal"],
            "ours": r["ours_fwd_TFLOPs"], "reference": r["sdpa_fwd_TFLOPs"], "unit": "TFLOP/s fwd",
            "fraction_of_peak": r["ours_fwd_TFLOPs"] / peak if peak else None,
            "speed_vs_reference": r["fwd_speed_vs_sdpa"], "reference_name": f"SDPA ({r['sdpa_backend']})",
            "bwd_over_fwd": r["ours_bwd_TFLOPs"] / r["ours_fwd_TFLOPs"],
        }  # fmt: skip
    return {
        "op": r["op"], "dtype": r["dtype"], "size": f"n={r['n']}", "causal": None,
        "ours": r["ours_GBps"], "reference": r["torch_GBps"], "unit": "GB/s",
        "fraction_of_peak": r["ours_fraction_of_copy"], "speed_vs_reference": r["speed_vs_torch"],
        "reference_name": "torch", "bwd_over_fwd": None,
    }  # fmt: skip
