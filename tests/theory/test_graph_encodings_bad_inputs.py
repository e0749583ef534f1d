"""Every public callable of ``minitorch_xf.theory.graph_encodings`` called as a careless user would.

Bad calls raise up front naming the argument; odd but valid calls give their documented answer (tests/bad_calls.py).
"""

from __future__ import annotations

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.tasks.graph_data import cycle_graph, disjoint_union, path_graph
from minitorch_xf.theory import graph_encodings as ge

pytestmark = pytest.mark.ch15
C6 = cycle_graph(6)
TWO_TRIANGLES, _ = disjoint_union((cycle_graph(3), 3), (cycle_graph(3), 3))
PE, LAM = ge.laplacian_pe(C6, 6, 2)


def _check(predicate, what):
    def check(out):
        assert predicate(out), f"{what}: got {out!r}"

    return check


BAD = [
    Bad("laplacian unknown node", lambda: ge.laplacian(C6, 5), ValueError, "points to an unknown node"),
    Bad("laplacian normalized str", lambda: ge.laplacian(C6, 6, normalized="sym"), TypeError, "normalized"),
    Bad("laplacian_pe disconnected", lambda: ge.laplacian_pe(TWO_TRIANGLES, 6, 2), ValueError, "disconnected"),
    Bad("laplacian_pe k too large", lambda: ge.laplacian_pe(C6, 6, 6), ValueError, "k=6"),
    Bad("laplacian_pe k=0", lambda: ge.laplacian_pe(C6, 6, 0), ValueError, "k=0"),
    Bad(
        "laplacian_pe self-loop",
        lambda: ge.laplacian_pe(torch.tensor([[0, 1, 1], [1, 0, 1]]), 2, 1),
        ValueError,
        "self-loop",
    ),
    Bad(
        "laplacian_pe batch",
        lambda: ge.laplacian_pe(C6, 6, 2, batch=torch.tensor([0, 0, 0, 2, 2, 2])),
        ValueError,
        "batch must be sorted",
    ),
    Bad("eigenspace_projectors tol", lambda: ge.eigenspace_projectors(C6, 6, tol=0.0), ValueError, "tol=0.0"),
    Bad("random_walk_se k", lambda: ge.random_walk_se(C6, 6, -1), ValueError, "k=-1"),
    Bad("random_walk_se one way", lambda: ge.random_walk_se(C6[:, :5], 6, 2), ValueError, "reverse"),
    Bad("wl_colours iterations", lambda: ge.wl_colours(C6, 6, iterations=-2), ValueError, "iterations=-2"),
    Bad("wl_colours initial", lambda: ge.wl_colours(C6, 6, initial=torch.zeros(5).long()), ValueError, "initial"),
    Bad("wl_distinguishes unknown node", lambda: ge.wl_distinguishes((C6, 6), (C6, 4)), ValueError, "unknown node"),
    Bad("random_signs k", lambda: ge.random_signs(0), ValueError, "k=0"),
    Bad("random_signs generator", lambda: ge.random_signs(3, generator=1), TypeError, "generator"),
    Bad(
        "rotate_within_eigenspaces lengths",
        lambda: ge.rotate_within_eigenspaces(PE, LAM[:1]),
        ValueError,
        "eigenvalues has 1",
    ),
    Bad("rotate_within_eigenspaces int pe", lambda: ge.rotate_within_eigenspaces(PE.long(), LAM), TypeError, "pe"),
    Bad("SignInvariantEncoder k", lambda: ge.SignInvariantEncoder(0, 4), ValueError, "k=0"),
    Bad("SignInvariantEncoder columns", lambda: ge.SignInvariantEncoder(3, 4)(r(6, 2)), ValueError, "k=3"),
    Bad(
        "sign_flip_sensitivity n_flips",
        lambda: ge.sign_flip_sensitivity(torch.tanh, PE, n_flips=0),
        ValueError,
        "n_flips=0",
    ),
]

HANDLED = [
    Handled("wl_colours no rounds", lambda: len(ge.wl_colours(C6, 6, iterations=0)), _check(lambda n: n == 1, "1")),
    Handled(
        "wl_distinguishes sizes differ",
        lambda: ge.wl_distinguishes((C6, 6), (cycle_graph(5), 5)),
        _check(lambda b: b is True, "True"),
    ),
    Handled(
        "random_walk_se isolated node",
        lambda: ge.random_walk_se(path_graph(1), 1, 3),
        _check(lambda t: t.abs().sum() == 0, "zeros"),
    ),
    Handled(
        "laplacian isolated node",
        lambda: ge.laplacian(path_graph(1), 1),
        _check(lambda t: t.tolist() == [[1.0]], "[[1]]"),
    ),
    Handled(
        "sign_flip_sensitivity of abs", lambda: ge.sign_flip_sensitivity(torch.abs, PE), _check(lambda s: s == 0.0, "0")
    ),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
