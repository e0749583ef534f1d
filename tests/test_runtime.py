"""runtime: device and profile choice, pick, seeding, quiet mode, and the errors for bad settings."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from minitorch_xf import runtime


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("XF_PROFILE", "XF_DEVICE", "CI", "XF_QUIET"):
        monkeypatch.delenv(name, raising=False)


def expected_default_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def test_choose_device_default_order():
    assert runtime.choose_device().type == expected_default_device()


def test_choose_device_without_accelerators_is_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert runtime.choose_device() == torch.device("cpu")


def test_choose_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.choose_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.choose_device().type == "mps"


def test_choose_device_override(monkeypatch):
    monkeypatch.setenv("XF_DEVICE", "cpu")
    assert runtime.choose_device() == torch.device("cpu")
    assert runtime.choose_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("bad", ["tpu", "meta", "npu"])
def test_bad_device_names(monkeypatch, bad):
    with pytest.raises(ValueError, match=f"'{bad}'"):
        runtime.choose_device(bad)
    monkeypatch.setenv("XF_DEVICE", bad)
    with pytest.raises(ValueError, match=f"'{bad}'"):
        runtime.choose_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_asked_for_without_cuda():
    with pytest.raises(ValueError, match=r"'cuda'.*not available"):
        runtime.choose_device("cuda")


def test_get_profile_default_and_override(monkeypatch):
    assert runtime.get_profile() == "ci"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.get_profile() == "ci"  # a GPU alone (Colab) does not start the hours-long full profile
    assert runtime.get_profile() == "ci"
    monkeypatch.setenv("XF_PROFILE", "full")
    assert runtime.get_profile() == "full"
    assert runtime.get_profile("ci") == "ci"  # the argument beats the environment


def test_bad_profile(monkeypatch):
    monkeypatch.setenv("XF_PROFILE", "huge")
    with pytest.raises(ValueError, match="'huge'"):
        runtime.get_profile()
    with pytest.raises(ValueError, match="'tiny'"):
        runtime.pick(1, 2, profile="tiny")


def test_pick(monkeypatch):
    assert runtime.pick(ci=1, full=2, profile="ci") == 1
    assert runtime.pick(ci=1, full=2, profile="full") == 2
    monkeypatch.setenv("XF_PROFILE", "full")
    assert runtime.pick(ci="small", full="big") == "big"
    rt = runtime.setup(seed=3, profile="ci", verbose=False)
    assert rt.pick(ci=10, full=20) == 10
    assert rt.seed == 3 and "profile=ci" in str(rt)


def test_pick_long_raises_only_what_it_names(monkeypatch):
    """``long`` takes the ``long=`` value where a notebook gives one and the cheap ``ci`` value everywhere else."""
    assert runtime.pick(ci=1, full=3, profile="long", long=2) == 2
    assert runtime.pick(ci=1, full=3, profile="long") == 1
    assert runtime.pick(ci=1, full=3, profile="ci", long=2) == 1
    assert runtime.pick(ci=1, full=3, profile="full", long=2) == 3
    monkeypatch.setenv("XF_PROFILE", "long")
    rt = runtime.setup(seed=0, device="cpu", verbose=False)
    assert rt.profile == "long" and rt.pick(ci=10, full=30, long=20) == 20 and rt.pick(ci=10, full=30) == 10
    assert runtime.cpu_threads("long", None) == (os.cpu_count() or 1)


def test_seed_everything_repeats():
    def draw():
        g = runtime.seed_everything(7)
        return random.random(), np.random.rand(), torch.rand(3), torch.rand(2, generator=g)  # noqa: NPY002 (the global RNG is what is seeded)

    a, b = draw(), draw()
    assert a[0] == pytest.approx(b[0])
    assert a[1] == pytest.approx(b[1])
    torch.testing.assert_close(a[2], b[2])
    torch.testing.assert_close(a[3], b[3])
    runtime.seed_everything(8)
    assert not torch.equal(torch.rand(3), a[2])


@pytest.mark.parametrize("bad", [-1, 1.5, True, "0"])
def test_bad_seed(bad):
    with pytest.raises(ValueError, match=f"seed={bad!r}"):
        runtime.seed_everything(bad)


def test_quiet(monkeypatch):
    assert not runtime.quiet()
    monkeypatch.setenv("CI", "true")
    assert runtime.quiet()
    monkeypatch.setenv("CI", "")
    monkeypatch.setenv("XF_QUIET", "1")
    assert runtime.quiet()


def test_setup_prints_the_choice(capsys):
    runtime.setup(seed=0, device="cpu", profile="ci")
    assert "device=cpu profile=ci seed=0" in capsys.readouterr().out


def test_cpu_threads_default_and_override(monkeypatch):
    from minitorch_xf.runtime import cpu_threads

    monkeypatch.delenv("XF_THREADS", raising=False)
    assert cpu_threads("ci") == 1
    assert cpu_threads("full") >= 1
    assert cpu_threads("ci", threads=3) == 3
    monkeypatch.setenv("XF_THREADS", "2")
    assert cpu_threads("ci") == 2
    for bad in ("0", "two"):
        monkeypatch.setenv("XF_THREADS", bad)
        with pytest.raises(ValueError, match=f"threads='{bad}'"):
            cpu_threads("ci")


def test_record_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("XF_RECORD_DIR", raising=False)
    assert runtime.record_dir() is None
    monkeypatch.setenv("XF_RECORD_DIR", "  ")
    assert runtime.record_dir() is None
    monkeypatch.setenv("XF_RECORD_DIR", str(tmp_path / "records"))
    assert runtime.record_dir() == tmp_path / "records"
    assert not (tmp_path / "records").exists()  # reading the setting creates nothing


def test_seed_from_xf_seed(monkeypatch):
    monkeypatch.delenv("XF_SEED", raising=False)
    assert runtime.setup(device="cpu", profile="ci", verbose=False).seed == 0
    monkeypatch.setenv("XF_SEED", "17")
    rt = runtime.setup(device="cpu", profile="ci", verbose=False)
    assert rt.seed == 17
    # setup seeds torch's global generator with the env seed: the same draw as seeding by hand
    first = torch.rand(3)
    torch.manual_seed(17)
    torch.testing.assert_close(first, torch.rand(3))
    assert runtime.setup(seed=4, device="cpu", profile="ci", verbose=False).seed == 4  # the argument wins
    monkeypatch.setenv("XF_SEED", " ")
    assert runtime.seed_from_env() == 0


@pytest.mark.parametrize("bad", ["-1", "1.5", "seven", "0x10"])
def test_bad_xf_seed(monkeypatch, bad):
    monkeypatch.setenv("XF_SEED", bad)
    with pytest.raises(ValueError, match=f"XF_SEED={bad!r}"):
        runtime.setup(device="cpu", profile="ci", verbose=False)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_bad_seed_argument_to_setup(bad):
    with pytest.raises(ValueError, match=f"seed={bad!r}"):
        runtime.setup(seed=bad, device="cpu", profile="ci", verbose=False)


def test_derived_seeds_and_generators():
    rt = runtime.setup(seed=5, device="cpu", profile="ci", verbose=False)
    assert rt.seeds(3) == [5000, 5001, 5002]
    assert set(runtime.setup(seed=6, device="cpu", profile="ci", verbose=False).seeds(999)).isdisjoint(rt.seeds(999))
    torch.testing.assert_close(
        torch.rand(4, generator=rt.generator(10)), torch.rand(4, generator=torch.Generator().manual_seed(15))
    )
    assert not torch.equal(torch.rand(4, generator=rt.generator(0)), torch.rand(4, generator=rt.generator(1)))
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match="n="):
            rt.seeds(bad)
    with pytest.raises(ValueError, match="offset="):
        rt.generator(-1)


def test_steps_follow_the_profile_and_a_smoke_run_cuts_them(monkeypatch):
    monkeypatch.delenv("XF_SMOKE", raising=False)
    for profile, expected in (("ci", 400), ("long", 3000), ("full", 20_000)):
        rt = runtime.Runtime(torch.device("cpu"), profile, 0)
        assert rt.steps(ci=400, full=20_000, long=3000) == expected
    monkeypatch.setenv("XF_SMOKE", "1")
    assert runtime.smoke()
    rt = runtime.Runtime(torch.device("cpu"), "full", 0)
    assert rt.steps(ci=400, full=20_000) == runtime.SMOKE_STEPS
    assert rt.steps(ci=1, full=1) == 1  # a count below the cut stays
    assert rt.pick(ci=48, full=256) == 256  # sizes are not cut
    assert rt.evals(ci=300, full=1000) == runtime.SMOKE_EVALS and rt.evals(ci=3, full=3) == 3
    assert rt.batch(ci=32, full=256) == runtime.SMOKE_BATCH and rt.batch(ci=4, full=4) == 4
    monkeypatch.setenv("XF_SMOKE", "0")
    assert rt.steps(ci=400, full=20_000) == 20_000
    assert rt.batch(ci=32, full=256) == 256


def test_batch_follows_the_profile_and_a_smoke_run_cuts_it_never_raises_it(monkeypatch):
    monkeypatch.delenv("XF_SMOKE", raising=False)
    for profile, expected in (("ci", 32), ("long", 64), ("full", 256)):
        rt = runtime.Runtime(torch.device("cpu"), profile, 0)
        assert rt.batch(ci=32, full=256, long=64) == expected == rt.pick(ci=32, full=256, long=64)
        assert rt.batch(ci=32, full=256) == rt.pick(ci=32, full=256)  # long falls back to ci, as in pick
    monkeypatch.setenv("XF_SMOKE", "1")
    for profile in runtime.PROFILES:
        rt = runtime.Runtime(torch.device("cpu"), profile, 0)
        for ci, full, long in ((32, 256, 64), (3, 5, 4), (1, 8, 9), (500, 2, None)):
            picked = rt.pick(ci=ci, full=full, long=long)
            cut = rt.batch(ci=ci, full=full, long=long)
            assert cut == min(picked, runtime.SMOKE_BATCH) and 1 <= cut <= picked


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_bad_step_counts(bad):
    rt = runtime.Runtime(torch.device("cpu"), "ci", 0)
    with pytest.raises(ValueError, match="must be a positive int"):
        rt.steps(ci=bad, full=10)
    with pytest.raises(ValueError, match=r"evals: .* must be a positive int"):
        rt.evals(ci=bad, full=10)
    with pytest.raises(ValueError, match=r"batch: .* must be a positive int"):
        rt.batch(ci=bad, full=10)


def test_bad_xf_smoke(monkeypatch):
    monkeypatch.setenv("XF_SMOKE", "yes")
    with pytest.raises(ValueError, match="XF_SMOKE='yes' must be 0 or 1"):
        runtime.smoke()
