"""The fuzzy-logic task against plain-Python Zadeh operators and set arithmetic on its splits."""

from __future__ import annotations

import pytest
import torch

from minitorch_xf.tasks.fuzzy_logic import FuzzyLogicTask, r_squared, zadeh_dnf

pytestmark = pytest.mark.ch11


def _python_dnf(signs, x):
    """max over conjunctions of min over variables of x_i or 1 - x_i, one float at a time."""
    return max(min(xi if s else 1.0 - xi for s, xi in zip(conj, x, strict=True)) for conj in signs)


def test_zadeh_dnf_matches_python_min_max():
    g = torch.Generator().manual_seed(0)
    signs = torch.randint(0, 2, (5, 3, 4), generator=g)
    x = torch.rand(5, 7, 4, generator=g, dtype=torch.float64)
    got = zadeh_dnf(signs, x)
    expected = torch.tensor(
        [[_python_dnf(signs[b].tolist(), x[b, p].tolist()) for p in range(7)] for b in range(5)], dtype=torch.float64
    )
    torch.testing.assert_close(got, expected, atol=0, rtol=0)


def test_splits_are_the_papers_compositional_split():
    task = FuzzyLogicTask(n_vars=4, n_terms=2, frac_test=0.5, frac_ood=0.25, seed=3)
    train = {tuple(t) for t in task.terms["train"].tolist()}
    test = {tuple(t) for t in task.terms["test"].tolist()}
    ood = {tuple(t) for t in task.terms["ood"].tolist()}
    assert len(train) + len(test) == 66 and len(test) == 33  # C(12, 2) terms of the 12 in-distribution conjunctions
    assert not train & test and not (train | test) & ood
    assert set(sum(test, ())) <= set(sum(train, ()))  # every held-out conjunction was seen in some training term
    assert set(sum(ood, ())) == {12, 13, 14, 15}  # the last quarter of the 16 conjunctions
    assert all(len(set(t)) == 2 for t in train | test | ood)  # distinct conjunctions in a term


def test_sample_labels_every_point_and_hides_the_last():
    task = FuzzyLogicTask(n_vars=3, n_terms=2, n_points=9, seed=1)
    tokens, target, ids = task.sample(6, "test", torch.Generator().manual_seed(2))
    assert tokens.shape == (6, 9, 4) and target.shape == (6,)
    for b in range(6):
        signs = task.signs("test", ids[b : b + 1])[0].tolist()
        for p in range(8):
            assert tokens[b, p, -1].item() == pytest.approx(_python_dnf(signs, tokens[b, p, :3].tolist()))
        assert tokens[b, -1, -1].item() == 0.0
        assert target[b].item() == pytest.approx(_python_dnf(signs, tokens[b, -1, :3].tolist()))


def test_same_generator_seed_same_data():
    task = FuzzyLogicTask(seed=0)
    a = task.sample(4, generator=torch.Generator().manual_seed(9))
    b = task.sample(4, generator=torch.Generator().manual_seed(9))
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


def test_r_squared_is_one_for_exact_and_zero_for_the_context_mean():
    task = FuzzyLogicTask(seed=0)
    tokens, target, _ = task.sample(50, generator=torch.Generator().manual_seed(1))
    assert r_squared(target, target, tokens) == pytest.approx(1.0)
    assert r_squared(tokens[:, :-1, -1].mean(-1), target, tokens) == pytest.approx(0.0, abs=1e-6)
