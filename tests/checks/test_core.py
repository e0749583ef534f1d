"""The exercise-check machinery: clear failures for stubs, shape and value mismatches, and the pass report."""

from __future__ import annotations

import pytest
import torch

from minitorch_xf.checks._core import Checker, CheckFailed, case_seed


def stub(x):
    raise NotImplementedError()


def test_call_turns_not_implemented_into_check_failed():
    c = Checker("demo", seed=0)
    with pytest.raises(CheckFailed, match="stub is not implemented yet"):
        c.call(stub, 1)


def test_call_reports_crashes_and_non_callables():
    c = Checker("demo", seed=0)
    with pytest.raises(CheckFailed, match="raised ZeroDivisionError"):
        c.call(lambda: 1 / 0)
    with pytest.raises(CheckFailed, match="expected a function, got int"):
        c.call(3)
    assert c.call(lambda a, b=0: a + b, 1, b=2) == 3


def test_close_reports_shape_mismatch():
    c = Checker("demo", seed=0)
    with pytest.raises(CheckFailed, match=r"expected shape \(2, 3\), received shape \(3, 2\)"):
        c.close("shapes", torch.zeros(2, 3), torch.zeros(3, 2))


def test_close_reports_value_mismatch_with_max_diff():
    c = Checker("demo", seed=5)
    expected = torch.zeros(4)
    received = torch.tensor([0.0, 0.5, 0.0, 0.0])
    with pytest.raises(CheckFailed, match=r"(?s)max \|diff\| = 0\.5.*replay with seed=5") as err:
        c.close("values", expected, received)
    assert "first bad entry at index (1,)" in str(err.value)


def test_close_reports_nan_and_non_tensor():
    c = Checker("demo", seed=0)
    with pytest.raises(CheckFailed, match="NaN"):
        c.close("nan", torch.zeros(2), torch.tensor([0.0, float("nan")]))
    with pytest.raises(CheckFailed, match="expected a tensor, received list"):
        c.close("list", torch.zeros(2), [0.0, 0.0])


def test_done_prints_passed_cases(capsys):
    c = Checker("demo", seed=0)
    c.close("first case", torch.ones(3), torch.ones(3) + 1e-7)
    c.true("a property", True, "never shown")
    with pytest.raises(CheckFailed, match="case 'bad property': rows do not sum to one"):
        c.true("bad property", False, "rows do not sum to one")
    c.done()
    out = capsys.readouterr().out
    assert "demo: all 2 cases passed" in out
    assert "passed: first case" in out and "passed: a property" in out


def test_seeds():
    assert case_seed(7) == 7
    assert 0 <= case_seed(None) < 2**32
    a = Checker("x", seed=1).generator
    b = Checker("y", seed=1).generator
    torch.testing.assert_close(torch.rand(3, generator=a), torch.rand(3, generator=b))
