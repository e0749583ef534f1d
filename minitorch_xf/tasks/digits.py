"""scikit-learn's 8x8 handwritten digits (1,797 images, shipped with the package: no download) as token sequences.

Each image becomes n = 8 tokens (its rows) of f = 8 features (pixels scaled to [0, 1]).
"""

from __future__ import annotations

import torch

from .._validate import check_generator, check_number

__all__ = ["digits_rows"]


def digits_rows(generator: torch.Generator, test_fraction: float = 0.25):
    """A random split ``(x_train, y_train, x_test, y_test)``: x (N, 8, 8) float32 in [0, 1], y (N,) int64 in 0..9."""
    check_generator("generator", generator)
    check_number("test_fraction", test_fraction, low=0, high=1, low_open=True, high_open=True)
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("digits_rows needs scikit-learn: pip install 'minitorch_xf[data]'") from err
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32) / 16.0  # (N, 8, 8): rows are tokens
    y = torch.tensor(data.target, dtype=torch.int64)  # (N,)
    perm = torch.randperm(len(y), generator=generator)
    n_test = round(test_fraction * len(y))
    test, train = perm[:n_test], perm[n_test:]
    return x[train], y[train], x[test], y[test]
