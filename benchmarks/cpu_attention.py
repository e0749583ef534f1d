"""CPU benchmark: every attention path of minitorch_xf against ``F.scaled_dot_product_attention``, measured in one run.

For each sequence length n: forward and forward+backward time (wall and CPU; median and spread over ``--repeats`` runs)
of torch's SDPA, the from-scratch reference, ``memory_efficient_attention`` and causal linear attention in its three
forms (chunkwise, the default; parallel prefix sums; recurrent, one token at a time), with the ratio to SDPA, and the
peak resident-memory growth of one forward+backward pass (Linux, ``peak_memory``). The quadratic-memory paths stop
at ``--max-n-quadratic`` and the token loop at ``--max-n-recurrent`` (the record says which rows were skipped and
why). Writes ``benchmarks/results/cpu_attention-<host>.json`` with the machine, its load average before and after,
versions, shapes, every row, the crossover n (from which chunkwise linear attention is faster than SDPA at every
larger n measured) and the ratios to SDPA at n = 1024, 4096 and 16384.

    python benchmarks/cpu_attention.py --causal --threads 2                 # make bench: the issue-23 table
    python benchmarks/cpu_attention.py --causal --n 256 1024 --repeats 1    # a quick look

Not a timed test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.nn.functional as F

import minitorch_xf
from minitorch_xf.nn.attention import scaled_dot_product_attention
from minitorch_xf.nn.kernelized import linear_attention, linear_attention_recurrent
from minitorch_xf.nn.memory_efficient import memory_efficient_attention, peak_memory
from minitorch_xf.report import device_name

PATHS = {
    "sdpa": lambda q, k, v, causal: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
    "reference": lambda q, k, v, causal: scaled_dot_product_attention(q, k, v, causal=causal),
    "memory_efficient": lambda q, k, v, causal: memory_efficient_attention(q, k, v, causal=causal),
    "linear_chunkwise": lambda q, k, v, causal: linear_attention(q, k, v, causal=causal, form="chunkwise"),
    "linear_parallel": lambda q, k, v, causal: linear_attention(q, k, v, causal=causal, form="parallel"),
    "linear_recurrent": lambda q, k, v, causal: linear_attention_recurrent(q, k, v),
}
QUADRATIC = ("reference", "linear_parallel")  # O(n^2) scores or O(n d e) prefix sums in memory
SOFTMAX = ("sdpa", "reference", "memory_efficient")  # the same function: checked to agree


def timings(fn, repeats: int, cheap_s: float, first: tuple[float, float] | None = None) -> dict:
    """Wall and CPU time of ``fn()``: ``repeats`` runs, or only ``first`` (an earlier run's (wall, cpu), e.g. the
    warm-up) when that run took longer than ``cheap_s`` seconds of wall time (the largest n: one run each)."""
    if first is not None and first[0] > cheap_s:
        wall, cpu = [first[0]], [first[1]]
    else:
        wall, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return {
        "median_s": statistics.median(wall),
        "min_s": min(wall),
        "max_s": max(wall),
        "cpu_median_s": statistics.median(cpu),
        "runs": len(wall),
    }


def timed(fn) -> tuple[float, float]:
    """(wall, cpu) seconds of one call of ``fn()``."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def skip_reason(name: str, n: int, args) -> str | None:
    if name in QUADRATIC and n > args.max_n_quadratic:
        return f"n > --max-n-quadratic={args.max_n_quadratic} (memory grows as n^2 or n d e)"
    if name == "linear_recurrent" and n > args.max_n_recurrent:
        return f"n > --max-n-recurrent={args.max_n_recurrent} (a Python loop over tokens)"
    if name.startswith("linear") and not args.causal:
        return "the linear forms differ only when causal"
    return None


def crossover(rows: list[dict], key: str = "forward_backward") -> int | None:
    """The smallest measured n from which chunkwise linear attention beats SDPA at every larger measured n."""
    ratios = sorted(
        (r["n"], r["ratio_to_sdpa"][key]) for r in rows if r["path"] == "linear_chunkwise" and "ratio_to_sdpa" in r
    )
    found = None
    for n, ratio in reversed(ratios):
        if ratio >= 1:
            break
        found = n
    return found


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096, 8192, 16384])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--cheap-s", type=float, default=4.0, help="a warm-up longer than this (wall s) is the only timed run"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    parser.add_argument("--max-n-quadratic", type=int, default=2048)
    parser.add_argument("--max-n-recurrent", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    started = time.perf_counter()
    gen = torch.Generator().manual_seed(0)
    rows = []

    def record_so_far() -> dict:
        summary = {
            "crossover_n_forward_backward": crossover(rows),
            "crossover_n_forward": crossover(rows, "forward"),
            "ratio_to_sdpa": {
                f"{r['path']}@{r['n']}": r["ratio_to_sdpa"]
                for r in rows
                if r["n"] in (1024, 4096, 16384) and "ratio_to_sdpa" in r
            },
            "peak_fwd_bwd_MiB": {
                f"{r['path']}@{r['n']}": r["peak_fwd_bwd_bytes"] / 2**20
                for r in rows
                if "peak_fwd_bwd_bytes" in r and r["n"] == max(x["n"] for x in rows)
            },
        }
        record = {
            "benchmark": "cpu_attention",
            "repeats": args.repeats,
            "cheap_s": args.cheap_s,
            "device": "cpu",
            "device_name": device_name(torch.device("cpu")),
            "cpu_count": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "wall_s": time.perf_counter() - started,
            "versions": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "minitorch_xf": minitorch_xf.__version__,
            },
            "shape": {
                "batch": args.batch,
                "heads": args.heads,
                "head_dim": args.head_dim,
                "causal": args.causal,
                "dtype": "float32",
            },
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "complete": {r["n"] for r in rows} == set(args.n),
            "summary": summary,
            "rows": rows,
        }
        return record

    def write(record: dict) -> Path:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"cpu_attention-{platform.node() or 'host'}.json"
        path.write_text(json.dumps(record, indent=1) + "\n")
        return path

    for n in args.n:
        shape = (args.batch, args.heads, n, args.head_dim)
        q, k, v = (torch.randn(*shape, generator=gen) for _ in range(3))
        with torch.no_grad():
            sdpa_out = F.scaled_dot_product_attention(q, k, v, is_causal=args.causal)
        for name in args.paths:
            fn = PATHS[name]
            row = {"path": name, "n": n}
            reason = skip_reason(name, n, args)
            if reason:
                rows.append({**row, "skipped": reason})
                continue
            with torch.no_grad():
                t0, c0 = time.perf_counter(), time.process_time()
                out = fn(q, k, v, args.causal)  # warm-up and agreement
                first = time.perf_counter() - t0, time.process_time() - c0
                if name in SOFTMAX:
                    row["max_abs_diff_vs_sdpa"] = (out - sdpa_out).abs().max().item()
                del out
                row["forward"] = timings(
                    lambda fn=fn, x=(q, k, v): fn(*x, args.causal), args.repeats, args.cheap_s, first
                )
            leaves = [x.clone().requires_grad_() for x in (q, k, v)]

            def fwd_bwd(fn=fn, leaves=leaves):
                fn(*leaves, args.causal).sum().backward()
                for x in leaves:
                    x.grad = None

            expensive = row["forward"]["runs"] == 1 and args.repeats > 1  # the largest n: one run of each
            if expensive:  # this run is timed and its peak memory read: fwd+bwd runs once
                first_bwd, peak = None, None

                def fwd_bwd_timed():
                    nonlocal first_bwd
                    first_bwd = timed(fwd_bwd)

                peak = peak_memory(fwd_bwd_timed)[1]
                row["forward_backward"] = timings(fwd_bwd, 1, 0.0, first_bwd)
                row["peak_fwd_bwd_bytes"] = peak
            else:
                first_bwd = timed(fwd_bwd)  # warm-up
                row["forward_backward"] = timings(fwd_bwd, args.repeats, args.cheap_s, first_bwd)
                row["peak_fwd_bwd_bytes"] = peak_memory(fwd_bwd)[1]
            rows.append(row)
        measured = {r["path"]: r for r in rows if r["n"] == n and "forward" in r}
        if "sdpa" in measured:
            base = measured["sdpa"]
            for r in measured.values():
                r["ratio_to_sdpa"] = {
                    key: r[key]["median_s"] / base[key]["median_s"] for key in ("forward", "forward_backward")
                }
                r["cpu_ratio_to_sdpa"] = {
                    key: r[key]["cpu_median_s"] / base[key]["cpu_median_s"] for key in ("forward", "forward_backward")
                }
        for r in measured.values():
            ratio = r.get("ratio_to_sdpa", {}).get("forward_backward", float("nan"))
            print(
                f"n={n:6d} {r['path']:17s} fwd {1e3 * r['forward']['median_s']:9.1f} ms  "
                f"fwd+bwd {1e3 * r['forward_backward']['median_s']:9.1f} ms ({ratio:5.2f}x sdpa)  "
                f"peak {r['peak_fwd_bwd_bytes'] / 2**20:8.1f} MiB",
                flush=True,
            )
        write(record_so_far())  # a run stopped part-way keeps the lengths it finished
    record = record_so_far()
    print(json.dumps(record["summary"], indent=1))
    print(f"written to {write(record)}")
    return record


if __name__ == "__main__":
    main()
