"""Bad calls to the kernels raise up front naming the argument; the backend rule (torch fallback with a warning,
or an error under backend="triton") says why the kernel cannot run."""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from bad_calls import Bad, Handled, r, walker_tests
from kernel_cases import needs_triton

from minitorch_xf import kernels
from minitorch_xf.kernels import _backend, attention_reference, flash_attention, layer_norm, softmax
from minitorch_xf.kernels._backend import triton_reason, use_triton
from minitorch_xf.kernels.online import block_state, merge_states, online_attention
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

q4 = r(1, 2, 8, 16)
w8, b8 = r(8, seed=1), r(8, seed=2)

BAD = [
    Bad("softmax-not-tensor", lambda: softmax([1.0, 2.0]), TypeError, "x must be a torch.Tensor"),
    Bad("softmax-int", lambda: softmax(torch.ones(3, dtype=torch.long)), TypeError, "x must be a floating"),
    Bad("softmax-empty-row", lambda: softmax(torch.ones(3, 0)), ValueError, "non-empty last dim"),
    Bad("softmax-backend", lambda: softmax(r(2, 3), backend="cuda"), ValueError, "backend='cuda'"),
    Bad("layer_norm-weight-shape", lambda: layer_norm(r(4, 8), r(7), b8), ValueError, r"weight has shape \(7,\)"),
    Bad("layer_norm-bias-2d", lambda: layer_norm(r(4, 8), w8, r(1, 8)), ValueError, "bias must have 1 dims"),
    Bad("layer_norm-dtype", lambda: layer_norm(r(4, 8), w8.double(), b8), TypeError, "weight: torch.float64"),
    Bad("layer_norm-eps", lambda: layer_norm(r(4, 8), w8, b8, eps=0.0), ValueError, "eps=0.0"),
    Bad("flash_attention-3d", lambda: flash_attention(r(2, 8, 16), q4, q4), ValueError, "q must have 4 dims"),
    Bad(
        "flash_attention-k-shape",
        lambda: flash_attention(q4, r(1, 2, 8, 32), r(1, 2, 8, 32)),
        ValueError,
        "k has shape",
    ),
    Bad("flash_attention-v-shape", lambda: flash_attention(q4, q4, r(1, 2, 9, 16)), ValueError, "v has shape"),
    Bad("flash_attention-dtype", lambda: flash_attention(q4, q4.half(), q4), TypeError, "k: torch.float16"),
    Bad(
        "flash_attention-causal", lambda: flash_attention(q4, q4, q4, causal="yes"), TypeError, "causal must be a bool"
    ),
    Bad("flash_attention-scale", lambda: flash_attention(q4, q4, q4, scale=-1.0), ValueError, "scale=-1.0"),
    Bad("flash_attention-empty", lambda: flash_attention(r(1, 2, 0, 16), q4, q4), ValueError, "s, t, d >= 1"),
]
if kernels.triton_available():  # why backend="triton" refuses; without triton the reason is that it is missing
    BAD += [
        Bad(
            "flash_attention-triton-fp64",
            lambda: flash_attention(*(q4.double(),) * 3, backend="triton"),
            RuntimeError,
            "q has dtype torch.float64",
        ),
        Bad(
            "flash_attention-triton-head-dim",
            lambda: flash_attention(*(r(1, 1, 4, 8),) * 3, backend="triton"),
            RuntimeError,
            "head dim d=8",
        ),
    ]

HANDLED = [
    Handled(
        "softmax-torch-backend",
        lambda: softmax(r(3, 5), backend="torch"),
        lambda y: torch.testing.assert_close(y, torch.softmax(r(3, 5), -1)),
    ),
    Handled(
        "flash_attention-torch-backend",
        lambda: flash_attention(q4, q4, q4, causal=True, backend="torch"),
        lambda o: torch.testing.assert_close(o, F.scaled_dot_product_attention(q4, q4, q4, is_causal=True)),
    ),
]

NAN = float("nan")
q2, k2, v2 = r(5, 4), r(7, 4, seed=1), r(7, 4, seed=2)  # online attention: one head, s=5 queries, t=7 keys
STATE = block_state(r(5, 3), r(3, 4, seed=1))

BAD += [
    Bad("online_attention-scale-nan", lambda: online_attention(q2, k2, v2, scale=NAN), ValueError, "scale=nan"),
    Bad("online_attention-scale-neg", lambda: online_attention(q2, k2, v2, scale=-1), ValueError, "scale=-1 must"),
    Bad("online_attention-scale-zero", lambda: online_attention(q2, k2, v2, scale=0.0), ValueError, "scale=0.0"),
    Bad("online_attention-scale-bool", lambda: online_attention(q2, k2, v2, scale=True), TypeError, "scale must"),
    Bad("online_attention-scale-str", lambda: online_attention(q2, k2, v2, scale="1"), TypeError, "scale must be"),
    Bad("online_attention-dtype", lambda: online_attention(q2.double(), k2, v2), TypeError, "q: torch.float64"),
    Bad("online_attention-device", lambda: online_attention(q2, k2.to("meta"), v2), ValueError, "k on meta"),
    Bad("online_attention-int", lambda: online_attention(q2.long(), k2, v2), TypeError, "q must be a floating"),
    Bad("online_attention-k-none", lambda: online_attention(q2, None, v2), TypeError, "k must be a torch.Tensor"),
    Bad("online_attention-3d", lambda: online_attention(r(1, 5, 4), k2, v2), ValueError, "q must have 2 dims"),
    Bad("online_attention-shape", lambda: online_attention(q2, k2, r(6, 4)), ValueError, r"v \(6, 4\)"),
    Bad("online_attention-no-keys", lambda: online_attention(q2, k2[:0], v2[:0]), ValueError, "s, t, d >= 1"),
    Bad("online_attention-no-queries", lambda: online_attention(q2[:0], k2, v2), ValueError, "s, t, d >= 1"),
    Bad("online_attention-block-0", lambda: online_attention(q2, k2, v2, block=0), ValueError, "block=0"),
    Bad("online_attention-block-float", lambda: online_attention(q2, k2, v2, block=2.0), TypeError, "block must"),
    Bad("online_attention-block-bool", lambda: online_attention(q2, k2, v2, block=True), TypeError, "block must"),
    Bad("online_attention-causal", lambda: online_attention(q2, k2, v2, causal=1), TypeError, "causal must be a"),
    Bad("block_state-list", lambda: block_state([[1.0]], r(1, 4)), TypeError, "x must be a torch.Tensor"),
    Bad("block_state-rows", lambda: block_state(r(5, 3), r(4, 4)), ValueError, "x has 3 columns but v has 4 rows"),
    Bad("block_state-dtype", lambda: block_state(r(5, 3), r(3, 4).double()), TypeError, "v: torch.float64"),
    Bad("block_state-device", lambda: block_state(r(5, 3), r(3, 4).to("meta")), ValueError, "v on meta"),
    Bad("block_state-empty", lambda: block_state(r(5, 0), r(0, 4)), ValueError, "at least one key"),
    Bad("merge_states-not-triple", lambda: merge_states(STATE, STATE[:2]), TypeError, "state_2 must be a triple"),
    Bad("merge_states-none", lambda: merge_states(None, STATE), TypeError, "state_1 must be a triple"),
    Bad(
        "merge_states-shape",
        lambda: merge_states(STATE, block_state(r(4, 3), r(3, 4))),
        ValueError,
        r"state_1 has o of shape \(5, 4\) but state_2 has \(4, 4\)",
    ),
    Bad(
        "merge_states-dtype",
        lambda: merge_states(STATE, tuple(t.double() for t in STATE)),
        TypeError,
        "state_2: torch.float64",
    ),
    Bad(
        "merge_states-inner-shape",
        lambda: merge_states(STATE, (STATE[0], STATE[1][:2], STATE[2])),
        ValueError,
        r"state_2 has m \(5,\), ell \(2,\)",
    ),
    Bad("attention_reference-causal", lambda: attention_reference(q4, q4, q4, causal="yes"), TypeError, "causal"),
    Bad("attention_reference-scale", lambda: attention_reference(q4, q4, q4, scale=NAN), ValueError, "scale=nan"),
    Bad("attention_reference-list", lambda: attention_reference([1.0], q4, q4), TypeError, "q must be a torch"),
    Bad("attention_reference-dtype", lambda: attention_reference(q4, q4.double(), q4), TypeError, "k: torch.float64"),
    Bad("attention_reference-device", lambda: attention_reference(q4, q4, q4.to("meta")), ValueError, "v on meta"),
    Bad("attention_reference-1d", lambda: attention_reference(r(4), q4, q4), ValueError, "q must have at least 2"),
    Bad("flash_attention-scale-nan", lambda: flash_attention(q4, q4, q4, scale=NAN), ValueError, "scale=nan"),
    Bad("flash_attention-device", lambda: flash_attention(q4, q4.to("meta"), q4), ValueError, "k on meta"),
    Bad("flash_attention-v-none", lambda: flash_attention(q4, q4, None), TypeError, "v must be a torch.Tensor"),
    Bad("flash_attention-backend", lambda: flash_attention(q4, q4, q4, backend=None), TypeError, "backend must"),
    Bad("softmax-backend-none", lambda: softmax(r(2, 3), backend=None), TypeError, "backend must be one of"),
    Bad("layer_norm-bias-none", lambda: layer_norm(r(4, 8), w8, None), TypeError, "bias must be a torch.Tensor"),
    Bad("layer_norm-device", lambda: layer_norm(r(4, 8), w8, b8.to("meta")), ValueError, "bias on meta"),
    Bad("layer_norm-eps-nan", lambda: layer_norm(r(4, 8), w8, b8, eps=NAN), ValueError, "eps=nan"),
    Bad("layer_norm-int", lambda: layer_norm(torch.ones(4, 8, dtype=torch.long), w8, b8), TypeError, "x must be"),
    Bad("triton_reason-list", lambda: triton_reason(x=[1.0]), TypeError, "x must be a torch.Tensor"),
    Bad("triton_available-arg", lambda: kernels.triton_available("cuda"), TypeError, "positional argument"),
    Bad("use_triton-backend", lambda: use_triton("softmax", "gpu", None), ValueError, "backend='gpu'"),
    Bad("use_triton-op", lambda: use_triton(None, "auto", None), TypeError, "op must be the kernel's name"),
    Bad("use_triton-reason", lambda: use_triton("softmax", "auto", 3), TypeError, "reason must be a str or None"),
    Bad("attention_flops-float", lambda: attention_flops(1, 1, 4.0, 4, 4), TypeError, "s must be an int"),
    Bad("attention_flops-zero", lambda: attention_flops(1, 1, 0, 4, 4), ValueError, "s=0"),
    Bad("attention_flops-causal", lambda: attention_flops(1, 1, 4, 4, 4, causal=0), TypeError, "causal must be"),
    Bad("attention_bytes-bool", lambda: attention_bytes(1, 1, 4, 4, 4, elem=True), TypeError, "elem must be an int"),
    Bad("attention_bytes-flag", lambda: attention_bytes(1, 1, 4, 4, 4, materialized="no"), TypeError, "materialized"),
    Bad("row_op_bytes-neg", lambda: row_op_bytes(-1, 4), ValueError, "m=-1"),
    Bad("row_op_bytes-backward", lambda: row_op_bytes(2, 4, backward=None), TypeError, "backward must be a bool"),
    Bad("ridge_point-zero", lambda: ridge_point(1e12, 0.0), ValueError, "bandwidth=0.0"),
    Bad("ridge_point-nan", lambda: ridge_point(NAN, 1e9), ValueError, "peak_flops=nan"),
    Bad("attainable_flops-neg", lambda: attainable_flops(-1.0, 1e12, 1e9), ValueError, "intensity=-1.0"),
    Bad("attainable_flops-str", lambda: attainable_flops("1", 1e12, 1e9), TypeError, "intensity must be"),
    Bad("recorded_gpu_runs-none", lambda: recorded_gpu_runs(None), TypeError, "folder must be a path"),
    Bad("recorded_gpu_runs-missing", lambda: recorded_gpu_runs("no/such/folder"), FileNotFoundError, "no/such/folder"),
    Bad("summarize_run-list", lambda: summarize_run([]), TypeError, "run must be a dict"),
    Bad("summarize_run-no-results", lambda: summarize_run({"device": {}}), ValueError, "run has no 'results' list"),
    Bad(
        "summarize_run-missing-figure",
        lambda: summarize_run({"results": [{"op": "softmax", "dtype": "float16"}]}),
        ValueError,
        r"run\['results'\]\[0\] lacks a figure the summary needs: KeyError\('n'\)",
    ),
]


def reference_attention(q, k, v, causal=False, scale=None):
    """Direct attention over (s, d) q and (t, d) k, v: softmax(scale q k^T + top-left causal mask) v."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    x = (q @ k.T) * scale
    if causal:
        x = x.masked_fill(torch.ones(q.shape[0], k.shape[0], dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(x, -1) @ v


def close_to(expected):
    def check(out):
        out = out[0] if isinstance(out, tuple) else out
        torch.testing.assert_close(out, expected)

    return check


QT = r(4, 5, seed=3).T  # (5, 4), non-contiguous
KX = r(1, 4, seed=4).expand(7, 4)  # (7, 4), expanded: one key repeated
HANDLED += [
    Handled(
        "online_attention-non-contiguous-q",
        lambda: online_attention(QT, k2, v2, block=3),
        close_to(reference_attention(QT.contiguous(), k2, v2)),
    ),
    Handled(
        "online_attention-expanded-k",
        lambda: online_attention(q2, KX, v2, block=2, causal=True),
        close_to(reference_attention(q2, KX.contiguous(), v2, causal=True)),
    ),
    Handled(
        "online_attention-numpy-block-and-scale",
        lambda: online_attention(q2, k2, v2, block=np.int64(4), scale=np.float32(0.25)),
        close_to(reference_attention(q2, k2, v2, scale=0.25)),
    ),
    Handled(
        "online_attention-block-larger-than-t",
        lambda: online_attention(q2, k2, v2, block=100),
        close_to(reference_attention(q2, k2, v2)),
    ),
    Handled("online_attention-one-key", lambda: online_attention(q2, k2[:1], v2[:1]), close_to(v2[:1].expand(5, 4))),
    Handled(
        "merge_states-equals-softmax-over-both-blocks",
        lambda: merge_states(block_state(r(5, 7)[:, :3], v2[:3]), block_state(r(5, 7)[:, 3:], v2[3:]))[2],
        close_to(torch.softmax(r(5, 7), -1) @ v2),
    ),
    Handled(
        "attention_reference-causal-s-ne-t",
        lambda: attention_reference(r(1, 1, 3, 16), r(1, 1, 5, 16, seed=1), r(1, 1, 5, 16, seed=2), causal=True),
        close_to(
            F.scaled_dot_product_attention(
                r(1, 1, 3, 16), r(1, 1, 5, 16, seed=1), r(1, 1, 5, 16, seed=2), is_causal=True
            )
        ),
    ),
    Handled(
        "flash_attention-expanded-k-torch",
        lambda: flash_attention(q4, q4[:, :, :1].expand(1, 2, 8, 16), q4, backend="torch"),
        close_to(F.scaled_dot_product_attention(q4, q4[:, :, :1].expand(1, 2, 8, 16).contiguous(), q4)),
    ),
    Handled(
        "softmax-non-contiguous",
        lambda: softmax(r(5, 3).T, backend="torch"),
        close_to(torch.softmax(r(5, 3).T.contiguous(), -1)),
    ),
    Handled(
        "layer_norm-expanded-weight",
        lambda: layer_norm(r(4, 8), torch.ones(1).expand(8), torch.zeros(8), backend="torch"),
        close_to(
            (r(4, 8) - r(4, 8).mean(-1, keepdim=True))
            / torch.sqrt(r(4, 8).var(-1, unbiased=False, keepdim=True) + 1e-5)
        ),
    ),
    Handled(
        "attention_flops-numpy-ints",
        lambda: attention_flops(np.int64(2), 3, np.int32(5), 7, 16),
        lambda f: (f == 4 * 2 * 3 * 5 * 7 * 16) or pytest.fail(f"{f}"),
    ),
    Handled("ridge_point-numpy", lambda: ridge_point(np.float64(1e12), 2e9), lambda x: x == 500.0 or pytest.fail(x)),
    Handled(
        "recorded_gpu_runs-empty-folder",
        lambda: recorded_gpu_runs(os.path.dirname(__file__)),
        lambda runs: runs == [] or pytest.fail(f"{runs}"),
    ),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)


@needs_triton
def test_auto_falls_back_to_torch_with_a_warning_for_float64():
    x = r(3, 5, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="softmax: running the torch reference because x has dtype"):
        y = softmax(x)
    torch.testing.assert_close(y, torch.softmax(x, -1))


def test_without_triton_auto_warns_and_triton_raises(monkeypatch):
    monkeypatch.setattr(_backend, "triton", None)
    monkeypatch.setattr(_backend, "_WHY_NOT", _backend.MISSING)  # not installed (rather than hidden, or imported late)
    with pytest.warns(RuntimeWarning, match="triton is not installed"):
        o = flash_attention(q4, q4, q4)
    torch.testing.assert_close(o, F.scaled_dot_product_attention(q4, q4, q4))
    with pytest.raises(RuntimeError, match=r"layer_norm\(backend='triton'\) cannot run: triton is not installed"):
        layer_norm(r(4, 8), w8, b8, backend="triton")


def test_package_imports_without_triton():
    """A finder that refuses triton: ``import minitorch_xf.kernels`` still works and the kernels fall back."""
    code = (
        "import sys, warnings\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'triton': raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import torch, minitorch_xf, minitorch_xf.kernels as K\n"
        "assert not K.triton_available()\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    y = K.softmax(torch.zeros(2, 4))\n"
        "assert 'triton is not installed' in str(w[0].message), w\n"
        "assert torch.allclose(y, torch.full((2, 4), 0.25))\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "XF_NO_TRITON"}  # not installed, rather than hidden
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]


@pytest.mark.parametrize(("value", "hidden"), [("1", True), ("yes", True), ("0", False), ("", False), (" 0 ", False)])
def test_xf_no_triton_hides_triton(monkeypatch, value, hidden):
    """XF_NO_TRITON=1 makes the package load no triton, so a machine with triton can run the reader's no-triton path;
    the kernels then say why they fall back."""
    monkeypatch.setenv("XF_NO_TRITON", value)
    assert _backend._hidden() is hidden
    if hidden:
        assert _backend._load_triton() == (None, _backend.HIDDEN)
        monkeypatch.setattr(_backend, "triton", None)
        with pytest.warns(RuntimeWarning, match="hidden by XF_NO_TRITON=1"):
            o = flash_attention(q4, q4, q4)
        torch.testing.assert_close(o, F.scaled_dot_product_attention(q4, q4, q4))
        with pytest.raises(RuntimeError, match=r"softmax\(backend='triton'\) cannot run: triton is hidden"):
            softmax(r(4, 8), backend="triton")


@needs_triton
def test_triton_imported_first_still_gets_the_interpreter_and_the_environment_is_left_alone(monkeypatch):
    """On a machine without CUDA the package switches Triton's interpreter on through ``triton.knobs`` (in memory),
    so it works even when triton was imported first (as ``torch.utils.flop_counter`` does), and it writes no
    TRITON_INTERPRET into ``os.environ``; a triton without knobs is refused in that case, saying why."""
    if not _backend.INTERPRET:
        pytest.skip("only matters on a machine without CUDA")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.delenv("XF_NO_TRITON", raising=False)
    assert _backend._load_triton() == (_backend.triton, None)
    assert "TRITON_INTERPRET" not in os.environ  # the variable was not set behind the caller's back
    assert _backend._interpreting(_backend.triton)

    old = types.ModuleType("triton")  # no knobs: only the variable, read at import, switches the interpreter on
    old.__spec__ = importlib.machinery.ModuleSpec("triton", None)
    monkeypatch.setitem(sys.modules, "triton", old)
    assert _backend._load_triton() == (None, _backend.LATE)
    assert "TRITON_INTERPRET" not in os.environ


@needs_triton
def test_interpreter_refuses_bf16():
    if not _backend.INTERPRET:
        pytest.skip("only the CPU interpreter mishandles bf16")
    with pytest.raises(RuntimeError, match=r"bfloat16, which Triton.s CPU interpreter mishandles"):
        softmax(r(2, 4).bfloat16(), backend="triton")
