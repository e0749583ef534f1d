"""In-context linear regression prompts (Garg et al., 2022): shapes, layout, statistics, least squares."""

import pytest
import torch

from minitorch_xf.tasks import LinearRegressionTask, interleave, least_squares_predictions

pytestmark = pytest.mark.ch04


def test_shapes_and_layout():
    task = LinearRegressionTask(d=4, n_points=6, seed=1)
    x, y, w = task.sample_xyw(3, torch.Generator().manual_seed(0))
    assert x.shape == (3, 6, 4) and y.shape == (3, 6) and w.shape == (3, 4)
    torch.testing.assert_close(y, torch.einsum("bnd,bd->bn", x, w))
    z = interleave(x, y)
    assert z.shape == (3, 12, 4)
    torch.testing.assert_close(z[:, 0::2], x)  # x_i at even positions
    torch.testing.assert_close(z[:, 1::2, 0], y)  # y_i in the first coordinate of odd positions
    torch.testing.assert_close(z[:, 1::2, 1:], torch.zeros(3, 6, 3))
    prompts, targets = task.sample(5)
    assert prompts.shape == (5, 12, 4) and targets.shape == (5, 6)


def test_statistics():
    task = LinearRegressionTask(d=3, n_points=8, seed=0)
    x, y, w = task.sample_xyw(4000)
    torch.testing.assert_close(x.mean(), torch.tensor(0.0), atol=0.02, rtol=0)
    torch.testing.assert_close(x.flatten(0, 1).T.cov(), torch.eye(3), atol=0.03, rtol=0)
    torch.testing.assert_close(w.T.cov(), torch.eye(3), atol=0.1, rtol=0)
    torch.testing.assert_close(y.var(), torch.tensor(3.0), atol=0.2, rtol=0)  # Var(w.x) = E|w|^2 = d


def test_seeded_and_noise():
    a = LinearRegressionTask(d=2, n_points=3, seed=7).sample(2)[0]
    b = LinearRegressionTask(d=2, n_points=3, seed=7).sample(2)[0]
    torch.testing.assert_close(a, b)
    x, y, w = LinearRegressionTask(d=2, n_points=500, noise_std=0.5, seed=0).sample_xyw(20)
    resid = y - torch.einsum("bnd,bd->bn", x, w)
    torch.testing.assert_close(resid.std(), torch.tensor(0.5), atol=0.03, rtol=0)


def test_least_squares_exact_after_d_points():
    task = LinearRegressionTask(d=3, n_points=8, seed=0)
    x, y, _ = task.sample_xyw(16)
    pred = least_squares_predictions(x.double(), y.double())
    torch.testing.assert_close(pred[:, 4:], y[:, 4:].double(), atol=1e-5, rtol=1e-5)  # i - 1 >= d examples
    torch.testing.assert_close(pred[:, 0], torch.zeros(16, dtype=torch.float64))


def test_bad_inputs():
    with pytest.raises(ValueError, match="d=0"):
        LinearRegressionTask(d=0)
    with pytest.raises(ValueError, match="n_points=-1"):
        LinearRegressionTask(n_points=-1)
    with pytest.raises(ValueError, match=r"noise_std=-0\.1"):
        LinearRegressionTask(noise_std=-0.1)
    with pytest.raises(ValueError, match="batch_size=0"):
        LinearRegressionTask().sample(0)
    with pytest.raises(ValueError, match="y has shape"):
        interleave(torch.randn(2, 3, 4), torch.randn(2, 4))
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor"):
        least_squares_predictions([1.0], torch.randn(1, 1))
