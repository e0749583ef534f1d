"""The roofline counts against hand counts (matmul FLOPs by shape, bytes by tensor sizes) and the model's corners."""

from __future__ import annotations

import json

import pytest
import torch

from minitorch_xf.kernels.roofline import (
    attainable_flops,
    attention_bytes,
    attention_flops,
    recorded_gpu_runs,
    ridge_point,
    row_op_bytes,
    summarize_run,
)

pytestmark = pytest.mark.ch13


def matmul_flops(a_shape, b_shape) -> int:
    """2 m k n per matrix product, times the batch: counted from the shapes."""
    *batch, m, k = a_shape
    n = b_shape[-1]
    return 2 * m * k * n * int(torch.tensor(batch).prod()) if batch else 2 * m * k * n


def test_attention_flops_are_the_two_matmuls():
    b, h, s, t, d = 2, 3, 5, 7, 4
    two = matmul_flops((b, h, s, d), (b, h, d, t)) + matmul_flops((b, h, s, t), (b, h, t, d))
    assert attention_flops(b, h, s, t, d) == pytest.approx(two)
    assert attention_flops(b, h, s, t, d, causal=True) == pytest.approx(two / 2)
    assert attention_flops(b, h, s, t, d, backward=True) == pytest.approx(2.5 * two)  # five matmuls of that size


def test_attention_bytes_count_the_tensors():
    b, h, s, t, d = 1, 2, 8, 6, 4
    q, k, v, o = (torch.empty(b, h, n, d, dtype=torch.float16) for n in (s, t, t, s))
    io = sum(x.numel() * x.element_size() for x in (q, k, v, o))
    assert attention_bytes(b, h, s, t, d, elem=2) == io
    scores = torch.empty(b, h, s, t, dtype=torch.float16)
    assert attention_bytes(b, h, s, t, d, elem=2, materialized=True) == io + 4 * scores.numel() * 2
    assert row_op_bytes(3, 5, elem=4) == 2 * 3 * 5 * 4 and row_op_bytes(3, 5, 4, backward=True) == 3 * 3 * 5 * 4


def test_roofline_corners():
    peak, bw = 1000e12, 3e12
    assert ridge_point(peak, bw) == pytest.approx(1000 / 3)
    assert attainable_flops(10.0, peak, bw) == pytest.approx(30e12)  # memory-bound: I W
    assert attainable_flops(1e4, peak, bw) == peak  # compute-bound: the flat roof
    assert attainable_flops(ridge_point(peak, bw), peak, bw) == pytest.approx(peak)
    with pytest.raises(ValueError, match=r"bandwidth=0\.0"):
        ridge_point(peak, 0.0)
    with pytest.raises(ValueError, match="s=0"):
        attention_flops(1, 1, 0, 4, 4)


def test_recorded_runs_read_and_reject(tmp_path):
    assert recorded_gpu_runs(tmp_path) == []
    (tmp_path / "gpu-x.json").write_text(json.dumps({"device": {"name": "x"}, "versions": {}, "results": []}))
    assert [r["device"]["name"] for r in recorded_gpu_runs(tmp_path)] == ["x"]
    (tmp_path / "gpu-y.json").write_text(json.dumps({"device": {}}))
    with pytest.raises(ValueError, match="no 'versions' entry"):
        recorded_gpu_runs(tmp_path)


def test_summarize_run_reads_every_figure_from_the_record():
    t = {"median_ms": 1.0, "p20_ms": 0.9, "p80_ms": 1.1, "reps": 5}
    att = {"op": "flash_attention", "dtype": "float16", "s": 1024, "d": 64, "causal": True, "ours_fwd_TFLOPs": 100.0,
           "sdpa_fwd_TFLOPs": 125.0, "ours_bwd_TFLOPs": 60.0, "fwd_speed_vs_sdpa": 0.8, "sdpa_backend": "FLASH",
           "ours_fwd": t}  # fmt: skip
    row = {"op": "softmax", "dtype": "float16", "n": 8192, "ours_GBps": 1500.0, "torch_GBps": 1400.0,
           "ours_fraction_of_copy": 0.5, "speed_vs_torch": 1.07}  # fmt: skip
    rows = summarize_run({"peaks": {"matmul_float16_TFLOPs": 500.0}, "results": [att, row]})
    assert rows[0]["fraction_of_peak"] == pytest.approx(0.2) and rows[0]["bwd_over_fwd"] == pytest.approx(0.6)
    assert rows[0]["reference_name"] == "SDPA (FLASH)" and rows[0]["causal"] is True
    assert rows[1]["fraction_of_peak"] == 0.5 and rows[1]["unit"] == "GB/s" and rows[1]["size"] == "n=8192"
    assert summarize_run({"results": [att]})[0]["fraction_of_peak"] is None  # no measured peak: no fraction
