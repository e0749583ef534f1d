"""Every public function and class of ``minitorch_xf.tasks`` called as a careless user would.

Each entry of ``BAD`` is a bad call that must raise up front with a message naming the bad argument (the
``match`` pattern); each entry of ``HANDLED`` is an odd but valid call whose documented answer we check.
"""

from __future__ import annotations

import math
import random

import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.nn import Decoder, Encoder
from minitorch_xf.tasks import (
    ArithmeticTask,
    AutomatonTask,
    DigitTask,
    EditDistanceTask,
    EquationsTask,
    LinearRegressionTask,
    LISTask,
    ParityTask,
    Tokenizer,
    evaluate,
    exact_match,
    interleave,
    least_squares_predictions,
    training_batch,
)

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


COT_TOK = Tokenizer(ParityTask(n=3).vocabulary())
COT_BAD = [
    Bad("Arithmetic p=1", lambda: ArithmeticTask(p=1), ValueError, r"p=1"),
    Bad("Arithmetic p float", lambda: ArithmeticTask(p=5.0), TypeError, r"p must be an int"),
    Bad("Arithmetic n_ops=0", lambda: ArithmeticTask(n_ops=0), ValueError, r"n_ops=0"),
    Bad("Arithmetic unknown operator", lambda: ArithmeticTask(ops=("+", "/")), ValueError, r"operator='/'"),
    Bad("Arithmetic ops string", lambda: ArithmeticTask(ops="+-"), ValueError, r"ops='\+-'"),
    Bad("Arithmetic sample rng", lambda: ArithmeticTask().sample(3), TypeError, r"rng must be a random.Random"),
    Bad("Equations p not prime", lambda: EquationsTask(p=6), ValueError, r"p=6 is not prime"),
    Bad("Equations n_vars=0", lambda: EquationsTask(n_vars=0), ValueError, r"n_vars=0"),
    Bad("LIS n=0", lambda: LISTask(n=0), ValueError, r"n=0"),
    Bad("LIS n_values=-1", lambda: LISTask(n_values=-1), ValueError, r"n_values=-1"),
    Bad("Edit m=0", lambda: EditDistanceTask(m=0), ValueError, r"m=0"),
    Bad("Edit n_letters=27", lambda: EditDistanceTask(n_letters=27), ValueError, r"n_letters=27"),
    Bad("Parity n=0", lambda: ParityTask(n=0), ValueError, r"n=0"),
    Bad("Parity scratchpad unknown", lambda: ParityTask(scratchpad="bits"), ValueError, r"scratchpad=.bits."),
    Bad("Parity examples n=0", lambda: ParityTask().examples(0, seed=0), ValueError, r"n=0"),
    Bad("Parity examples seed<0", lambda: ParityTask().examples(2, seed=-1), ValueError, r"seed=-1"),
    Bad(
        "Automaton missing move",
        lambda: AutomatonTask(transitions={"a": {"0": "a"}, "b": {"1": "a"}}),
        ValueError,
        r"every state",
    ),
    Bad(
        "Automaton unknown target",
        lambda: AutomatonTask(transitions={"a": {"0": "z"}}),
        ValueError,
        r"'z' is not a state",
    ),
    Bad("Automaton start", lambda: AutomatonTask(start="q9"), ValueError, r"start='q9'"),
    Bad("Automaton accept", lambda: AutomatonTask(accept=("q7",)), ValueError, r"accept state='q7'"),
    Bad("Tokenizer no pad", lambda: Tokenizer(["a", "b"]), ValueError, r"must start with '<pad>'"),
    Bad("Tokenizer duplicates", lambda: Tokenizer(["<pad>", "a", "a"]), ValueError, r"duplicate tokens \['a'\]"),
    Bad("Tokenizer encode string", lambda: COT_TOK.encode("0 1"), TypeError, r"the string '0 1'"),
    Bad(
        "Tokenizer unknown token", lambda: COT_TOK.encode(["0", "7"]), ValueError, r"\['7'\] are not in the vocabulary"
    ),
    Bad("Tokenizer decode id", lambda: COT_TOK.decode([0, 99]), ValueError, r"ids \[99\]"),
    Bad("Tokenizer pad short", lambda: COT_TOK.pad([[1, 2, 3]], length=2), ValueError, r"length=2"),
    Bad("Tokenizer pad empty", lambda: COT_TOK.pad([]), ValueError, r"seqs is empty"),
    Bad(
        "training_batch cot",
        lambda: training_batch(ParityTask(n=3).examples(2, seed=0), COT_TOK, cot=1),
        TypeError,
        r"cot must be a bool",
    ),
    Bad("training_batch empty", lambda: training_batch([], COT_TOK, cot=True), ValueError, r"examples is empty"),
    Bad(
        "exact_match model",
        lambda: exact_match(object(), ParityTask(n=3).examples(2, seed=0), COT_TOK, True),
        TypeError,
        r"model must",
    ),
    Bad(
        "exact_match examples empty",
        lambda: exact_match(decoder(len(COT_TOK)), [], COT_TOK, True),
        ValueError,
        r"examples is empty",
    ),
    Bad(
        "evaluate model",
        lambda: evaluate(object(), ParityTask(n=3).examples(2, seed=0), COT_TOK, True),
        TypeError,
        r"model must",
    ),
    Bad("evaluate empty", lambda: evaluate(decoder(len(COT_TOK)), [], COT_TOK, True), ValueError, r"examples is empty"),
    Bad(
        "evaluate max_new",
        lambda: evaluate(decoder(len(COT_TOK)), ParityTask(n=3).examples(2, seed=0), COT_TOK, True, max_new=0),
        ValueError,
        r"max_new=0",
    ),
]
COT_HANDLED = [
    Handled(
        "Arithmetic p=2 one operator",
        lambda: ArithmeticTask(p=2, n_ops=1).sample(random.Random(0)),
        lambda ex: ex.steps == [],
    ),
    Handled(
        "Equations p=2", lambda: EquationsTask(p=2, n_vars=1).sample(random.Random(0)), lambda ex: ex.answer == ["1"]
    ),
    Handled(
        "evaluate untrained decoder",
        lambda: evaluate(decoder(len(COT_TOK)), ParityTask(n=3).examples(5, seed=0), COT_TOK, True),
        lambda res: res["n"] == 5 and sum(res["reasons"].values()) == 5,
    ),
]
BAD += COT_BAD
HANDLED += COT_HANDLED


test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
