"""Bad calls to the kernels raise up front naming the argument; the backend rule (torch fallback with a warning,
or an error under backend="triton") says why the kernel cannot run."""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
import types

import pytest
import torch
import torch.nn.functional as F
from bad_calls import Bad, Handled, r, walker_tests
from kernel_cases import needs_triton

from minitorch_xf import kernels
from minitorch_xf.kernels import _backend, flash_attention, layer_norm, softmax

pytestmark = pytest.mark.ch13

q4 = r(1, 2, 8, 16)
w8, b8 = r(8, seed=1), r(8, seed=2)

BAD = [
    Bad("softmax-not-tensor", lambda: softmax([1.0, 2.0]), TypeError, "x must be a torch.Tensor"),
    Bad("softmax-int", lambda: softmax(torch.ones(3, dtype=torch.long)), TypeError, "x must be a floating"),
    Bad("softmax-empty-row", lambda: softmax(torch.ones(3, 0)), ValueError, "non-empty last dim"),
    Bad("softmax-backend", lambda: softmax(r(2, 3), backend="cuda"), ValueError, "backend='cuda'"),
    Bad("ln-weight-shape", lambda: layer_norm(r(4, 8), r(7), b8), ValueError, r"weight has shape \(7,\)"),
    Bad("ln-bias-2d", lambda: layer_norm(r(4, 8), w8, r(1, 8)), ValueError, "bias must have 1 dims"),
    Bad("ln-dtype", lambda: layer_norm(r(4, 8), w8.double(), b8), TypeError, "weight: torch.float64"),
    Bad("ln-eps", lambda: layer_norm(r(4, 8), w8, b8, eps=0.0), ValueError, "eps=0.0"),
    Bad("fa-3d", lambda: flash_attention(r(2, 8, 16), q4, q4), ValueError, "q must have 4 dims"),
    Bad("fa-k-shape", lambda: flash_attention(q4, r(1, 2, 8, 32), r(1, 2, 8, 32)), ValueError, "k has shape"),
    Bad("fa-v-shape", lambda: flash_attention(q4, q4, r(1, 2, 9, 16)), ValueError, "v has shape"),
    Bad("fa-dtype", lambda: flash_attention(q4, q4.half(), q4), TypeError, "k: torch.float16"),
    Bad("fa-causal", lambda: flash_attention(q4, q4, q4, causal="yes"), TypeError, "causal must be a bool"),
    Bad("fa-scale", lambda: flash_attention(q4, q4, q4, scale=-1.0), ValueError, "scale=-1.0"),
    Bad("fa-empty", lambda: flash_attention(r(1, 2, 0, 16), q4, q4), ValueError, "s, t, d >= 1"),
]
if kernels.triton_available():  # why backend="triton" refuses; without triton the reason is that it is missing
    BAD += [
        Bad(
            "fa-triton-fp64",
            lambda: flash_attention(*(q4.double(),) * 3, backend="triton"),
            RuntimeError,
            "q has dtype torch.float64",
        ),
        Bad(
            "fa-triton-head-dim",
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
        "fa-torch-backend",
        lambda: flash_attention(q4, q4, q4, causal=True, backend="torch"),
        lambda o: torch.testing.assert_close(o, F.scaled_dot_product_attention(q4, q4, q4, is_causal=True)),
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
