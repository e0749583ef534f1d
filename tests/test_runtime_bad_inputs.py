"""``minitorch_xf.runtime`` called as a careless user would: every public callable refuses a bad argument up front,
naming it (a seed torch cannot take, an unknown profile, a float thread count); numpy ints pass where an int is meant.
"""

from __future__ import annotations

import os
from unittest import mock

import numpy as np
import torch
from bad_calls import Bad, Handled, walker_tests

from minitorch_xf import runtime
from minitorch_xf.runtime import (
    Runtime,
    choose_device,
    cpu_threads,
    get_profile,
    pick,
    quiet,
    record_dir,
    seed_everything,
    seed_from_env,
    setup,
    smoke,
)

CPU = torch.device("cpu")


def env(call, **values):
    """Run ``call()`` with these environment variables set (and the old environment back afterwards)."""
    with mock.patch.dict(os.environ, values):
        return call()


def rt(seed=5):
    return Runtime(device=CPU, profile="ci", seed=seed)


BAD = [
    Bad("seed_everything 2**70", lambda: seed_everything(2**70), ValueError, r"seed=1180591620717411303424 is too"),
    Bad("seed_everything 2**64", lambda: seed_everything(2**64), ValueError, r"seed=18446744073709551616 is too"),
    Bad("seed_everything -1", lambda: seed_everything(-1), ValueError, r"seed=-1 must be a non-negative int"),
    Bad("seed_everything float", lambda: seed_everything(3.0), ValueError, r"seed=3.0 must be a non-negative int"),
    Bad("seed_everything bool", lambda: seed_everything(True), ValueError, r"seed=True"),
    Bad("seed_everything None", lambda: seed_everything(None), ValueError, r"seed=None"),
    Bad("seed_from_env 2**64", lambda: seed_from_env(2**64), ValueError, r"seed=18446744073709551616 is too large"),
    Bad("seed_from_env XF_SEED huge", lambda: env(seed_from_env, XF_SEED=str(2**70)), ValueError, r"XF_SEED='1180"),
    Bad("seed_from_env XF_SEED float", lambda: env(seed_from_env, XF_SEED="2.5"), ValueError, r"XF_SEED='2.5'"),
    Bad("setup seed 2**70", lambda: setup(seed=2**70, device="cpu", profile="ci", verbose=False), ValueError, "seed="),
    Bad("setup verbose str", lambda: setup(seed=0, device="cpu", profile="ci", verbose="no"), TypeError, r"verbose"),
    Bad("setup profile", lambda: setup(seed=0, device="cpu", profile="tiny", verbose=False), ValueError, "'tiny'"),
    Bad("setup threads float", lambda: setup(0, "cpu", "ci", threads=1.5, verbose=False), ValueError, r"threads=1.5"),
    Bad("cpu_threads bogus profile", lambda: cpu_threads("bogus"), ValueError, r"profile='bogus' is not one of"),
    Bad("cpu_threads profile None", lambda: cpu_threads(None), ValueError, r"profile=None is not one of"),
    Bad("cpu_threads float", lambda: cpu_threads("ci", threads=2.5), ValueError, r"threads=2.5 must be a positive"),
    Bad("cpu_threads bool", lambda: cpu_threads("ci", threads=True), ValueError, r"threads=True must be a positive"),
    Bad("cpu_threads 2**40", lambda: cpu_threads("ci", threads=2**40), ValueError, r"threads=1099511627776 is more"),
    Bad("cpu_threads zero", lambda: cpu_threads("ci", threads=0), ValueError, r"threads=0 must be a positive int"),
    Bad("cpu_threads XF_THREADS", lambda: env(lambda: cpu_threads("ci"), XF_THREADS="1.5"), ValueError, "'1.5'"),
    Bad("choose_device unknown", lambda: choose_device("tpu"), ValueError, r"device='tpu' is not one of"),
    Bad("choose_device meta", lambda: choose_device("meta"), ValueError, r"device='meta' is not one of"),
    Bad("choose_device XF_DEVICE", lambda: env(choose_device, XF_DEVICE="gpu"), ValueError, r"XF_DEVICE='gpu'"),
    Bad("get_profile unknown", lambda: get_profile("huge"), ValueError, r"profile='huge' is not one of"),
    Bad("get_profile XF_PROFILE", lambda: env(get_profile, XF_PROFILE="fast"), ValueError, r"profile='fast'"),
    Bad("pick unknown profile", lambda: pick(1, 2, profile="tiny"), ValueError, r"profile='tiny'"),
    Bad("smoke XF_SMOKE yes", lambda: env(smoke, XF_SMOKE="yes"), ValueError, r"XF_SMOKE='yes' must be 0 or 1"),
    Bad("smoke argument", lambda: smoke(True), TypeError, r"positional argument"),
    Bad("quiet XF_QUIET yes", lambda: env(quiet, XF_QUIET="yes"), ValueError, r"XF_QUIET='yes' must be 0 or 1"),
    Bad("record_dir a file", lambda: env(record_dir, XF_RECORD_DIR=__file__), NotADirectoryError, r"XF_RECORD_DIR="),
    Bad("Runtime device str", lambda: Runtime(device="cpu", profile="ci", seed=0), TypeError, r"device must be a"),
    Bad("Runtime profile", lambda: Runtime(device=CPU, profile="tiny", seed=0), ValueError, r"profile='tiny'"),
    Bad("Runtime seed -1", lambda: Runtime(device=CPU, profile="ci", seed=-1), ValueError, r"seed=-1"),
    Bad("Runtime seed 2**64", lambda: Runtime(device=CPU, profile="ci", seed=2**64), ValueError, r"too large"),
    Bad("Runtime.seeds 0", lambda: rt().seeds(0), ValueError, r"n=0 must be an int in \[1, 1000\]"),
    Bad("Runtime.seeds float", lambda: rt().seeds(2.0), ValueError, r"n=2.0"),
    Bad("Runtime.seeds overflow", lambda: rt(2**64 - 1).seeds(2), ValueError, r"largest seed"),
    Bad("Runtime.generator -1", lambda: rt().generator(-1), ValueError, r"offset=-1"),
    Bad("Runtime.generator overflow", lambda: rt(2**64 - 1).generator(1), ValueError, r"offset=1 with seed"),
    Bad("Runtime.steps zero", lambda: rt().steps(0, 10), ValueError, r"steps: 0"),
    Bad("Runtime.evals float", lambda: rt().evals(2.5, 10), ValueError, r"evals: 2.5"),
    Bad("Runtime.batch zero", lambda: rt().batch(0, 10), ValueError, r"batch: 0"),
    Bad("Runtime.batch float", lambda: rt().batch(2.5, 10), ValueError, r"batch: 2.5"),
    Bad("Runtime.pick profile kw", lambda: rt().pick(1, 2, profile="full"), TypeError, r"profile"),
]


def _same_draws(g):
    torch.testing.assert_close(torch.rand(3, generator=g), torch.rand(3, generator=torch.Generator().manual_seed(7)))


def _largest_seed(g):
    assert torch.initial_seed() == 2**64 - 1 and g.initial_seed() == 2**64 - 1


def _is(value):
    def check(out):
        assert out == value and type(out) is type(value), (out, value)

    return check


HANDLED = [
    # numpy ints are ints: seeds, thread counts, counts of seeds
    Handled("seed_everything numpy int", lambda: seed_everything(np.int64(7)), _same_draws),
    Handled("seed_everything largest seed", lambda: seed_everything(2**64 - 1), _largest_seed),
    Handled("seed_from_env numpy int", lambda: seed_from_env(np.int32(9)), _is(9)),
    Handled("cpu_threads numpy int", lambda: cpu_threads("ci", threads=np.int64(3)), _is(3)),
    Handled("Runtime seed numpy int", lambda: Runtime(device=CPU, profile="ci", seed=np.uint64(4)).seed, _is(4)),
    Handled("Runtime.seeds numpy int", lambda: rt(2).seeds(np.int64(2)), _is([2000, 2001])),
    Handled(
        "Runtime.generator numpy offset",
        lambda: rt(5).generator(np.int16(2)),
        lambda g: _same_draws(g),
    ),
    Handled("get_profile explicit", lambda: get_profile("long"), _is("long")),
    Handled("pick long falls back to ci", lambda: pick(1, 3, profile="long"), _is(1)),
    Handled("smoke unset", lambda: env(smoke, XF_SMOKE=""), _is(False)),
    Handled("quiet XF_QUIET", lambda: env(quiet, XF_QUIET="1", CI=""), _is(True)),
    Handled("record_dir empty", lambda: env(record_dir, XF_RECORD_DIR="  "), _is(None)),
    Handled("choose_device cpu", lambda: choose_device(torch.device("cpu")), _is(CPU)),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)


def test_setup_leaves_a_torch_seed_torch_can_take():
    """The largest seed setup accepts seeds torch (an independent check: torch's own initial_seed)."""
    state = torch.get_rng_state()
    try:
        r = setup(seed=2**64 - 1, device="cpu", profile="ci", verbose=False)
        assert r.seed == 2**64 - 1 == torch.initial_seed()
    finally:
        torch.set_rng_state(state)
        torch.set_num_threads(runtime.cpu_threads("ci"))
