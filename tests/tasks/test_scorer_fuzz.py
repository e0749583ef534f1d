"""A model's output is data: every scorer of ``minitorch_xf.tasks`` scores malformed output as wrong, never raises.

Fake models return what a broken or mismatched model might: the wrong type (None, a list, a string, an array),
the wrong shape (1-D, extra dims, too few or too many rows, no new token), the wrong dtype (float, bool, complex
ids; integer logits), non-finite or huge values, ids outside the tokenizer's vocabulary, a smaller vocabulary, a
tensor on the meta device. Each kind goes through each scorer it applies to (``evaluate``, ``DigitTask.accuracy``,
``exact_match``, ``branch_choice_accuracy``, ``panel_accuracy``): the call returns a score in [0, 1] (the
documented dict or tuple for the first two and the last) and scores the output wrong. The oracle each fake model
corrupts scores 1.0 unchanged, so a 0 comes from the corruption, not from a broken oracle.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from minitorch_xf.nn import Decoder
from minitorch_xf.tasks import DigitTask, ParityTask, SearchTask, Tokenizer, evaluate, exact_match
from minitorch_xf.tasks.cot import EOS
from minitorch_xf.tasks.graphs import branch_choice_accuracy
from minitorch_xf.tasks.sraven import panel_accuracy

NAN, INF = math.nan, math.inf
PARITY = ParityTask(n=4)
PARITY_TOK = Tokenizer(PARITY.vocabulary())
PARITY_EXAMPLES = PARITY.examples(5, seed=0)  # b = 5: no tensor below has two equal dims by accident
SEARCH = SearchTask(n_branches=2, lookahead=2, n_labels=8)
SEARCH_TOK = Tokenizer(SEARCH.vocabulary())
SEARCH_EXAMPLES = SEARCH.examples(6, seed=0)
DIGITS = DigitTask(n=4, base=5)
DIGIT_BATCH = 6


# --- the fake models: each returns corrupt(correct output) -----------------------------------------------------


class _Generator(nn.Module):
    """``generate`` returns ``corrupt(ids)`` where ids is the oracle's output (the prompt, then the right tokens)."""

    def __init__(self, oracle, corrupt):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.oracle, self.corrupt = oracle, corrupt

    def generate(self, prompt, n_new):
        return self.corrupt(self.oracle(prompt))


class _Forward(nn.Module):
    """``forward`` returns ``corrupt(logits)`` where logits are the oracle's (a one-hot of the right token, x10)."""

    def __init__(self, oracle, corrupt):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.oracle, self.corrupt = oracle, corrupt

    def forward(self, tokens):
        return self.corrupt(self.oracle(tokens))


def _parity_generate(prompt):
    """The right continuation of each direct-format parity query: answer, <eos>."""
    right = {tuple(PARITY_TOK.encode(ex.query(False))): PARITY_TOK.encode([*ex.answer, EOS]) for ex in PARITY_EXAMPLES}
    new = torch.tensor([right[tuple(row)] for row in prompt.tolist()])
    return torch.cat([prompt, new], dim=1)


def _digits_generate(prompt):
    return torch.cat([prompt, DIGITS.answer(prompt[:, : DIGITS.n])], dim=1)


def _parity_logits(inputs):
    """Teacher-forced logits: the next token of each example's direct sequence, as a one-hot times 10."""
    seqs = {}
    for ex in PARITY_EXAMPLES:
        ids = PARITY_TOK.encode(ex.sequence(False))
        seqs[tuple(ids[:-1])] = ids[1:]
    nxt = torch.tensor([seqs[tuple(row)] for row in inputs.tolist()])
    return 10 * torch.nn.functional.one_hot(nxt, len(PARITY_TOK)).float()


def _search_logits(queries):
    """Logits that put the answer (the goal's branch's first vertex) highest at the last position."""
    right = {tuple(SEARCH_TOK.encode(ex.query(False))): SEARCH_TOK.ids[ex.answer[0]] for ex in SEARCH_EXAMPLES}
    out = torch.zeros(*queries.shape, len(SEARCH_TOK))
    for b, row in enumerate(queries.tolist()):
        out[b, -1, right[tuple(row)]] = 10.0
    return out


PANEL_ANSWER = torch.tensor([[0, 1, 2], [3, 4, 0], [1, 1, 1], [2, 3, 4], [4, 0, 3], [0, 2, 4]])  # (b=6, f=3)
PANEL_V = 5


def _panel_logits():
    return 10 * torch.nn.functional.one_hot(PANEL_ANSWER, PANEL_V).float()  # (b, f, V)


# --- the corruptions ---------------------------------------------------------------------------------------------


def _new_part(value):
    """Ids with every generated token (after the prompt) replaced by ``value``."""

    def corrupt(x, n_query):
        x = x.clone()
        x[:, n_query:] = value
        return x

    return corrupt


# Corruptions of any output tensor x (ids (b, L) or logits (b, L, V)); the second argument is the prompt length.
ANY = {
    "None": lambda x, q: None,
    "list of ids": lambda x, q: x.tolist(),
    "pair of tensors": lambda x, q: (x, x),
    "list of row tensors": lambda x, q: list(x),
    "string": lambda x, q: "0 1 > 1 <eos>",
    "list of strings": lambda x, q: [["1", EOS]] * len(x),
    "list of None": lambda x, q: [None] * len(x),
    "dict": lambda x, q: {"ids": x},
    "int": lambda x, q: 3,
    "float": lambda x, q: 0.5,
    "numpy array": lambda x, q: x.numpy(),
    "torch.Size": lambda x, q: x.shape,
    "a generator": lambda x, q: (row for row in x),
    "0-d tensor": lambda x, q: torch.tensor(1),
    "1-D flattened": lambda x, q: x.flatten(),
    "first row only, 1-D": lambda x, q: x[0],
    "extra trailing dim": lambda x, q: x.unsqueeze(-1),
    "extra leading dim": lambda x, q: x.unsqueeze(0),
    "one row too few": lambda x, q: x[:-1],
    "no rows": lambda x, q: x[:0],
    "one row too many": lambda x, q: torch.cat([x, x[:1]]),
    "twice the rows": lambda x, q: torch.cat([x, x]),
    "batch and length swapped": lambda x, q: x.transpose(0, 1),
    "bool": lambda x, q: x.bool(),
    "complex": lambda x, q: x.to(torch.complex64),
    "meta device": lambda x, q: x.to("meta"),
    "empty last dim": lambda x, q: x[..., :0],
    "all NaN": lambda x, q: torch.full(x.shape, NAN),
    "all +inf": lambda x, q: torch.full(x.shape, INF),
    "all -inf": lambda x, q: torch.full(x.shape, -INF),
}

# Corruptions of generated ids (b, L): the prompt's first q columns, then the new tokens.
IDS = {
    "float ids": lambda x, q: x.float(),
    "float64 ids": lambda x, q: x.double(),
    "half ids": lambda x, q: x.half(),
    "ids plus 0.5": lambda x, q: x.double() + 0.5,
    "ids as one-hot logits": lambda x, q: torch.nn.functional.one_hot(x).float(),
    "no new token": lambda x, q: x[:, :q],
    "shorter than the prompt": lambda x, q: x[:, : q - 1],
    "no columns": lambda x, q: x[:, :0],
    "new tokens without the prompt": lambda x, q: x[:, q:],
    "prompt changed": lambda x, q: torch.cat([(x[:, :1] + 1) % 2, x[:, 1:]], dim=1),
    "ids at vocab size": _new_part(7),  # the parity tokenizer's vocab is 7 tokens, the digits' 6
    "ids of a larger decoder vocab": _new_part(12),
    "negative ids": _new_part(-1),
    "ids 2**62": _new_part(2**62),
    "ids int64 min": _new_part(-(2**63)),
}

# Corruptions of logits (b, L, V) whose argmax is the right token.
LOGITS = {
    "no vocab dim (argmax ids)": lambda x, q: x.argmax(-1),
    "no vocab dim (float)": lambda x, q: x.amax(-1),
    "vocab dim first": lambda x, q: x.transpose(1, 2),
    "a smaller vocab": lambda x, q: x[..., :-1],
    "one position short": lambda x, q: x[:, :-1],
    "one position long": lambda x, q: torch.cat([x, x[:, -1:]], dim=1),
    "integer logits": lambda x, q: x.long(),
    "uint8 logits": lambda x, q: x.to(torch.uint8),
    "NaN at the answer position": lambda x, q: torch.cat([x[:, :-1], torch.full_like(x[:, -1:], NAN)], dim=1),
    "+inf on the right token": lambda x, q: x * INF,
    "half overflowing to inf": lambda x, q: (x * 1e5).half(),
    "huge negated logits": lambda x, q: -x * 1e30,
    "NaN times the logits": lambda x, q: x * NAN,
}


def _kinds(*tables):
    return [(name, fn) for table in tables for name, fn in table.items()]


REASON_KINDS = ("wrong answer", "id outside vocabulary")


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # panel_accuracy warns when it scores malformed logits
        return call()


# --- the oracles score 1.0 -----------------------------------------------------------------------------------------


def test_the_uncorrupted_oracles_score_one():
    keep = lambda x: x  # noqa: E731
    res = evaluate(_Generator(_parity_generate, keep), PARITY_EXAMPLES, PARITY_TOK, cot=False)
    assert res["accuracy"] == 1.0 and res["reasons"] == {"correct": 5}
    acc = DIGITS.accuracy(_Generator(_digits_generate, keep), batch_size=DIGIT_BATCH)
    assert acc == {"token_acc": 1.0, "seq_acc": 1.0}
    assert exact_match(_Forward(_parity_logits, keep), PARITY_EXAMPLES, PARITY_TOK, cot=False) == 1.0
    assert branch_choice_accuracy(_Forward(_search_logits, keep), SEARCH_EXAMPLES, SEARCH_TOK) == 1.0
    assert panel_accuracy(_panel_logits(), PANEL_ANSWER) == (1.0, 1.0)


# --- every corruption through every scorer it applies to -----------------------------------------------------------

GENERATED = _kinds(ANY, IDS)
FORWARD = _kinds(ANY, LOGITS)


def test_at_least_fifty_kinds_of_malformed_output():
    assert len(set(ANY) | set(IDS) | set(LOGITS)) >= 50


@pytest.mark.parametrize("name, corrupt", GENERATED, ids=[k for k, _ in GENERATED])
def test_evaluate_scores_malformed_generate_output_wrong(name, corrupt):
    n_query = len(PARITY_EXAMPLES[0].query(False))
    model = _Generator(_parity_generate, lambda x: corrupt(x, n_query))
    res = evaluate(model, PARITY_EXAMPLES, PARITY_TOK, cot=False)
    assert set(res) == {"accuracy", "n", "reasons"} and res["n"] == 5
    assert res["accuracy"] == 0.0 and sum(res["reasons"].values()) == 5
    for reason in res["reasons"]:  # grouped by kind of failure
        assert reason.startswith("malformed") or reason in REASON_KINDS, reason


@pytest.mark.parametrize("name, corrupt", GENERATED, ids=[k for k, _ in GENERATED])
def test_digit_accuracy_scores_malformed_generate_output_wrong(name, corrupt):
    model = _Generator(_digits_generate, lambda x: corrupt(x, DIGITS.n + 1))
    acc = DIGITS.accuracy(model, batch_size=DIGIT_BATCH)
    assert set(acc) == {"token_acc", "seq_acc"}
    assert 0.0 <= acc["token_acc"] <= 1.0 and acc["seq_acc"] == 0.0


@pytest.mark.parametrize("name, corrupt", FORWARD, ids=[k for k, _ in FORWARD])
def test_exact_match_scores_malformed_logits_wrong(name, corrupt):
    model = _Forward(_parity_logits, lambda x: corrupt(x, 0))
    assert exact_match(model, PARITY_EXAMPLES, PARITY_TOK, cot=False) == 0.0


@pytest.mark.parametrize("name, corrupt", FORWARD, ids=[k for k, _ in FORWARD])
def test_branch_choice_accuracy_scores_malformed_logits_wrong(name, corrupt):
    model = _Forward(_search_logits, lambda x: corrupt(x, 0))
    assert branch_choice_accuracy(model, SEARCH_EXAMPLES, SEARCH_TOK) == 0.0


PANEL_KINDS = [(k, fn) for k, fn in FORWARD if k != "a smaller vocab"]  # panel_accuracy is not told the vocab


@pytest.mark.parametrize("name, corrupt", PANEL_KINDS, ids=[k for k, _ in PANEL_KINDS])
def test_panel_accuracy_scores_malformed_logits_wrong(name, corrupt):
    panel, attribute = _quiet(lambda: panel_accuracy(corrupt(_panel_logits(), 0), PANEL_ANSWER))
    assert isinstance(panel, float) and isinstance(attribute, float)
    assert panel == 0.0 and 0.0 <= attribute <= 1.0


# --- the specific cases of the issue ---------------------------------------------------------------------------


def test_one_new_token_is_not_broadcast_against_every_answer_digit():
    # the model writes the right first digit and stops: 1 digit of n is right, not the 0.375 a broadcast gave
    model = _Generator(_digits_generate, lambda x: x[:, : DIGITS.n + 2])
    acc = DIGITS.accuracy(model, batch_size=DIGIT_BATCH)
    assert acc == {"token_acc": 1 / DIGITS.n, "seq_acc": 0.0}


def test_a_decoder_with_a_larger_vocab_than_the_tokenizer_is_scored():
    n_query = len(PARITY_EXAMPLES[0].query(False))
    beyond = _Generator(_parity_generate, lambda x: _new_part(len(PARITY_TOK) + 19)(x, n_query))
    assert evaluate(beyond, PARITY_EXAMPLES, PARITY_TOK, cot=False)["reasons"] == {"id outside vocabulary": 5}
    torch.manual_seed(0)
    model = Decoder(len(PARITY_TOK) + 20, d_model=8, n_heads=2, n_layers=1, max_len=32)
    res = evaluate(model, PARITY_EXAMPLES, PARITY_TOK, cot=True)  # random ids up to 26: scored, no crash
    assert res["n"] == 5 and sum(res["reasons"].values()) == 5 and 0.0 <= res["accuracy"] <= 1.0
    assert 0.0 <= exact_match(model, PARITY_EXAMPLES, PARITY_TOK, cot=True) <= 1.0


def test_reasons_group_by_kind_not_by_each_wrong_answer():
    # five different wrong outputs of two kinds: two reasons, not five
    written = [["0", "0"], ["1", "1", "0"], ["0", "1", "1"], ["<pad>"], [";", ";"]]
    new = torch.tensor([PARITY_TOK.encode((w + [EOS] * 4)[:4]) for w in written])

    def wrong(x):
        return torch.cat([x[:, :-2], new[: len(x)]], dim=1)

    res = evaluate(_Generator(_parity_generate, wrong), PARITY_EXAMPLES, PARITY_TOK, cot=False)
    assert res["reasons"] == {"wrong answer": 3, "malformed: special token in the answer": 2}
