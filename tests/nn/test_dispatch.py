"""The attention dispatcher (issue 23, sec. 3): one switch that every implementation registers with, inputs checked
once at the public entry, and an import graph among ``minitorch_xf.nn``'s modules without a cycle."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import minitorch_xf.nn.dispatch as dispatch
from minitorch_xf.nn import MultiHeadAttention
from minitorch_xf.nn.dispatch import attention, register_attention_backend

pytestmark = pytest.mark.ch12

NN = Path(dispatch.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    """The sibling modules of minitorch_xf.nn that ``path`` imports anywhere (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module] if node.module else [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("minitorch_xf.nn."):
            found.add(node.module.split(".")[2])
    return found


def test_the_nn_import_graph_has_no_cycle():
    graph = {p.stem: _imports(p) & {q.stem for q in NN.glob("*.py")} for p in NN.glob("*.py") if p.stem != "__init__"}
    state: dict[str, str] = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                raise AssertionError(f"import cycle: {' -> '.join([*path, node, nxt])}")
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert "attention" not in graph["dispatch"] and "memory_efficient" not in graph["attention"]


def test_every_builtin_backend_is_registered_and_agrees():
    assert set(dispatch.ATTENTION_BACKENDS) <= set(dispatch.attention_backends())
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 8, generator=g, dtype=torch.float64) for n in (5, 7, 7))
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(5, 7, dtype=torch.bool).tril(2))
    for name in dispatch.ATTENTION_BACKENDS:
        torch.testing.assert_close(attention(q, k, v, causal=True, backend=name), expected)


def test_a_registered_backend_receives_checked_arguments(monkeypatch):
    monkeypatch.setattr(dispatch, "_REGISTRY", dict(dispatch._REGISTRY))
    seen = []

    def mine(q, k, v, mask, causal, scale):
        seen.append((mask, causal, scale))
        return torch.zeros(*q.shape[:-1], v.shape[-1])

    register_attention_backend("mine", mine, takes_mask=False)
    out = attention(torch.ones(1, 2, 4), torch.ones(1, 3, 4), torch.ones(1, 3, 5), causal=True, backend="mine")
    assert out.shape == (1, 2, 5) and seen == [(None, True, 0.5)]
    with pytest.raises(ValueError, match="takes no mask"):
        attention(
            torch.ones(1, 2, 4), torch.ones(1, 2, 4), torch.ones(1, 2, 5), backend="mine", mask=torch.ones(1, 2, 2) > 0
        )


@pytest.mark.parametrize("backend", ["reference", "sdpa", "memory_efficient"])
def test_multihead_attention_checks_its_input_once(monkeypatch, backend):
    """MultiHeadAttention checks x (and the mask) itself and builds q, k, v to fit: no backend re-checks them."""
    calls = {"qkv": 0, "mask": 0}
    check_qkv, check_mask = dispatch._check_qkv, dispatch._check_mask

    def count_qkv(*args):
        calls["qkv"] += 1
        return check_qkv(*args)

    def count_mask(*args):
        calls["mask"] += 1
        return check_mask(*args)

    modules = [importlib.import_module(f"minitorch_xf.nn.{name}") for name in ("attention", "memory_efficient")]
    for module in (dispatch, *modules):
        monkeypatch.setattr(module, "_check_qkv", count_qkv)
        monkeypatch.setattr(module, "_check_mask", count_mask, raising=False)
    mha = MultiHeadAttention(8, 2, backend=backend)
    x = torch.randn(2, 5, 8)
    mask = None if backend == "memory_efficient" else torch.ones(2, 1, 1, 5, dtype=torch.bool)
    mha(x, mask=mask, causal=True)
    assert calls == {"qkv": 0, "mask": 0 if mask is None else 1}
