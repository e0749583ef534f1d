r"""In-context linear regression (Garg et al., 2022): the model reads a prompt of examples and predicts $y$.

A prompt with ``n_points`` examples is the sequence of vectors
$$ x_1, \tilde y_1, x_2, \tilde y_2, \dots, x_n, \tilde y_n, \qquad \tilde y_i = (y_i, 0, \dots, 0) \in \mathbb R^d, $$
with $x_i \sim \mathcal N(0, I_d)$, one task vector $w \sim \mathcal N(0, I_d)$ per prompt and $y_i = w^\top x_i$
(plus optional Gaussian noise). A causal model predicts $y_i$ at the position of $x_i$, i.e. from the $i-1$
in-context examples before it and the query $x_i$. "Error at k points" is the squared error of the prediction
at $x_{k+1}$, divided by $d$ as in Garg et al. (the trivial predictor $\hat y = 0$ then scores 1).

Shapes: b batch, n examples per prompt, d input dim; a prompt is (b, 2n, d).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import check_generator, check_like, check_positive, check_same_device, check_tensor

__all__ = ["LinearRegressionTask", "interleave", "least_squares_predictions"]


@dataclass
class LinearRegressionTask:
    """Prompts for in-context linear regression.

    Args:
        d: input dimension of x.
        n_points: examples per prompt (the last one plays the query when we score "error at k = n_points - 1").
        noise_std: standard deviation of the label noise, finite and >= 0 (0 = noiseless, as in Garg et al.'s
            main setting).
        seed: seed of the task's own generator, an int >= 0.
    """

    d: int = 5
    n_points: int = 11
    noise_std: float = 0.0
    seed: int = 0

    def __post_init__(self):
        check_positive("d", self.d)
        check_positive("n_points", self.n_points)
        check_positive("noise_std", self.noise_std, integer=False, allow_zero=True)
        self.seed = check_positive("seed", self.seed, allow_zero=True)  # a Python int for manual_seed
        self.generator = torch.Generator().manual_seed(self.seed)

    @property
    def seq_len(self) -> int:
        return 2 * self.n_points

    def sample_xyw(self, batch_size: int, generator: torch.Generator | None = None):
        r"""$x \sim \mathcal N(0, I)$ (b, n, d), $w \sim \mathcal N(0, I)$ (b, d), $y = x w (+\varepsilon)$ (b, n)."""
        check_positive("batch_size", batch_size)
        check_generator("generator", generator)
        g = self.generator if generator is None else generator
        x = torch.randn(batch_size, self.n_points, self.d, generator=g)  # (b, n, d)
        w = torch.randn(batch_size, self.d, generator=g)  # (b, d)
        y = (x @ w[:, :, None])[..., 0]  # (b, n)
        if self.noise_std > 0:
            y = y + self.noise_std * torch.randn(y.shape, generator=g)
        return x, y, w

    def sample(self, batch_size: int, generator: torch.Generator | None = None):
        """A batch of prompts (b, 2n, d) and targets (b, n): y_i is to be predicted at position 2i (the x_i)."""
        x, y, _ = self.sample_xyw(batch_size, generator)
        return interleave(x, y), y


def _check_xy(x: torch.Tensor, y: torch.Tensor) -> None:
    check_tensor("x", x, ndim=3, floating=True)
    check_tensor("y", y, ndim=2, floating=True)
    if y.shape != x.shape[:2]:
        raise ValueError(f"y has shape {tuple(y.shape)}; expected (b, n) = {tuple(x.shape[:2])}")
    if x.shape[1] == 0 or x.shape[2] == 0:
        raise ValueError(f"x has shape {tuple(x.shape)}; it needs n >= 1 points of dimension d >= 1")


def interleave(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""The prompt $x_1, \tilde y_1, \dots, x_n, \tilde y_n$ with $\tilde y_i = (y_i, 0, \dots, 0)$ (Garg et al., 2022).

    x: (b, n, d), y: (b, n) -> (b, 2n, d) in x's dtype (y is cast to it).
    """
    _check_xy(x, y)
    check_same_device(x=x, y=y)
    b, n, d = x.shape
    y_vec = torch.zeros_like(x)  # (b, n, d)
    y_vec[..., 0] = y
    return torch.stack([x, y_vec], dim=2).reshape(b, 2 * n, d)  # (b, 2n, d): x_1, y_1, x_2, y_2, ...


def least_squares_predictions(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""The minimum-norm least-squares prediction $\hat y_i = x_i^\top X_{<i}^{+} y_{<i}$ for every position.

    The optimal estimator for noiseless Gaussian $w$ once $i - 1 \ge d$ (then it is exact); the baseline of
    Garg et al. (2022, fig. 2). x: (b, n, d), y: (b, n) of one dtype -> (b, n); position 0 (no examples)
    predicts 0.
    """
    _check_xy(x, y)
    check_like("y", y, "x", x)
    preds = [torch.zeros_like(y[:, 0])]
    for i in range(1, x.shape[1]):
        w_hat = torch.linalg.pinv(x[:, :i]) @ y[:, :i, None]  # (b, d, 1)
        preds.append((x[:, i : i + 1] @ w_hat)[:, 0, 0])  # (b,)
    return torch.stack(preds, dim=1)  # (b, n)
