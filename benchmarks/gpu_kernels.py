"""GPU benchmark of chapter 13's Triton kernels against torch's built-ins, in one command (needs CUDA).

    python benchmarks/gpu_kernels.py            # the full sweep, a few minutes on one H100
    python benchmarks/gpu_kernels.py --quick    # a small sweep, to check the set-up

What it measures (medians and the 20th/80th percentiles of CUDA-event timings, each case after a correctness check):
- FlashAttention forward and forward+backward, fp16 and bf16, head dims 64 and 128, sequence 1k-16k (batch x seq =
  16k tokens, 16 heads of d=64 or 8 of d=128), causal and not, vs ``F.scaled_dot_product_attention`` with the
  flash backend pinned (``torch.nn.attention.sdpa_kernel``; the record says which backend ran), and whether a
  naive softmax(QK^T)V fits in memory at that length;
- the fused softmax and LayerNorm vs ``torch.softmax`` / ``F.layer_norm`` for rows of 1k-16k, in GB/s and as a
  fraction of the device-to-device copy bandwidth measured in the same run;
- the peak: the copy bandwidth and the best dense fp16/bf16 matmul rate measured here (the roofline's two roofs).

Writes ``benchmarks/results/gpu-<device>.json`` (device, versions, shapes, medians and spread), which the chapter's
notebook reads. Timings are ratios within one run; the script asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from minitorch_xf.kernels import flash_attention, layer_norm, softmax  # noqa: E402
from minitorch_xf.kernels.roofline import attention_flops, row_op_bytes  # noqa: E402

NEEDS_CUDA = (
    "needs CUDA: benchmarks/gpu_kernels.py times the Triton kernels on a GPU and this machine has none "
    "(torch.cuda.is_available() is False). Run `make bench-gpu` on a machine with an NVIDIA GPU and triton installed; "
    "on CPU, `pytest tests/kernels` checks the kernels through Triton's interpreter."
)


def cuda_time(fn, reps: int, warmup: int = 3) -> dict:
    """Median and 20th/80th percentiles (ms) of ``fn()`` timed with CUDA events, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    q = torch.tensor(times).quantile(torch.tensor([0.2, 0.5, 0.8])).tolist()
    return {"median_ms": q[1], "p20_ms": q[0], "p80_ms": q[2], "reps": reps}


def measure_peaks(reps: int) -> dict:
    """The two roofs measured here: device-to-device copy bandwidth and dense matmul FLOP/s (fp16, bf16)."""
    n = 1 << 28  # 512 MiB of fp16 each way
    src = torch.empty(n, dtype=torch.float16, device="cuda")
    dst = torch.empty_like(src)
    copy = cuda_time(lambda: dst.copy_(src), reps)
    peaks = {"copy_GBps": 2 * n * 2 / copy["median_ms"] / 1e6, "copy": copy}
    for dtype in (torch.float16, torch.bfloat16):
        a = torch.randn(8192, 8192, device="cuda", dtype=dtype)
        mm = cuda_time(lambda a=a: a @ a, reps)
        peaks[f"matmul_{str(dtype).split('.')[-1]}_TFLOPs"] = 2 * 8192**3 / mm["median_ms"] / 1e9
    return peaks


def sdpa_flash(q, k, v, causal):
    """SDPA with the flash backend pinned; falls back to the efficient backend (recorded) if flash refuses."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
        try:
            with sdpa_kernel([backend]):
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal), backend.name
        except RuntimeError:
            continue
    raise RuntimeError("neither the flash nor the efficient SDPA backend ran")


def naive_fits(q, k, v, causal) -> bool:
    """Does softmax(QK^T)V with the full (b, h, s, t) matrix run here, or run out of memory?"""
    try:
        x = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
        if causal:
            x = x.masked_fill(torch.ones(x.shape[-2:], dtype=torch.bool, device=x.device).triu(1), float("-inf"))
        torch.softmax(x.float(), -1).to(q.dtype) @ v
        torch.cuda.synchronize()
        return True
    except torch.OutOfMemoryError:
        return False
    finally:
        torch.cuda.empty_cache()


def attention_case(b: int, h: int, s: int, d: int, causal: bool, dtype: torch.dtype, reps: int) -> dict:
    """One FlashAttention case: correctness vs SDPA, then forward and forward+backward timings of both."""
    g = torch.Generator(device="cuda").manual_seed(s + d)
    q, k, v = (torch.randn(b, h, s, d, device="cuda", dtype=dtype, generator=g).requires_grad_() for _ in range(3))
    do = torch.randn_like(q)
    ref, backend = sdpa_flash(q, k, v, causal)
    ours = flash_attention(q, k, v, causal=causal, backend="triton")
    err = (ours.float() - ref.float()).abs().max().item()
    if err > 3e-2:
        raise AssertionError(f"flash_attention differs from SDPA by {err:.3g} at {(b, h, s, d)}")

    def run_ours():
        return flash_attention(q, k, v, causal=causal, backend="triton")

    def run_ref():
        return sdpa_flash(q, k, v, causal)[0]

    def fwd_bwd(fn):
        def run():
            q.grad = k.grad = v.grad = None
            fn().backward(do)

        return run

    ours_f, ref_f = cuda_time(run_ours, reps), cuda_time(run_ref, reps)
    ours_fb, ref_fb = cuda_time(fwd_bwd(run_ours), reps), cuda_time(fwd_bwd(run_ref), reps)
    f_fwd = attention_flops(b, h, s, s, d, causal)
    f_bwd = attention_flops(b, h, s, s, d, causal, backward=True)
    bwd_ours = max(ours_fb["median_ms"] - ours_f["median_ms"], 1e-6)
    bwd_ref = max(ref_fb["median_ms"] - ref_f["median_ms"], 1e-6)
    with torch.no_grad():
        fits = naive_fits(q, k, v, causal)
    return {
        "op": "flash_attention", "dtype": str(dtype).split(".")[-1], "b": b, "h": h, "s": s, "d": d,
        "causal": causal, "sdpa_backend": backend, "max_abs_diff_vs_sdpa": err,
        "ours_fwd": ours_f, "sdpa_fwd": ref_f, "ours_fwd_bwd": ours_fb, "sdpa_fwd_bwd": ref_fb,
        "ours_fwd_TFLOPs": f_fwd / ours_f["median_ms"] / 1e9, "sdpa_fwd_TFLOPs": f_fwd / ref_f["median_ms"] / 1e9,
        "ours_bwd_TFLOPs": f_bwd / bwd_ours / 1e9, "sdpa_bwd_TFLOPs": f_bwd / bwd_ref / 1e9,
        "fwd_speed_vs_sdpa": ref_f["median_ms"] / ours_f["median_ms"],
        "fwd_bwd_speed_vs_sdpa": ref_fb["median_ms"] / ours_fb["median_ms"],
        "naive_fits_in_memory": fits,
    }  # fmt: skip


def bench_attention(seqs, dims, dtypes, reps) -> list[dict]:
    rows = []
    for dtype in dtypes:
        for d in dims:
            for s in seqs:
                for causal in (False, True):
                    # 16k tokens per batch, d * h = 2048 (16 heads of 64, 8 of 128)
                    row = attention_case(max(1, 16384 // s), 2048 // d, s, d, causal, dtype, reps)
                    torch.cuda.empty_cache()
                    rows.append(row)
                    print(
                        f"attention {row['dtype']} d={d} s={s:5d} causal={causal!s:5}: {row['ours_fwd_TFLOPs']:.0f} "
                        f"vs {row['sdpa_fwd_TFLOPs']:.0f} TFLOP/s fwd ({row['sdpa_backend']}), bwd "
                        f"{row['ours_bwd_TFLOPs']:.0f} vs {row['sdpa_bwd_TFLOPs']:.0f}, naive fits: "
                        f"{row['naive_fits_in_memory']}",
                        flush=True,
                    )
    return rows


def row_cases(n: int, dtype: torch.dtype, reps: int, copy_gbps: float) -> list[dict]:
    """Softmax and LayerNorm on (m, n) with m n = 64 Mi elements (far larger than the L2 cache)."""
    m = (1 << 26) // n
    x = torch.randn(m, n, device="cuda", dtype=dtype, generator=torch.Generator(device="cuda").manual_seed(n))
    w, b = torch.ones(n, device="cuda", dtype=dtype), torch.zeros(n, device="cuda", dtype=dtype)
    cases = {
        "softmax": (lambda: softmax(x, backend="triton"), lambda: torch.softmax(x, -1)),
        "layer_norm": (lambda: layer_norm(x, w, b, backend="triton"), lambda: F.layer_norm(x, (n,), w, b)),
    }
    rows = []
    for op, (ours, ref) in cases.items():
        err = (ours().float() - ref().float()).abs().max().item()
        if err > 3e-2:
            raise AssertionError(f"{op} differs from torch by {err:.3g} at {(m, n)}")
        t_ours, t_ref = cuda_time(ours, reps), cuda_time(ref, reps)
        nbytes = row_op_bytes(m, n, x.element_size())
        gb_ours, gb_ref = nbytes / t_ours["median_ms"] / 1e6, nbytes / t_ref["median_ms"] / 1e6
        rows.append({
            "op": op, "dtype": str(dtype).split(".")[-1], "m": m, "n": n, "ours": t_ours, "torch": t_ref,
            "ours_GBps": gb_ours, "torch_GBps": gb_ref, "ours_fraction_of_copy": gb_ours / copy_gbps,
            "speed_vs_torch": t_ref["median_ms"] / t_ours["median_ms"],
        })  # fmt: skip
        print(
            f"{op} {dtype} n={n:5d}: {gb_ours:.0f} GB/s ({gb_ours / copy_gbps:.0%} of copy), torch {gb_ref:.0f} GB/s",
            flush=True,
        )
    return rows


def bench_rows(cols, dtypes, reps, copy_gbps) -> list[dict]:
    rows = []
    for dtype in dtypes:
        for n in cols:
            rows += row_cases(n, dtype, reps, copy_gbps)
            torch.cuda.empty_cache()
    return rows


def versions() -> dict:
    import triton

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    return {"python": platform.python_version(), "torch": torch.__version__, "triton": triton.__version__,
            "cuda": torch.version.cuda, "git_commit": commit}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small sweep (seconds): checks the set-up")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions per case (default 20, quick 5)")
    parser.add_argument("--out", type=Path, default=None, help="the JSON record (default benchmarks/results/)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(NEEDS_CUDA)
        return 0
    from minitorch_xf import kernels

    if not kernels.triton_available() or kernels.INTERPRET:
        why = kernels.MISSING if not kernels.triton_available() else "unset TRITON_INTERPRET"
        print(f"needs triton compiled for CUDA: {why}")
        return 1
    reps = args.reps or (5 if args.quick else 20)
    seqs = [1024, 4096] if args.quick else [1024, 2048, 4096, 8192, 16384]
    cols = [1024, 8192] if args.quick else [1024, 2048, 4096, 8192, 16384]
    dims = [64] if args.quick else [64, 128]
    dtypes = [torch.float16] if args.quick else [torch.float16, torch.bfloat16]
    props = torch.cuda.get_device_properties(0)
    start = time.time()
    peaks = measure_peaks(reps)
    print(f"{props.name}: copy {peaks['copy_GBps']:.0f} GB/s, matmul fp16 {peaks['matmul_float16_TFLOPs']:.0f} "
          f"TFLOP/s, bf16 {peaks['matmul_bfloat16_TFLOPs']:.0f} TFLOP/s (measured)", flush=True)  # fmt: skip
    results = bench_attention(seqs, dims, dtypes, reps) + bench_rows(cols, dtypes, reps, peaks["copy_GBps"])
    record = {
        "device": {"name": props.name, "multiprocessors": props.multi_processor_count,
                   "memory_GiB": props.total_memory / 2**30, "capability": f"{props.major}.{props.minor}"},
        "versions": versions(),
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quick": args.quick,
        "seconds": time.time() - start,
        "peaks": peaks,
        "results": results,
    }  # fmt: skip
    slug = re.sub(r"[^a-z0-9]+", "-", props.name.lower()).strip("-")
    out = args.out or ROOT / "benchmarks" / "results" / f"gpu-{slug}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
