"""Run-time choices every experiment reads: the device, the seed and the run profile.

The run profile is the one switch that scales every experiment in the book:

* ``ci``   -- small settings that keep each notebook under its CPU budget (the default, on any device);
* ``long`` -- in between: big enough to show the paper's effect on a laptop CPU (at most 30 minutes of CPU time
  per notebook, several seeds); a setting a notebook does not raise for ``long`` stays at its ``ci`` value;
* ``full`` -- the paper-sized settings, for a GPU (only when asked for: a GPU alone does not choose it).

Set ``XF_PROFILE=ci|long|full`` to override, ``XF_DEVICE=cpu|cuda|mps`` to force a device, ``XF_THREADS=n``
for the number of CPU threads (1 under ``ci``) and ``XF_SEED=n`` for the seed (default 0): a notebook derives every
seed it uses (task generators, model initialisation, evaluation sets) from ``rt.seed``, so one variable moves them
all. ``XF_RECORD_DIR`` names the folder where a run writes its records (``minitorch_xf.report`` writes the
paper-vs-book rows there); unset, nothing is written. ``XF_SMOKE=1`` is for the test suite: every step count a
notebook reads through ``rt.steps`` is cut to ``SMOKE_STEPS``, every evaluation-set size it reads through
``rt.evals`` to ``SMOKE_EVALS`` and every training batch size it reads through ``rt.batch`` to ``SMOKE_BATCH``, so
the ``full`` widths, depths and sequence lengths run for a step or two on a CPU (a broken ``full`` configuration then
fails CI, not a reader with a GPU).
This module holds the only global state of the package: nothing else reads the environment.
"""

from __future__ import annotations

import numbers
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

PROFILES = ("ci", "long", "full")
# The CPU time a notebook may take under ``long`` (the test harness enforces it, as it enforces each notebook's own
# ``ci`` budget under ``ci``); ``full`` has no budget.
LONG_BUDGET_S = 1800
SMOKE_STEPS = 2  # the step counts of a smoke run (XF_SMOKE=1): enough to run a forward, a backward and an update
SMOKE_EVALS = 8  # the evaluation-set sizes of a smoke run (``Runtime.evals``): a batch, not a statistic
# The training batch sizes of a smoke run (``Runtime.batch``): a smoke run only needs the code path and the shapes other
# than the batch dimension, and a full-sized batch made one step of a full model take seconds on a CPU.
SMOKE_BATCH = 8
DEVICES = ("cpu", "cuda", "mps")
MAX_THREADS = 1024  # torch.set_num_threads takes a C int; far more threads than cores only slows a run down
SEED_LIMIT = 2**64  # torch.manual_seed takes seeds in [0, 2**64): unsigned 64-bit
# What setup prints before a larger run starts: the notebook's header gives its expected time in each profile.
PROFILE_NOTES = {
    "long": "profile long: the paper's effect on a laptop CPU, up to 30 minutes of CPU time (the header above gives "
    "this notebook's measured time); XF_PROFILE=ci runs it in about a minute.",
    "full": "profile full: the paper-sized run, for a GPU; it can take hours (the header above gives this notebook's "
    "expected time); XF_PROFILE=ci runs it in about a minute of CPU.",
}
T = TypeVar("T")
# When this module was first imported (a notebook's setup cell): the start of a notebook's recorded wall time.
STARTED = time.monotonic()

__all__ = [
    "LONG_BUDGET_S",
    "PROFILES",
    "SEED_LIMIT",
    "SMOKE_BATCH",
    "SMOKE_EVALS",
    "SMOKE_STEPS",
    "Runtime",
    "choose_device",
    "cpu_threads",
    "get_profile",
    "pick",
    "quiet",
    "record_dir",
    "seed_everything",
    "seed_from_env",
    "setup",
    "smoke",
]


def choose_device(device: str | torch.device | None = None) -> torch.device:
    """Pick the device: the argument, else ``$XF_DEVICE``, else cuda > mps > cpu."""
    name = device if device is not None else os.environ.get("XF_DEVICE")
    if name is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as err:  # torch rejects unknown names with a RuntimeError
        source = "device" if device is not None else "XF_DEVICE"
        raise ValueError(f"{source}={name!r} is not one of {DEVICES}") from err
    if dev.type not in DEVICES:
        raise ValueError(f"device={name!r} is not one of {DEVICES}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} was asked for, but CUDA is not available on this machine")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={name!r} was asked for, but MPS is not available on this machine")
    return dev


def get_profile(profile: str | None = None) -> str:
    """The run profile: the argument, else ``$XF_PROFILE``, else ``ci``, on any device.

    A GPU does not switch a notebook to ``full`` by itself (a Colab GPU runtime would silently start a run of
    hours): the larger profiles are asked for, ``XF_PROFILE=long`` or ``XF_PROFILE=full``.
    """
    name = profile if profile is not None else os.environ.get("XF_PROFILE")
    if name is None:
        return "ci"
    if name not in PROFILES:
        raise ValueError(f"profile={name!r} is not one of {PROFILES} (set XF_PROFILE=ci, long or full)")
    return name


def pick(ci: T, full: T, profile: str | None = None, *, long: T | None = None) -> T:
    """The setting of the run profile: ``n_steps = pick(ci=500, long=5_000, full=20_000)``.

    Under ``long`` it is ``long`` when given, else ``ci``: a notebook raises for ``long`` only the settings its
    effect needs, and every other one keeps the cheap ``ci`` value (``long`` runs on a laptop CPU).
    """
    name = get_profile(profile)
    if name == "long":
        return ci if long is None else long
    return ci if name == "ci" else full


def smoke() -> bool:
    """True with ``$XF_SMOKE=1``: a smoke run, whose step counts (``Runtime.steps``), evaluation-set sizes
    (``Runtime.evals``) and training batch sizes (``Runtime.batch``) are cut to ``SMOKE_STEPS``, ``SMOKE_EVALS`` and
    ``SMOKE_BATCH``."""
    value = os.environ.get("XF_SMOKE", "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"XF_SMOKE={value!r} must be 0 or 1")
    return value == "1"


def quiet() -> bool:
    """True under CI (``$CI`` set) or with ``$XF_QUIET=1``: progress bars stay silent (``XF_QUIET`` is 0 or 1)."""
    value = os.environ.get("XF_QUIET", "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"XF_QUIET={value!r} must be 0 or 1")
    return os.environ.get("CI", "").lower() in ("1", "true", "yes") or value == "1"


def record_dir() -> Path | None:
    """The folder where this run writes its records: ``$XF_RECORD_DIR``, or None when it is unset or empty.

    ``pytest`` (conftest.py) and ``make book`` point it at ``_build/records``; ``make reproduce`` at
    ``results/<profile>-<device>``. A notebook opened by hand (JupyterLab, Colab) writes nothing.
    """
    value = os.environ.get("XF_RECORD_DIR", "").strip()
    if not value:
        return None
    folder = Path(value).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"XF_RECORD_DIR={value!r} is a file, not a folder to write the records in")
    return folder


def _non_negative_int(name: str, value) -> int:
    """``value`` is a non-negative int (not a bool; numpy ints accepted); ValueError naming ``name`` otherwise."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name}={value!r} must be a non-negative int")
    return int(value)


def _seed(name: str, value) -> int:
    """A seed torch accepts: a non-negative int below ``SEED_LIMIT`` (2**64)."""
    value = _non_negative_int(name, value)
    if value >= SEED_LIMIT:
        raise ValueError(f"{name}={value!r} is too large: torch's seeds are unsigned 64-bit ints, in [0, 2**64)")
    return value


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU ``torch.Generator`` seeded the same way.

    ``seed`` is an int in [0, 2**64) (what torch accepts; numpy ints too).
    """
    seed = _seed("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 -- seeds the legacy global RNG that user code may still call
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def seed_from_env(seed: int | None = None) -> int:
    """The run's seed: the argument, else ``$XF_SEED``, else 0; an int in [0, 2**64) either way."""
    if seed is not None:
        return _seed("seed", seed)
    value = os.environ.get("XF_SEED", "").strip()
    if not value:
        return 0
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"XF_SEED={value!r} must be a non-negative int") from None
    if n < 0:
        raise ValueError(f"XF_SEED={value!r} must be a non-negative int")
    if n >= SEED_LIMIT:
        raise ValueError(f"XF_SEED={value!r} is too large: torch's seeds are unsigned 64-bit ints, in [0, 2**64)")
    return n


@dataclass(frozen=True)
class Runtime:
    """What ``setup`` chose; notebooks pass ``rt.device`` and ``rt.profile`` on to the experiments."""

    device: torch.device
    profile: str
    seed: int

    def __post_init__(self):
        if not isinstance(self.device, torch.device):
            raise TypeError(
                f"device must be a torch.device (runtime.choose_device gives one), got {self.device!r} "
                f"({type(self.device).__name__})"
            )
        if not isinstance(self.profile, str) or self.profile not in PROFILES:
            raise ValueError(f"profile={self.profile!r} is not one of {PROFILES}")
        object.__setattr__(self, "seed", _seed("seed", self.seed))

    def pick(self, ci: T, full: T, *, long: T | None = None) -> T:
        return pick(ci, full, self.profile, long=long)

    def steps(self, ci: int, full: int, *, long: int | None = None) -> int:
        """A step (or epoch) count of the run profile, like ``pick``; cut to ``SMOKE_STEPS`` in a smoke run.

        Use it for every count that sets how long a notebook trains, and ``pick`` for sizes: the smoke test then runs
        the ``full`` sizes for a step or two.
        """
        return self._smoke_cut("steps", pick(ci, full, self.profile, long=long), SMOKE_STEPS)

    def evals(self, ci: int, full: int, *, long: int | None = None) -> int:
        """An evaluation-set size (test problems, graphs, draws) of the run profile, like ``pick``; cut to
        ``SMOKE_EVALS`` in a smoke run, where nothing is measured and only the code path must run."""
        return self._smoke_cut("evals", pick(ci, full, self.profile, long=long), SMOKE_EVALS)

    def batch(self, ci: int, full: int, *, long: int | None = None) -> int:
        """A training (mini)batch size of the run profile, like ``pick``; cut to ``SMOKE_BATCH`` in a smoke run.

        A smoke run only needs the code path and the shapes other than the batch dimension. Use it only for a batch
        whose size nothing else depends on (not a pool or an evaluation set sized from it, not a batch that must hold
        more than ``SMOKE_BATCH`` examples).
        """
        return self._smoke_cut("batch", pick(ci, full, self.profile, long=long), SMOKE_BATCH)

    def _smoke_cut(self, what: str, n: int, cap: int) -> int:
        """``n`` checked to be a positive int (``what`` names it in the error), cut to ``cap`` in a smoke run."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{what}: {n!r} (profile {self.profile}) must be a positive int")
        return min(n, cap) if smoke() else n

    def seeds(self, n: int) -> list[int]:
        """``n`` seeds for a claim checked over several runs: ``[1000 s, 1000 s + 1, ...]`` for the run's seed ``s``.

        Runs with different ``XF_SEED`` get disjoint sets (for ``n <= 1000``), so a second seed tests new runs.
        """
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or not 1 <= n <= 1000:
            raise ValueError(f"n={n!r} must be an int in [1, 1000]")
        if 1000 * self.seed + int(n) > SEED_LIMIT:
            raise ValueError(f"seeds({n}) with seed={self.seed} would pass torch's largest seed, 2**64 - 1")
        return [1000 * self.seed + i for i in range(int(n))]

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU ``torch.Generator`` seeded with ``rt.seed + offset``: a separate, reproducible stream per use."""
        offset = _non_negative_int("offset", offset)
        if self.seed + offset >= SEED_LIMIT:
            raise ValueError(f"offset={offset} with seed={self.seed} passes torch's largest seed, 2**64 - 1")
        return torch.Generator().manual_seed(self.seed + offset)

    def __str__(self) -> str:
        return f"device={self.device.type} profile={self.profile} seed={self.seed} torch={torch.__version__}"


def cpu_threads(profile: str, threads: int | None = None) -> int:
    """Intra-op CPU threads: the argument, else ``$XF_THREADS``, else 1 under ``ci``, all cores under ``long``/``full``.

    The ``ci`` models are tiny: a second thread buys little, and on a shared machine OpenMP threads that wait for
    each other made a notebook up to 10x slower. One thread keeps ``ci`` timings small and stable. ``profile`` is one
    of ``PROFILES``; ``threads`` an int in [1, ``MAX_THREADS``] (a float or a bool is refused, not rounded).
    """
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is not one of {PROFILES}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, numbers.Integral)):
        raise ValueError(f"threads={threads!r} must be a positive int")
    value = threads if threads is not None else os.environ.get("XF_THREADS")
    if value is None:
        return 1 if profile == "ci" else (os.cpu_count() or 1)
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"threads={value!r} must be a positive int (XF_THREADS)") from None
    if n < 1:
        raise ValueError(f"threads={value!r} must be a positive int (XF_THREADS)")
    if n > MAX_THREADS:
        raise ValueError(f"threads={value!r} is more than {MAX_THREADS} (this machine has {os.cpu_count()} cores)")
    return n


def setup(
    seed: int | None = None,
    device: str | None = None,
    profile: str | None = None,
    threads: int | None = None,
    verbose: bool = True,
) -> Runtime:
    """One call at the top of every notebook: choose device, profile, seed and CPU threads, seed everything, print.

    The seed is the argument, else ``$XF_SEED``, else 0. Safe to call again: it only re-seeds and re-reads the
    environment.
    """
    if not isinstance(verbose, bool):
        raise TypeError(f"verbose must be a bool (True or False), got {verbose!r} ({type(verbose).__name__})")
    rt = Runtime(device=choose_device(device), profile=get_profile(profile), seed=seed_from_env(seed))
    torch.set_num_threads(cpu_threads(rt.profile, threads))
    seed_everything(rt.seed)
    _use_book_figure_style()
    if verbose:
        print(f"minitorch_xf runtime: {rt} threads={torch.get_num_threads()}")
        if rt.profile != "ci":
            print(PROFILE_NOTES[rt.profile])
    return rt


def _use_book_figure_style() -> None:
    """Every notebook gets the book's figure style (2x PNGs whose alt text names the axes) from its setup cell."""
    try:
        from . import plot
    except ImportError:  # matplotlib missing: the experiments still run, without figures
        return
    plot.use_style()
