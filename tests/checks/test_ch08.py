"""Chapter 8's checks accept the package's answers and reject wrong ones, naming the case."""

from __future__ import annotations

import pytest
import torch

from minitorch_xf.checks import ch08
from minitorch_xf.checks._core import CheckFailed
from minitorch_xf.nn.higher_order import khatri_rao, tensor_attention
from minitorch_xf.tasks.match3 import match3_labels


def _no_max(q, k1, k2, v1, v2):
    a = torch.exp(torch.einsum("ic,jc,kc->ijk", q, k1, k2)).flatten(1)  # overflows on the large cases
    return (a @ khatri_rao(v1, v2)) / a.sum(-1, keepdim=True)


def _distinct(x, m):
    """A wrong reading of the definition: j and k must differ from i and from each other."""
    row, n = x.tolist(), len(x)
    return torch.tensor(
        [
            float(any((row[i] + row[j] + row[k]) % m == 0 for j in range(n) for k in range(n) if len({i, j, k}) == 3))
            for i in range(n)
        ]
    )


pytestmark = pytest.mark.ch08


@pytest.mark.parametrize(
    ("check", "right", "wrong"),
    [
        (
            ch08.check_khatri_rao,
            khatri_rao,
            lambda a, b: khatri_rao(b, a) if a.shape == b.shape else khatri_rao(a, b).flip(0),
        ),
        (ch08.check_tensor_attention, tensor_attention, _no_max),
        (ch08.check_match3_labels, match3_labels, _distinct),
    ],
    ids=["khatri_rao", "tensor_attention", "match3_labels"],
)
def test_check_accepts_the_reference_and_rejects_a_wrong_answer(check, right, wrong, capsys):
    check(right, seed=0)
    assert "all" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="case"):
        check(wrong, seed=0)


def test_stub_fails_with_not_implemented():
    def stub(*args):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented yet"):
        ch08.check_khatri_rao(stub, seed=1)
