"""Every public function and class of ``minitorch_xf.tasks`` called as a careless user would.

Each entry of ``BAD`` is a bad call that must raise up front with a message naming the bad argument (the
``match`` pattern); each entry of ``HANDLED`` is an odd but valid call whose documented answer we check.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.nn import Decoder, Encoder
from minitorch_xf.tasks import (
    ArithmeticTask,
    AutomatonTask,
    DigitTask,
    EditDistanceTask,
    EquationsTask,
    Example,
    FuzzyLogicTask,
    LinearRegressionTask,
    LISTask,
    ParityTask,
    SearchTask,
    SRavenTask,
    Tokenizer,
    evaluate,
    even_token,
    exact_match,
    interleave,
    least_squares_predictions,
    match3_batch,
    match3_labels,
    match3_positive_rate,
    match3_worst_case,
    pair_tokens,
    position_identification,
    score_output,
    training_batch,
)
from minitorch_xf.tasks.cot import is_prime
from minitorch_xf.tasks.digits import digits_rows
from minitorch_xf.tasks.fuzzy_logic import r_squared, zadeh_dnf
from minitorch_xf.tasks.graphs import (
    balanced_search_graph,
    bfs_layers,
    bfs_reachable,
    branch_choice_accuracy,
    check_dag,
    check_graph,
    find_cycle,
    path_merging,
    random_dag,
)
from minitorch_xf.tasks.sraven import ambiguous, panel_accuracy

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

# --- issue 21: every public callable of minitorch_xf.tasks; numpy ints accepted, plain strings refused ------------

SEARCH = SearchTask(n_branches=2, lookahead=1, n_labels=4)
SEARCH_TOK = Tokenizer(SEARCH.vocabulary())
PATH = [(0, 1), (1, 2)]  # 0 -> 1 -> 2 on n = 4 vertices (3 is isolated)
SIGNS = torch.tensor([[1, 0]])  # one conjunction: x1 and not x2
FUZZY_TOKENS = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]] * 2)  # context labels 0, 1
FUZZY_TARGET = torch.tensor([1.0, 0.0])  # base error (1 - 0.5)**2 = (0 - 0.5)**2 = 0.25


def _fuzzy():
    return FuzzyLogicTask(n_vars=2, n_terms=2, frac_test=0.5, frac_ood=0.0)


def _sraven():
    return SRavenTask(n_features=2, n_values=4, grid=3, permute=False)


ISSUE21_BAD = [
    # cot
    Bad("Example prompt string", lambda: Example("1 0", [], ["1"]), TypeError, r"prompt must be a list"),
    Bad("Example answer ints", lambda: Example(["1"], [], [1]), TypeError, r"answer must hold token strings"),
    Bad("Example steps string", lambda: Example(["1"], "0", ["1"]), TypeError, r"steps must be a list"),
    Bad("Example step_sep int", lambda: Example(["1"], [], ["1"], step_sep=1), TypeError, r"step_sep must be a bool"),
    Bad("is_prime float", lambda: is_prime(7.0), TypeError, r"p must be an int"),
    Bad("is_prime bool", lambda: is_prime(True), TypeError, r"p must be an int"),
    Bad("is_prime string", lambda: is_prime("7"), TypeError, r"p must be an int"),
    Bad("Tokenizer vocab string", lambda: Tokenizer("<pad>ab"), TypeError, r"vocab must be a list"),
    Bad("Tokenizer vocab ints", lambda: Tokenizer(["<pad>", 1]), TypeError, r"vocab must hold token strings"),
    Bad("Tokenizer decode float ids", lambda: COT_TOK.decode([1.0, 2.0]), TypeError, r"ids must be ints"),
    Bad("Tokenizer decode bool ids", lambda: COT_TOK.decode([True]), TypeError, r"ids must be ints"),
    Bad("Tokenizer decode 2-D", lambda: COT_TOK.decode(torch.ones(2, 2, dtype=torch.long)), ValueError, r"1-D"),
    Bad("Tokenizer decode None", lambda: COT_TOK.decode(None), TypeError, r"ids must be a sequence"),
    Bad("Tokenizer decode negative", lambda: COT_TOK.decode(np.array([-1])), ValueError, r"ids \[-1\]"),
    Bad("score_output tokens string", lambda: score_output("> 1 <eos>", ["1"]), TypeError, r"tokens must be a list"),
    Bad("score_output expected string", lambda: score_output([">", "1", "<eos>"], "1"), TypeError, r"expected must"),
    Bad("score_output expected empty", lambda: score_output([">", "1", "<eos>"], []), ValueError, r"expected is empty"),
    Bad("score_output tokens None", lambda: score_output(None, ["1"]), TypeError, r"tokens must be a list"),
    Bad(
        "evaluate tokenizer",
        lambda: evaluate(decoder(len(COT_TOK)), ParityTask(n=3).examples(2, seed=0), {"<pad>": 0}, True),
        TypeError,
        r"tokenizer must be a Tokenizer",
    ),
    Bad(
        "evaluate examples string",
        lambda: evaluate(decoder(len(COT_TOK)), "0 1 0", COT_TOK, True),
        TypeError,
        r"examples must be a list",
    ),
    Bad(
        "evaluate examples item",
        lambda: evaluate(decoder(len(COT_TOK)), [["0", "1"]], COT_TOK, True),
        TypeError,
        r"examples\[0\] must be an Example",
    ),
    Bad(
        "exact_match tokenizer",
        lambda: exact_match(decoder(len(COT_TOK)), ParityTask(n=3).examples(2, seed=0), None, True),
        TypeError,
        r"tokenizer must be a Tokenizer",
    ),
    Bad(
        "training_batch tokenizer",
        lambda: training_batch(ParityTask(n=3).examples(2, seed=0), COT_TOK.vocab, cot=True),
        TypeError,
        r"tokenizer must be a Tokenizer",
    ),
    Bad("Tokenizer pad string", lambda: COT_TOK.pad("abc"), TypeError, r"seqs must be a list"),
    Bad("Tokenizer pad id range", lambda: COT_TOK.pad([[1, 99]]), ValueError, r"seqs\[0\] holds \[99\]"),
    Bad("Tokenizer pad float id", lambda: COT_TOK.pad([[1.5]]), ValueError, r"seqs\[0\] holds \[1.5\]"),
    Bad("Tokenizer encode None", lambda: COT_TOK.encode(None), TypeError, r"tokens must be a list"),
    # algorithmic
    Bad(
        "DigitTask answer out of range",
        lambda: digits().answer(torch.tensor([[0, 1, 7]])),
        ValueError,
        r"digits hold values in \[0, 7\], outside \[0, base=4\)",
    ),
    # digits
    Bad("digits_rows generator", lambda: digits_rows("seed"), TypeError, r"generator must be"),
    Bad("digits_rows fraction", lambda: digits_rows(None, test_fraction=1.5), ValueError, r"test_fraction=1.5"),
    # fuzzy_logic
    Bad("FuzzyLogicTask n_vars=0", lambda: FuzzyLogicTask(n_vars=0), ValueError, r"n_vars=0"),
    Bad("FuzzyLogicTask n_vars float", lambda: FuzzyLogicTask(n_vars=2.0), TypeError, r"n_vars must be an int"),
    Bad("FuzzyLogicTask n_vars=11", lambda: FuzzyLogicTask(n_vars=11), ValueError, r"n_vars=11"),
    Bad("FuzzyLogicTask frac_test=0", lambda: FuzzyLogicTask(frac_test=0.0), ValueError, r"frac_test=0.0"),
    Bad("FuzzyLogicTask sample split", lambda: _fuzzy().sample(2, split="val"), ValueError, r"split='val'"),
    Bad(
        "FuzzyLogicTask signs term id 10**6",
        lambda: _fuzzy().signs("train", torch.tensor([10**6])),
        ValueError,
        r"term_ids hold values in \[1000000, 1000000\]",
    ),
    Bad("FuzzyLogicTask signs negative", lambda: _fuzzy().signs("train", torch.tensor([-1])), ValueError, r"term_ids"),
    Bad("FuzzyLogicTask signs float", lambda: _fuzzy().signs("train", torch.tensor([0.0])), TypeError, r"term_ids"),
    Bad("FuzzyLogicTask signs split", lambda: _fuzzy().signs("val", torch.tensor([0])), ValueError, r"split='val'"),
    Bad("zadeh_dnf x=5.0", lambda: zadeh_dnf(SIGNS, torch.tensor([[5.0, 0.0]])), ValueError, r"x must lie in \[0, 1\]"),
    Bad("zadeh_dnf x nan", lambda: zadeh_dnf(SIGNS, torch.tensor([[NAN, 0.0]])), ValueError, r"x must lie in"),
    Bad("zadeh_dnf x negative", lambda: zadeh_dnf(SIGNS, torch.tensor([[-0.1, 0.0]])), ValueError, r"x must lie"),
    Bad("zadeh_dnf x float", lambda: zadeh_dnf(SIGNS, 5.0), TypeError, r"x must be a torch.Tensor"),
    Bad("zadeh_dnf x int", lambda: zadeh_dnf(SIGNS, torch.tensor([[1, 0]])), TypeError, r"x must be a floating"),
    Bad("zadeh_dnf signs 2", lambda: zadeh_dnf(torch.tensor([[2, 0]]), r(1, 2).sigmoid()), ValueError, r"only 0 and 1"),
    Bad("zadeh_dnf n mismatch", lambda: zadeh_dnf(SIGNS, r(1, 3).sigmoid()), ValueError, r"signs has n=2"),
    Bad("zadeh_dnf no terms", lambda: zadeh_dnf(SIGNS[:0], r(1, 2).sigmoid()), ValueError, r"signs has shape \(0, 2\)"),
    Bad(
        "zadeh_dnf batch dims",
        lambda: zadeh_dnf(torch.ones(3, 1, 2), torch.rand(2, 4, 2)),
        ValueError,
        r"batch dims of signs \(3, 1, 2\) and x \(2, 4, 2\)",
    ),
    Bad("zadeh_dnf device", lambda: zadeh_dnf(SIGNS, torch.zeros(1, 2, device="meta")), ValueError, r"x on meta"),
    Bad(
        "r_squared pred (b, 1)",
        lambda: r_squared(FUZZY_TARGET[:, None], FUZZY_TARGET, FUZZY_TOKENS),
        ValueError,
        r"pred must have 1 dims, got shape \(2, 1\)",
    ),
    Bad(
        "r_squared zero baseline",
        lambda: r_squared(FUZZY_TARGET, torch.tensor([0.5, 0.5]), FUZZY_TOKENS),
        ValueError,
        r"baseline error",
    ),
    Bad(
        "r_squared tokens 2-D", lambda: r_squared(FUZZY_TARGET, FUZZY_TARGET, r(2, 3)), ValueError, r"tokens must have"
    ),
    Bad("r_squared pred list", lambda: r_squared([1.0, 0.0], FUZZY_TARGET, FUZZY_TOKENS), TypeError, r"pred must be"),
    Bad(
        "r_squared target length",
        lambda: r_squared(FUZZY_TARGET, FUZZY_TARGET[:1], FUZZY_TOKENS),
        ValueError,
        r"target has shape \(1,\)",
    ),
    # graphs
    Bad(
        "SearchTask n_labels small", lambda: SearchTask(n_branches=2, lookahead=2, n_labels=3), ValueError, r"n_labels"
    ),
    Bad("SearchTask lookahead empty", lambda: SearchTask(lookahead=()), ValueError, r"lookahead=\(\)"),
    Bad("SearchTask lookahead float", lambda: SearchTask(lookahead=1.5), TypeError, r"lookahead must be an int"),
    Bad("SearchTask query_first int", lambda: SearchTask(query_first=1), TypeError, r"query_first must be a bool"),
    Bad("balanced_search_graph branches", lambda: balanced_search_graph(0, 2), ValueError, r"n_branches=0"),
    Bad("balanced_search_graph labels", lambda: balanced_search_graph(2, 2, n_labels=3), ValueError, r"n_labels=3"),
    Bad("balanced_search_graph rng", lambda: balanced_search_graph(2, 2, rng=5), TypeError, r"rng must be"),
    Bad("bfs_layers source range", lambda: bfs_layers(PATH, 4, 5), ValueError, r"source=5"),
    Bad("bfs_layers source float", lambda: bfs_layers(PATH, 4, 1.0), TypeError, r"source must be an int"),
    Bad("bfs_layers steps<0", lambda: bfs_layers(PATH, 4, 0, steps=-1), ValueError, r"steps=-1"),
    Bad("bfs_layers edges string", lambda: bfs_layers("0 1", 4, 0), TypeError, r"edges must be a list"),
    Bad("bfs_reachable source<0", lambda: bfs_reachable(PATH, 4, -1), ValueError, r"source=-1"),
    Bad("bfs_reachable n float", lambda: bfs_reachable(PATH, 4.0, 0), TypeError, r"n must be an int"),
    Bad("check_dag cycle", lambda: check_dag([(0, 1), (1, 0)], 2), ValueError, r"cycle 0 -> 1 -> 0"),
    Bad("check_graph vertex", lambda: check_graph([(0, 9)], 4), ValueError, r"vertex 9 is not in \[0, n=4\)"),
    Bad("check_graph float tensor", lambda: check_graph(torch.zeros(1, 2), 4), TypeError, r"edges must be an int"),
    Bad("check_graph n=0", lambda: check_graph([], 0), ValueError, r"n=0"),
    Bad("check_graph float vertex", lambda: check_graph([(0, 1.0)], 4), TypeError, r"vertices must be ints"),
    Bad(
        "check_graph meta",
        lambda: check_graph(torch.zeros(1, 2, dtype=torch.long, device="meta"), 4),
        ValueError,
        r"edges is a tensor without data",
    ),
    Bad("check_graph float array", lambda: check_graph(np.zeros((1, 2)), 4), TypeError, r"edges must be an int array"),
    Bad("Automaton accept string", lambda: AutomatonTask(accept="q0"), TypeError, r"accept must be a tuple"),
    Bad("find_cycle triple", lambda: find_cycle([(0, 1, 2)], 4), ValueError, r"edges\[0\]=\(0, 1, 2\)"),
    Bad("path_merging layers<0", lambda: path_merging(PATH, 4, -1), ValueError, r"layers=-1"),
    Bad("random_dag p", lambda: random_dag(4, 1.5), ValueError, r"p=1.5"),
    Bad("random_dag n=0", lambda: random_dag(0, 0.5), ValueError, r"n=0"),
    Bad("random_dag n huge", lambda: random_dag(10**6, 0.1), ValueError, r"n=1000000 needs"),
    Bad("path_merging n huge", lambda: path_merging([], 10**6, 1), ValueError, r"n=1000000 and layers=1"),
    Bad(
        "branch_choice_accuracy model",
        lambda: branch_choice_accuracy(object(), SEARCH.examples(2, seed=0), SEARCH_TOK),
        TypeError,
        r"model must",
    ),
    Bad(
        "branch_choice_accuracy tokenizer",
        lambda: branch_choice_accuracy(decoder(len(SEARCH_TOK)), SEARCH.examples(2, seed=0), "tok"),
        TypeError,
        r"tokenizer must be a Tokenizer",
    ),
    Bad(
        "branch_choice_accuracy empty",
        lambda: branch_choice_accuracy(decoder(len(SEARCH_TOK)), [], SEARCH_TOK),
        ValueError,
        r"examples is empty",
    ),
    Bad(
        "branch_choice_accuracy not search",
        lambda: branch_choice_accuracy(decoder(len(COT_TOK)), ParityTask(n=3).examples(2, seed=0), COT_TOK),
        ValueError,
        r"examples\[0\] is not a search problem",
    ),
    # icl_regression
    Bad("pair_tokens y shape", lambda: pair_tokens(X, r(2, 4)), ValueError, r"y has shape \(2, 4\)"),
    Bad("pair_tokens dtype", lambda: pair_tokens(X, Y.double()), TypeError, r"y has dtype torch.float64"),
    Bad("pair_tokens x None", lambda: pair_tokens(None, Y), TypeError, r"x must be a torch.Tensor"),
    # match3
    Bad("match3_batch modulus=1", lambda: match3_batch(2, 3, 1), ValueError, r"modulus=1"),
    Bad("match3_batch length=0", lambda: match3_batch(2, 0, 5), ValueError, r"length=0"),
    Bad("match3_batch modulus float", lambda: match3_batch(2, 3, 5.0), TypeError, r"modulus must be an int"),
    Bad("match3_labels out of range", lambda: match3_labels(torch.tensor([0, 5]), 5), ValueError, r"modulus=5"),
    Bad("match3_labels float", lambda: match3_labels(torch.tensor([0.0, 1.0]), 5), TypeError, r"x must be an integer"),
    Bad("match3_positive_rate n_samples", lambda: match3_positive_rate(3, 5, n_samples=0), ValueError, r"n_samples=0"),
    Bad("match3_batch modulus huge", lambda: match3_batch(2, 3, 10**9), ValueError, r"modulus=1000000000 need"),
    Bad("match3_worst_case huge", lambda: match3_worst_case(10**6, 3, 101), ValueError, r"n_samples=1000000"),
    Bad("match3_worst_case even", lambda: match3_worst_case(2, 3, 4), ValueError, r"modulus=4 must be odd"),
    # positions
    Bad("position_identification mode", lambda: position_identification(2, 3, mode="x"), ValueError, r"mode='x'"),
    Bad("position_identification n=0", lambda: position_identification(2, 0), ValueError, r"n=0"),
    Bad("even_token huge", lambda: even_token(10**6, 10**6), ValueError, r"n_samples=1000000, n=1000000"),
    Bad("position_identification huge", lambda: position_identification(10**6, 10**6), ValueError, r"n_samples="),
    Bad("even_token vocab=0", lambda: even_token(2, 3, vocab=0), ValueError, r"vocab=0"),
    Bad("even_token n float", lambda: even_token(2, 3.0), TypeError, r"n must be an int"),
    # sraven
    Bad("SRavenTask n_features=0", lambda: SRavenTask(n_features=0), ValueError, r"n_features=0"),
    Bad("SRavenTask n_features huge", lambda: SRavenTask(n_features=40), ValueError, r"n_features=40 gives"),
    Bad("SRavenTask grid=1", lambda: SRavenTask(grid=1), ValueError, r"grid=1"),
    Bad("SRavenTask frac_ood=1", lambda: SRavenTask(frac_ood=1.0), ValueError, r"frac_ood=1.0"),
    Bad("SRavenTask permute int", lambda: SRavenTask(permute=1), TypeError, r"permute must be a bool"),
    Bad("SRavenTask sample split", lambda: _sraven().sample(2, split="test"), ValueError, r"split='test'"),
    Bad(
        "SRavenTask grids rule index 8",
        lambda: _sraven().grids(torch.tensor([[0, 8]])),
        ValueError,
        r"rules holds rule indices in \[0, 8\], outside \[0, 8\)",
    ),
    Bad(
        "SRavenTask grids meta",
        lambda: _sraven().grids(torch.zeros(1, 2, dtype=torch.long, device="meta")),
        ValueError,
        r"rules is a tensor without data",
    ),
    Bad("SRavenTask grids float rules", lambda: _sraven().grids(torch.zeros(1, 2)), TypeError, r"rules must be an int"),
    Bad("SRavenTask grids width", lambda: _sraven().grids(torch.zeros(1, 3, dtype=torch.long)), ValueError, r"rules"),
    Bad(
        "ambiguous out of range",
        lambda: ambiguous(torch.full((1, 3, 3, 1), 9), 4, False),
        ValueError,
        r"values hold \[9, 9\], outside \[0, n_values=4\)",
    ),
    Bad("ambiguous float", lambda: ambiguous(torch.zeros(1, 3, 3, 1), 4, False), TypeError, r"values must be an int"),
    Bad("ambiguous permute", lambda: ambiguous(torch.zeros(1, 3, 3, 1, dtype=torch.long), 4, 1), TypeError, r"permute"),
    Bad(
        "panel_accuracy answer float", lambda: panel_accuracy(r(2, 3, 4), torch.zeros(2, 3)), TypeError, r"answer must"
    ),
    Bad("panel_accuracy answer list", lambda: panel_accuracy(r(2, 3, 4), [[0, 1, 2]]), TypeError, r"answer must be a"),
    Bad("panel_accuracy answer 1-D", lambda: panel_accuracy(r(2, 3, 4), torch.zeros(3).long()), ValueError, r"answer"),
]


def _equal(expected):
    def check(got):
        if isinstance(expected, torch.Tensor):
            torch.testing.assert_close(got, expected)
        else:
            assert got == expected, (got, expected)

    return check


ISSUE21_HANDLED = [
    # numpy ints are ints
    Handled("Tokenizer decode numpy array", lambda: COT_TOK.decode(np.array([1, 2])), _equal(COT_TOK.vocab[1:3])),
    Handled("Tokenizer decode numpy scalars", lambda: COT_TOK.decode([np.int64(0)]), _equal(["<pad>"])),
    Handled(
        "Tokenizer decode non-contiguous",
        lambda: COT_TOK.decode(torch.tensor([[1, 2], [3, 4]]).t()[0]),
        _equal([COT_TOK.vocab[1], COT_TOK.vocab[3]]),
    ),
    Handled(
        "Parity examples numpy seed",
        lambda: ParityTask(n=3).examples(np.int64(2), seed=np.int64(0)),
        lambda exs: len(exs) == 2 or pytest.fail("two examples expected"),
    ),
    Handled(
        "SRavenTask numpy seed",
        lambda: SRavenTask(n_features=2, n_values=4, permute=False, seed=np.int64(1)).latents["train"],
        _equal(SRavenTask(n_features=2, n_values=4, permute=False, seed=1).latents["train"]),  # int seed: invariance
    ),
    Handled(
        "DigitTask numpy seed",
        lambda: DigitTask(n=3, base=4, seed=np.int64(5)).sample(2)[0],
        _equal(DigitTask(n=3, base=4, seed=5).sample(2)[0]),  # int seed: invariance
    ),
    Handled("check_graph numpy array", lambda: check_graph(np.array([[0, 1], [1, 2]]), 3), _equal([(0, 1), (1, 2)])),
    Handled("is_prime numpy int", lambda: is_prime(np.int64(7)), _equal(True)),
    Handled("score_output tuple tokens", lambda: score_output((">", "3", "<eos>"), ("3",)), _equal((True, "correct"))),
    Handled("check_graph numpy vertices", lambda: check_graph([(np.int64(0), np.int32(1))], 2), _equal([(0, 1)])),
    Handled("bfs_layers numpy source", lambda: bfs_layers(PATH, 4, np.int64(0)), _equal([[0], [0, 1], [0, 1, 2]])),
    Handled(
        "bfs_reachable transposed edges",
        lambda: bfs_reachable(torch.tensor([[0, 1], [2, 2]]).t(), 4, 0),
        _equal(torch.tensor([True, False, True, False])),  # the edges (0, 2) and (1, 2): 0 reaches 2 only
    ),
    Handled(
        "match3_labels non-contiguous",
        lambda: match3_labels(torch.tensor([[1, 0], [1, 1]]).t(), 5),
        _equal(torch.tensor([[0.0, 0.0], [1.0, 0.0]])),  # rows (1, 1): no pair sums to 4; (0, 1): 0+0+0 only
    ),
    Handled(
        "DigitTask answer non-contiguous",
        lambda: digits().answer(torch.tensor([[3, 2], [0, 2], [1, 0]]).t()),
        _equal(torch.tensor([[0, 1, 3], [0, 2, 2]])),
    ),
    Handled(
        "zadeh_dnf expanded x",
        lambda: zadeh_dnf(SIGNS, torch.tensor([[0.2, 0.7]]).expand(3, 2)),
        _equal(torch.tensor([0.2, 0.2, 0.2])),  # min(0.2, 1 - 0.7)
    ),
    Handled(
        "zadeh_dnf bounds 0 and 1",
        lambda: zadeh_dnf(torch.tensor([[1, 1], [0, 0]]), torch.tensor([[0.0, 1.0]])),
        _equal(torch.tensor([0.0])),  # max(min(0, 1), min(1, 0))
    ),
    Handled("r_squared perfect", lambda: r_squared(FUZZY_TARGET, FUZZY_TARGET, FUZZY_TOKENS), _equal(1.0)),
    Handled(
        "r_squared context mean is 0",
        lambda: r_squared(torch.tensor([0.5, 0.5]), FUZZY_TARGET, FUZZY_TOKENS),
        _equal(0.0),
    ),
    Handled(
        "panel_accuracy non-contiguous logits",
        lambda: panel_accuracy(
            torch.eye(3)[torch.tensor([[0, 1], [2, 2]])].transpose(0, 1), torch.tensor([[0, 2], [1, 2]])
        ),
        _equal((1.0, 1.0)),  # logits[b, a] = one-hot of [[0, 2], [1, 2]][b][a]
    ),
    Handled(
        "pair_tokens expanded",
        lambda: pair_tokens(torch.tensor([[[1.0], [2.0]]]).expand(2, 2, 1), torch.tensor([[3.0, 4.0]]).expand(2, 2)),
        _equal(torch.tensor([[[0.0, 0.0, 1.0], [1.0, 3.0, 2.0]]] * 2)),
    ),
    Handled(
        "SRavenTask grids constant rule",
        lambda: _sraven().grids(torch.tensor([[0, 0]])),
        lambda v: ((v == v[:, :, :1]).all() and v.shape == (1, 3, 3, 2)) or pytest.fail("rows are not constant"),
    ),
]
BAD += ISSUE21_BAD
HANDLED += ISSUE21_HANDLED


test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
