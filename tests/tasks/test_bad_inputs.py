"""Every public function and class of ``minitorch_xf.tasks`` called as a careless user would.

Each entry of ``BAD`` is a bad call that must raise up front with a message naming the bad argument (the
``match`` pattern); each entry of ``HANDLED`` is an odd but valid call whose documented answer we check.
"""

from __future__ import annotations

import math

import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.nn import Decoder, Encoder
from minitorch_xf.tasks import DigitTask, LinearRegressionTask, interleave, least_squares_predictions

NAN, INF = math.nan, math.inf


X, Y = r(2, 3, 4), r(2, 3, seed=1)  # (b, n, d), (b, n)


def digits():
    return DigitTask(n=3, base=4)


def decoder(vocab=5):
    torch.manual_seed(0)
    return Decoder(vocab, d_model=8, n_heads=2, n_layers=1, max_len=16)


BAD = [
    Bad("DigitTask kind", lambda: DigitTask(kind="copy"), ValueError, r"kind='copy'"),
    Bad("DigitTask n=0", lambda: DigitTask(n=0), ValueError, r"n=0"),
    Bad("DigitTask n float", lambda: DigitTask(n=2.0), TypeError, r"n must be an int"),
    Bad("DigitTask base=0", lambda: DigitTask(base=0), ValueError, r"base=0"),
    Bad("DigitTask seed<0", lambda: DigitTask(seed=-1), ValueError, r"seed=-1"),
    Bad("DigitTask seed float", lambda: DigitTask(seed=1.5), TypeError, r"seed must be an int"),
    Bad("DigitTask sample 0", lambda: digits().sample(0), ValueError, r"batch_size=0"),
    Bad("DigitTask sample generator", lambda: digits().sample(4, generator=5), TypeError, r"generator must be"),
    Bad("DigitTask prompts<0", lambda: digits().prompts(-1), ValueError, r"batch_size=-1"),
    Bad("DigitTask answer list", lambda: digits().answer([1, 2, 3]), TypeError, r"digits must be a torch.Tensor"),
    Bad("DigitTask answer float", lambda: digits().answer(r(2, 3)), TypeError, r"digits must be an integer"),
    Bad("DigitTask answer width", lambda: digits().answer(torch.zeros(2, 5, dtype=torch.long)), ValueError, r"n=3"),
    Bad("DigitTask accuracy object", lambda: digits().accuracy(object()), TypeError, r"model must"),
    Bad("DigitTask accuracy encoder", lambda: digits().accuracy(Encoder(5, d_model=8, n_heads=2)), TypeError, r"gener"),
    Bad("DigitTask accuracy batch 0", lambda: digits().accuracy(decoder(), batch_size=0), ValueError, r"batch_size=0"),
    Bad("DigitTask accuracy vocab", lambda: digits().accuracy(decoder(vocab=4)), ValueError, r"vocab_size=4"),
    Bad("Regression d=0", lambda: LinearRegressionTask(d=0), ValueError, r"d=0"),
    Bad("Regression d float", lambda: LinearRegressionTask(d=2.5), TypeError, r"d must be an int"),
    Bad("Regression n_points=0", lambda: LinearRegressionTask(n_points=0), ValueError, r"n_points=0"),
    Bad("Regression noise nan", lambda: LinearRegressionTask(noise_std=NAN), ValueError, r"noise_std=nan"),
    Bad("Regression noise inf", lambda: LinearRegressionTask(noise_std=INF), ValueError, r"noise_std=inf"),
    Bad("Regression noise<0", lambda: LinearRegressionTask(noise_std=-1.0), ValueError, r"noise_std=-1.0"),
    Bad("Regression seed<0", lambda: LinearRegressionTask(seed=-1), ValueError, r"seed=-1"),
    Bad("Regression seed float", lambda: LinearRegressionTask(seed=1.5), TypeError, r"seed must be an int"),
    Bad("Regression sample 0", lambda: LinearRegressionTask().sample(0), ValueError, r"batch_size=0"),
    Bad("Regression generator", lambda: LinearRegressionTask().sample_xyw(3, generator="g"), TypeError, r"generator"),
    Bad("interleave y shape", lambda: interleave(X, r(2, 4)), ValueError, r"y has shape \(2, 4\)"),
    Bad("interleave x 2-D", lambda: interleave(r(3, 4), Y), ValueError, r"x must have 3 dims"),
    Bad("interleave y int", lambda: interleave(X, Y.long()), TypeError, r"y must be a floating"),
    Bad("interleave device", lambda: interleave(X, Y.to("meta")), ValueError, r"y on meta"),
    Bad("interleave d=0", lambda: interleave(r(2, 3, 0), Y), ValueError, r"x has shape \(2, 3, 0\)"),
    Bad("least_squares y shape", lambda: least_squares_predictions(X, r(2, 4)), ValueError, r"y has shape \(2, 4\)"),
    Bad("least_squares dtype", lambda: least_squares_predictions(X, Y.double()), TypeError, r"y has dtype"),
    Bad("least_squares n=0", lambda: least_squares_predictions(r(2, 0, 4), r(2, 0)), ValueError, r"x has shape"),
    Bad("least_squares x int", lambda: least_squares_predictions(X.long(), Y), TypeError, r"x must be a floating"),
]


def _interleaved(got):
    expected = torch.zeros(2, 6, 4, dtype=torch.float64)
    expected[:, 0::2] = X.double()
    expected[:, 1::2, 0] = Y.double()
    torch.testing.assert_close(got, expected)


def _exact_after_d(got):
    x, y = got
    pred = least_squares_predictions(x, y)
    torch.testing.assert_close(pred[:, 4:], y[:, 4:], atol=1e-4, rtol=1e-4)  # exact once i - 1 >= d = 3


def _one_point(got):
    torch.testing.assert_close(got, torch.zeros(2, 1))


HANDLED = [
    # y is cast to x's dtype (the prompt has one dtype)
    Handled("interleave y float32 into float64 x", lambda: interleave(X.double(), Y), _interleaved),
    # noiseless least squares is exact once there are d examples before the query
    Handled("least_squares exact", lambda: LinearRegressionTask(d=3, n_points=8).sample_xyw(4)[:2], _exact_after_d),
    # a single point has no examples before it: the prediction is 0
    Handled("least_squares one point", lambda: least_squares_predictions(r(2, 1, 4), r(2, 1)), _one_point),
]


test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
