"""The probe and the code features against cases with known answers."""

from __future__ import annotations

import pytest
import torch

from minitorch_xf.theory.hypernetwork import linear_probe, query_code_features

pytestmark = pytest.mark.ch11


def test_probe_decodes_separable_classes_and_not_shuffled_ones():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (400,), generator=g)
    centers = torch.randn(4, 6, generator=g) * 4
    feats = centers[labels] + torch.randn(400, 6, generator=g)
    assert linear_probe(feats, labels, torch.Generator().manual_seed(1)) > 0.95
    shuffled = labels[torch.randperm(400, generator=g)]
    assert linear_probe(feats, shuffled, torch.Generator().manual_seed(1)) < 0.45  # chance is 0.25


def test_query_code_features_are_mean_and_std_over_other_keys():
    codes = [torch.randn(3, 5, 5, 2, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    f = query_code_features(codes)
    assert f.shape == (3, 8)
    z = codes[1][0, -1, :4, 1]  # layer 2, head 2, keys 0..3 of the last query
    assert f[0, 3].item() == pytest.approx(z.mean().item(), abs=1e-6)
    assert f[0, 7].item() == pytest.approx(z.std().item(), abs=1e-6)
