"""``minitorch_xf.report`` called as a careless user would: every public callable refuses a bad argument up front,
naming it; numpy numbers pass where an int or a float is meant (formatted as the Python number would be)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bad_calls import Bad, Handled, walker_tests

from minitorch_xf import runtime
from minitorch_xf.report import Checks, PaperTable, device_name, kernel_seconds

NOTEBOOK = "notebooks/ch02-ode-macaron.ipynb"
RT = runtime.Runtime(device=torch.device("cpu"), profile="ci", seed=0)


def table():
    return PaperTable(NOTEBOOK, RT, source="Lu et al. (2019)")


BAD = [
    Bad("device_name str unknown", lambda: device_name("gpu0"), ValueError, r"device='gpu0' is not a device name"),
    Bad("device_name int", lambda: device_name(3.5), TypeError, r"device must be a torch.device or its name"),
    Bad("device_name None", lambda: device_name(None), TypeError, r"device must be a torch.device"),
    Bad("kernel_seconds argument", lambda: kernel_seconds("cpu"), TypeError, r"positional argument"),
    Bad("PaperTable notebook", lambda: PaperTable("ch02.py", RT, "x"), ValueError, r"notebook='ch02.py'"),
    Bad("PaperTable rt", lambda: PaperTable(NOTEBOOK, None, "x"), TypeError, r"rt must be the Runtime"),
    Bad("PaperTable source", lambda: PaperTable(NOTEBOOK, RT, None), ValueError, r"source=None"),
    Bad("PaperTable chapter float", lambda: PaperTable(NOTEBOOK, RT, "x", chapter=2.0), ValueError, r"chapter=2.0"),
    Bad("PaperTable chapter bool", lambda: PaperTable(NOTEBOOK, RT, "x", chapter=True), ValueError, r"chapter=True"),
    Bad("PaperTable.add status", lambda: table().add("c", "1", "2", status="ok"), ValueError, r"status='ok'"),
    Bad(
        "PaperTable.add cell tensor",
        lambda: table().add("c", torch.tensor(1.0), "2", status="reported"),
        TypeError,
        r"paper=",
    ),
    Bad("PaperTable.add cell None", lambda: table().add("c", "1", None, status="reported"), TypeError, r"ours=None"),
    Bad(
        "PaperTable.add numpy bool",
        lambda: table().add("c", np.bool_(True), "2", status="reported"),
        TypeError,
        "paper",
    ),
    Bad("PaperTable.add claim", lambda: table().add(3, "1", "2", status="reported"), ValueError, r"claim=3"),
    Bad(
        "PaperTable.add paper_checked",
        lambda: table().add("c", "1", "2", status="reported", paper_checked=1),
        TypeError,
        r"paper_checked=1",
    ),
    Bad("PaperTable.markdown empty", lambda: table().markdown(), ValueError, r"the table has no rows"),
    Bad("PaperTable.record empty", lambda: table().record(), ValueError, r"the table has no rows"),
    Bad("Checks notebook", lambda: Checks("/abs/ch01-x.ipynb", RT), ValueError, r"must be relative"),
    Bad("Checks rt", lambda: Checks(NOTEBOOK, "ci"), TypeError, r"rt must be the Runtime"),
    Bad("Checks.checked label", lambda: Checks(NOTEBOOK, RT).checked("Thm 1", "x"), ValueError, r"label='Thm 1'"),
    Bad("Checks.checked figure", lambda: Checks(NOTEBOOK, RT).checked("thm-a", None), TypeError, r"figure=None"),
]


def _row(expected):
    def check(t):
        assert t.rows[-1]["paper"] == expected[0] and t.rows[-1]["ours"] == expected[1], t.rows[-1]

    return check


HANDLED = [
    # numpy numbers are numbers: formatted as the Python int / float would be (ints in full, floats to 4 digits)
    Handled(
        "PaperTable.add numpy numbers",
        lambda: table().add("c", np.int64(65_000_000), np.float32(0.5), status="reported"),
        _row(("65000000", "0.5")),
    ),
    Handled(
        "PaperTable numpy chapter",
        lambda: PaperTable(NOTEBOOK, RT, "x", chapter=np.int64(7)).chapter,
        lambda c: (c == 7 and type(c) is int) or pytest.fail(repr(c)),
    ),
    Handled(
        "device_name str",
        lambda: device_name("cpu"),
        lambda name: (name == device_name(torch.device("cpu")) and name) or pytest.fail(repr(name)),
    ),
    Handled(
        "kernel_seconds",
        kernel_seconds,
        lambda t: (set(t) == {"cpu_s", "wall_s"} and min(t.values()) >= 0) or pytest.fail(repr(t)),
    ),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
