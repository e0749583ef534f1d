"""Chapter 15's GPS module called as a careless user would: each ``BAD`` call raises naming the argument, each
``HANDLED`` call gives its documented answer."""

from __future__ import annotations

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.nn.gps import (
    GPSLayer,
    GraphNet,
    VirtualNode,
    dense_batch,
    hop_key_mask,
    random_key_mask,
    sparse_attention,
    sparsity_error_bound,
    topk_key_mask,
    virtual_node_linear_attention,
)
from minitorch_xf.nn.message_passing import MPNNLayer
from minitorch_xf.tasks.graph_data import path_graph

pytestmark = pytest.mark.ch15

P4 = path_graph(4)
B2 = torch.tensor([0, 0, 1, 1])
KEEP = torch.ones(3, 4, dtype=torch.bool)


def _layer(**kw):
    return GPSLayer(4, MPNNLayer(4), 2, **kw)


def _all_dropped():
    out, dropped = sparse_attention(r(2, 3), r(4, 3), r(4, 2), torch.zeros(2, 4, dtype=torch.bool))
    return out, dropped


def _check_all_dropped(result):
    out, dropped = result
    torch.testing.assert_close(out, torch.zeros(2, 2))
    torch.testing.assert_close(dropped, torch.ones(2))


BAD = [
    Bad("gps d_model", lambda: GPSLayer(0, None), ValueError, r"d_model=0"),
    Bad("gps local type", lambda: GPSLayer(4, "gin"), TypeError, r"local must be an nn.Module"),
    Bad("gps no branch", lambda: GPSLayer(4, None, attention=False), ValueError, r"local=None and attention=False"),
    Bad("gps norm", lambda: _layer(norm="group"), ValueError, r"norm='group' is not one of"),
    Bad("gps heads", lambda: GPSLayer(4, None, 3), ValueError, r"d_model=4 is not divisible by n_heads=3"),
    Bad("gps dropout", lambda: _layer(dropout=1.0), ValueError, r"dropout=1.0"),
    Bad("gps width", lambda: _layer()(r(4, 5), P4), ValueError, r"x has feature width 5"),
    Bad("gps edge node", lambda: _layer()(r(3, 4), P4), ValueError, r"unknown node"),
    Bad("gps batch length", lambda: _layer()(r(4, 4), P4, torch.tensor([0, 1])), ValueError, r"batch has 2 entries"),
    Bad("gps batch joins", lambda: _layer()(r(4, 4), P4, B2), ValueError, r"joins graph 0 to graph 1"),
    Bad("gps dtype", lambda: _layer()(r(4, 4).double(), P4), TypeError, r"x has dtype torch.float64"),
    Bad("net mixer", lambda: GraphNet(3, 2, mixer="performer"), ValueError, r"mixer='performer' is not one of"),
    Bad("net layers", lambda: GraphNet(3, 2, n_layers=0), ValueError, r"n_layers=0"),
    Bad("net d_in", lambda: GraphNet(3, 2, 4, 1, n_heads=2)(r(4, 5), P4), ValueError, r"expects d_in=3"),
    Bad("net 1-D x", lambda: GraphNet(3, 2, 4, 1, n_heads=2)(r(4), P4), ValueError, r"x must have 2 dims"),
    Bad("vn d_model", lambda: VirtualNode(-1), ValueError, r"d_model=-1"),
    Bad("vn shape", lambda: VirtualNode(4)(r(4, 4), r(1, 4), B2), ValueError, r"vn \(1, 4\)"),
    Bad("vn batch", lambda: VirtualNode(4)(r(4, 4), r(2, 4), torch.tensor([0, 2, 2, 3])), ValueError, r"batch must"),
    Bad("dense batch float ids", lambda: dense_batch(r(3, 2), torch.zeros(3)), TypeError, r"batch must have dtype"),
    Bad("vnla shapes", lambda: virtual_node_linear_attention(r(4, 3), r(4, 2), r(4, 2)), ValueError, r"q \(4, 3\)"),
    Bad(
        "vnla map",
        lambda: virtual_node_linear_attention(r(4, 3), r(4, 3), r(4, 2), feature_map=2),
        TypeError,
        r"feature_map must be callable",
    ),
    Bad(
        "vnla negative",
        lambda: virtual_node_linear_attention(r(4, 3), r(4, 3), r(4, 2), feature_map=lambda t: t),
        ValueError,
        r"negative features",
    ),
    Bad("vnla eps", lambda: virtual_node_linear_attention(r(4, 3), r(4, 3), r(4, 2), eps=-1.0), ValueError, r"eps=-1"),
    Bad("topk k=0", lambda: topk_key_mask(r(3, 4), 0), ValueError, r"k=0"),
    Bad("topk int scores", lambda: topk_key_mask(torch.ones(3, 4, dtype=torch.long), 2), TypeError, r"scores must be"),
    Bad("random t", lambda: random_key_mask(3, 0, 1), ValueError, r"t=0"),
    Bad("random generator", lambda: random_key_mask(3, 4, 1, generator=0), TypeError, r"generator must be"),
    Bad("hop hops", lambda: hop_key_mask(P4, 4, -1), ValueError, r"hops=-1"),
    Bad("hop nodes", lambda: hop_key_mask(P4, 3, 1), ValueError, r"unknown node"),
    Bad(
        "sparse keep dtype",
        lambda: sparse_attention(r(3, 2), r(4, 2), r(4, 5), KEEP.float()),
        TypeError,
        r"keep must be a bool",
    ),
    Bad(
        "sparse keep shape",
        lambda: sparse_attention(r(3, 2), r(4, 2), r(4, 5), KEEP[:, :3]),
        ValueError,
        r"keep has shape \(3, 3\)",
    ),
    Bad("sparse q/k width", lambda: sparse_attention(r(3, 2), r(4, 3), r(4, 5), KEEP), ValueError, r"q \(3, 2\)"),
    Bad("sparse scale", lambda: sparse_attention(r(3, 2), r(4, 2), r(4, 5), KEEP, scale=0.0), ValueError, r"scale=0.0"),
    Bad("bound batch", lambda: sparsity_error_bound(r(2, 3), r(4, 3, 2)), ValueError, r"dropped \(2, 3\)"),
]

HANDLED = [
    Handled("query with no key", _all_dropped, _check_all_dropped),
    Handled(
        "topk k above t keeps all",
        lambda: topk_key_mask(r(2, 3), 10),
        lambda m: torch.equal(m, torch.ones(2, 3, dtype=torch.bool)) or pytest.fail("not all kept"),
    ),
    Handled(
        "hop 0 is the identity",
        lambda: hop_key_mask(P4, 4, 0),
        lambda m: torch.equal(m, torch.eye(4, dtype=torch.bool)) or pytest.fail("not eye"),
    ),
    Handled(
        "one graph without batch",
        lambda: dense_batch(r(3, 2)),
        lambda res: res[0].shape == (1, 3, 2) or pytest.fail(str(res[0].shape)),
    ),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
