"""CPU benchmark: every attention path of minitorch_xf against ``F.scaled_dot_product_attention``, measured in one run.

For each sequence length n: forward and forward+backward wall time (median and spread over ``--repeats`` runs) of the
from-scratch reference, ``chunked_attention``, ``memory_efficient_attention``, linear attention and torch's SDPA, with
the ratio to SDPA; and the peak resident-memory growth of one forward+backward pass (Linux, ``peak_memory``).
Writes ``benchmarks/results/cpu_attention-<host>.json`` (device, versions, shapes, medians, spread).

    python benchmarks/cpu_attention.py                      # the default sizes (about a minute)
    python benchmarks/cpu_attention.py --n 512 1024 --batch 4 --heads 8 --causal

Not a timed test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import minitorch_xf
from minitorch_xf.nn.attention import chunked_attention, scaled_dot_product_attention
from minitorch_xf.nn.kernelized import linear_attention
from minitorch_xf.nn.memory_efficient import memory_efficient_attention, peak_memory
from minitorch_xf.report import device_name

PATHS = {
    "sdpa": lambda q, k, v, causal: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
    "reference": lambda q, k, v, causal: scaled_dot_product_attention(q, k, v, causal=causal),
    "chunked": lambda q, k, v, causal: chunked_attention(q, k, v, causal=causal, chunk_size=128),
    "memory_efficient": lambda q, k, v, causal: memory_efficient_attention(q, k, v, causal=causal, block_size=128),
    "linear": lambda q, k, v, causal: linear_attention(q, k, v, causal=causal),
}


def timings(fn, repeats: int) -> dict:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": repeats}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    rows = []
    for n in args.n:
        shape = (args.batch, args.heads, n, args.head_dim)
        q, k, v = (torch.randn(*shape, generator=gen) for _ in range(3))
        ref_out = scaled_dot_product_attention(q, k, v, causal=args.causal)
        for name, fn in PATHS.items():
            row = {"path": name, "n": n}
            if name != "linear":  # linear attention is a different function: no agreement to check
                err = (fn(q, k, v, args.causal) - ref_out).abs().max().item()
                row["max_abs_diff_vs_reference"] = err
            with torch.no_grad():
                fn(q, k, v, args.causal)  # warm-up
                row["forward"] = timings(lambda fn=fn, x=(q, k, v): fn(*x, args.causal), args.repeats)
            leaves = [x.clone().requires_grad_() for x in (q, k, v)]

            def fwd_bwd(fn=fn, leaves=leaves):
                fn(*leaves, args.causal).sum().backward()

            fwd_bwd()
            row["forward_backward"] = timings(fwd_bwd, args.repeats)
            row["peak_fwd_bwd_bytes"] = peak_memory(fwd_bwd)[1]
            rows.append(row)
        sdpa = {
            key: next(r for r in rows if r["n"] == n and r["path"] == "sdpa")[key]["median_s"]
            for key in ("forward", "forward_backward")
        }
        for r in rows:
            if r["n"] == n:
                r["ratio_to_sdpa"] = {key: r[key]["median_s"] / sdpa[key] for key in sdpa}
                print(
                    f"n={n:5d} {r['path']:17s} fwd {1e3 * r['forward']['median_s']:8.2f} ms "
                    f"({r['ratio_to_sdpa']['forward']:5.2f}x sdpa)  "
                    f"fwd+bwd {1e3 * r['forward_backward']['median_s']:8.2f} ms "
                    f"({r['ratio_to_sdpa']['forward_backward']:5.2f}x)  peak {r['peak_fwd_bwd_bytes'] / 2**20:8.1f} MiB"
                )
    exponents = {}
    for name in PATHS:
        ns = [r["n"] for r in rows if r["path"] == name]
        ts = [r["forward"]["median_s"] for r in rows if r["path"] == name]
        ms = [max(r["peak_fwd_bwd_bytes"], 1) for r in rows if r["path"] == name]
        exponents[name] = {
            "forward_time": float(np.polyfit(np.log(ns), np.log(ts), 1)[0]),
            "peak_memory": float(np.polyfit(np.log(ns), np.log(ms), 1)[0]),
        }
    record = {
        "benchmark": "cpu_attention",
        "device": "cpu",
        "device_name": device_name(torch.device("cpu")),
        "threads": torch.get_num_threads(),
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
        "rows": rows,
        "log_log_exponents": exponents,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"cpu_attention-{platform.node() or 'host'}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"written to {path}")
    return record


if __name__ == "__main__":
    main()
