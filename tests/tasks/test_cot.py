"""Chain-of-thought tasks against independent references: Python's ``eval`` mod p, brute-force solving mod p,
brute force over subsequences and a memoised recursion for the DP tasks, ``itertools`` enumerations for parity and
the automaton; the tokenizer round-trips; every CoT step is valid; malformed model output is scored wrong."""

from __future__ import annotations

import functools
import itertools
import random

import pytest
import torch

from minitorch_xf.nn import Decoder
from minitorch_xf.tasks import (
    ArithmeticTask,
    AutomatonTask,
    EditDistanceTask,
    EquationsTask,
    LISTask,
    ParityTask,
    Tokenizer,
    evaluate,
    exact_match,
    score_output,
    training_batch,
)
from minitorch_xf.tasks.cot import ANSWER, COT, EOS, PAD, SEP, Example

pytestmark = pytest.mark.ch06

SEEDS = range(40)


def _eval_mod(tokens: list[str], p: int) -> int:
    return eval(" ".join(tokens)) % p


@pytest.mark.parametrize(
    "p, n_ops, ops", [(5, 3, ("+", "-", "*")), (7, 5, ("+", "*")), (11, 4, ("-",)), (2, 1, ("*",))]
)
def test_arithmetic_answer_and_every_step_equal_eval_mod_p(p, n_ops, ops):
    task = ArithmeticTask(p=p, n_ops=n_ops, ops=ops)
    for ex in task.examples(50, seed=p):
        assert len(ex.prompt) == 2 * n_ops + 1
        assert set(ex.prompt[1::2]) <= set(ops)
        value = _eval_mod(ex.prompt, p)
        assert ex.answer == [str(value)]
        assert len(ex.steps) == n_ops - 1
        for k, step in enumerate(ex.steps):
            assert len(step) == len(ex.prompt) - 2 * (k + 1), "each step reduces exactly one operation"
            assert _eval_mod(step, p) == value, f"step {step} changes the value"


@pytest.mark.parametrize("p, n_ops", [(5, 1), (5, 4), (11, 5), (3, 7)])
def test_bracketed_arithmetic_answer_and_every_step_equal_eval_mod_p(p, n_ops):
    """With parens=True every prompt is a balanced, fully bracketed expression of n_ops operators; every CoT step
    removes exactly one operator and keeps Python's value mod p, and the answer is that value."""
    task = ArithmeticTask(p=p, n_ops=n_ops, parens=True)
    assert {"(", ")"} <= set(task.vocabulary())
    depths = set()
    for ex in task.examples(60, seed=p + n_ops):
        value = _eval_mod(ex.prompt, p)
        assert ex.answer == [str(value)]
        assert len(ex.steps) == n_ops - 1
        depth = 0
        for t in ex.prompt:
            depth += (t == "(") - (t == ")")
            assert depth >= 0
        assert depth == 0
        depths.add(max(ex.prompt[: i + 1].count("(") - ex.prompt[: i + 1].count(")") for i in range(len(ex.prompt))))
        chain = [ex.prompt, *ex.steps, ex.answer]
        for before, after in itertools.pairwise(chain):
            n_ops_of = [sum(t in "+-*" for t in e) for e in (before, after)]
            assert n_ops_of[1] == n_ops_of[0] - 1, f"{before} -> {after}"
            assert _eval_mod(after, p) == value, f"{before} -> {after} changes the value"
    if n_ops >= 4:
        assert max(depths) >= 2, f"no nested brackets in 60 expressions of {n_ops} operators"


def test_bracketed_step_reduces_the_leftmost_leaf_operation():
    task = ArithmeticTask(p=7, parens=True)
    assert task.reduce_once("( 2 + 3 ) * ( 4 - 6 )".split()) == "5 * ( 4 - 6 )".split()
    assert task.reduce_once("2 * ( 3 + ( 4 * 5 ) )".split()) == "2 * ( 3 + 6 )".split()  # 20 mod 7 = 6
    assert task.reduce_once("3 - 5".split()) == ["5"]
    with pytest.raises(ValueError, match="no operation with two number operands"):
        task.reduce_once("( 1 )".split())
    with pytest.raises(TypeError, match="parens must be a bool"):
        ArithmeticTask(parens="yes")


def test_arithmetic_step_applies_precedence():
    task = ArithmeticTask(p=7)
    assert task.reduce_once("2 + 3 * 4".split()) == "2 + 5".split()  # 12 mod 7 = 5: the product first
    assert task.reduce_once("2 - 3 + 4".split()) == "6 + 4".split()  # left to right: -1 mod 7 = 6


@pytest.mark.checks("prop-cot-local")
@pytest.mark.parametrize("p, max_ops", [(2, 4), (3, 3), (5, 2)])
def test_one_step_is_local_on_every_expression(p, max_ops):
    """Every expression with 1..max_ops operators over Z_p: one reduction (a) removes one operator and keeps the value
    (Python's ``eval`` mod p), (b) copies every token but the three at i - 1, i, i + 1, which become their value,
    where i is the operator precedence evaluates first (the leftmost ``*``, else the leftmost ``+``/``-``)."""
    task = ArithmeticTask(p=p)
    n_checked = 0
    for k in range(1, max_ops + 1):
        for numbers in itertools.product(range(p), repeat=k + 1):
            for ops in itertools.product(("+", "-", "*"), repeat=k):
                e = [str(numbers[0])]
                for op, x in zip(ops, numbers[1:], strict=True):
                    e += [op, str(x)]
                reduced = task.reduce_once(list(e))
                assert len(reduced) == len(e) - 2 and len(reduced[1::2]) == k - 1, f"{e} -> {reduced}"  # (a)
                assert _eval_mod(reduced, p) == _eval_mod(e, p), f"{e} -> {reduced} changes the value mod {p}"
                i = 2 * ops.index("*") + 1 if "*" in ops else 1  # (b): the position of the reduced operator
                local = [*e[: i - 1], str(_eval_mod(e[i - 1 : i + 2], p)), *e[i + 2 :]]
                assert reduced == local, f"{e} -> {reduced}, expected the local rewrite {local}"
                n_checked += 1
    assert n_checked == sum(p ** (j + 1) * 3**j for j in range(1, max_ops + 1))


def _solutions(task: EquationsTask, tokens: list[str]) -> list[tuple[int, ...]]:
    """Brute force: every x in Z_p^n that satisfies the written system."""
    p, n = task.p, task.n_vars
    eqs = " ".join(tokens).split(" , ")
    rows = []
    for eq in eqs:
        lhs, rhs = eq.split(" = ")
        coefs = [int(term.split()[0]) for term in lhs.split(" + ")]
        rows.append((coefs, int(rhs)))
    return [
        x
        for x in itertools.product(range(p), repeat=n)
        if all(sum(c * v for c, v in zip(coefs, x, strict=True)) % p == b for coefs, b in rows)
    ]


@pytest.mark.parametrize("p, n_vars", [(5, 2), (3, 3), (7, 1), (2, 3)])
def test_equations_brute_force_and_elimination_steps(p, n_vars):
    task = EquationsTask(p=p, n_vars=n_vars)
    for ex in task.examples(20, seed=n_vars):
        sols = _solutions(task, ex.prompt)
        assert len(sols) == 1, "the system has one solution"
        assert ex.answer == [str(v) for v in sols[0]]
        assert len(ex.steps) == n_vars
        for k, step in enumerate(ex.steps):
            assert _solutions(task, step) == sols, f"step {k} changed the solution set"
            coefs = [[int(t.split()[0]) for t in eq.split(" = ")[0].split(" + ")] for eq in " ".join(step).split(" , ")]
            for r in range(n_vars):  # variables 0..k are eliminated: column j <= k is the unit vector e_j
                for j in range(k + 1):
                    assert coefs[r][j] == (1 if r == j else 0), f"step {k}: coefficient ({r}, {j}) = {coefs[r][j]}"


def _lis_brute(a: list[int]) -> int:
    return max(
        len(idx)
        for n in range(1, len(a) + 1)
        for idx in itertools.combinations(range(len(a)), n)
        if all(a[i] < a[j] for i, j in itertools.pairwise(idx))
    )


def test_lis_steps_and_answer_against_brute_force():
    task = LISTask(n=7, n_values=6)
    for ex in task.examples(60, seed=1):
        a = [int(t) for t in ex.prompt]
        assert ex.answer == [str(_lis_brute(a))]
        for i, step in enumerate(ex.steps):  # f_i = longest increasing subsequence ending at i, by brute force
            ending = max(
                len(idx) + 1
                for n in range(i + 1)
                for idx in itertools.combinations(range(i), n)
                if all(a[x] < a[y] for x, y in itertools.pairwise([*idx, i]))
            )
            assert step == [str(ending)]


def _edit_recursive(a: str, b: str) -> int:
    @functools.cache
    def d(i: int, j: int) -> int:  # distance between the suffixes a[i:], b[j:]
        if i == len(a) or j == len(b):
            return len(a) - i + len(b) - j
        return min(d(i + 1, j) + 1, d(i, j + 1) + 1, d(i + 1, j + 1) + (a[i] != b[j]))

    return d(0, 0)


@pytest.mark.parametrize("m, n", [(4, 4), (3, 5), (1, 2)])
def test_edit_distance_rows_and_answer_against_recursion(m, n):
    task = EditDistanceTask(m=m, n=n, n_letters=3)
    for ex in task.examples(40, seed=m + n):
        a, b = "".join(ex.prompt[:m]), "".join(ex.prompt[m + 1 :])
        assert ex.prompt[m] == ","
        assert ex.answer == [str(_edit_recursive(a, b))]
        assert len(ex.steps) == m
        for i, row in enumerate(ex.steps, start=1):  # D[i][j] = distance between the prefixes a[:i], b[:j]
            assert row == [str(_edit_recursive(a[:i], b[:j])) for j in range(n + 1)]


def test_edit_distance_known_value():
    assert EditDistanceTask(m=6, n=7, n_letters=26).table("kitten", "sitting")[-1][-1] == 3


def test_parity_every_string():
    task = ParityTask(n=6)
    rng = random.Random(0)
    seen = set()
    for _ in range(400):
        ex = task.sample(rng)
        bits = [int(t) for t in ex.prompt]
        seen.add(tuple(bits))
        assert ex.answer == [str(sum(bits) % 2)]
        assert [s[0] for s in ex.steps] == [str(sum(bits[: i + 1]) % 2) for i in range(5)]
    assert len(seen) > 50, "the generator covers many of the 64 strings"
    for bits in itertools.product((0, 1), repeat=4):  # the scratchpad rule on all 16 strings of length 4
        steps = list(itertools.accumulate(bits, lambda x, y: x ^ y))
        assert steps[-1] == sum(bits) % 2


def test_parity_paired_scratchpad():
    task = ParityTask(n=6, scratchpad="paired")
    assert set(task.vocabulary()) >= {"00", "01", "10", "11"}
    rng = random.Random(1)
    for _ in range(200):
        ex = task.sample(rng)
        bits = [int(t) for t in ex.prompt]
        # step i pairs the parity of the first i-1 bits (a sum mod 2) with bit i
        assert [s[0] for s in ex.steps] == [f"{sum(bits[:i]) % 2}{bits[i]}" for i in range(6)]
        assert ex.answer == [str(sum(bits) % 2)]
        last = ex.steps[-1][0]
        assert ex.answer == [str(int(last[0]) ^ int(last[1]))]


def test_automaton_default_accepts_multiples_of_three():
    task = AutomatonTask(n=5)
    rng = random.Random(0)
    for _ in range(200):
        ex = task.sample(rng)
        assert ex.answer == ["yes" if int("".join(ex.prompt), 2) % 3 == 0 else "no"]
        for i, step in enumerate(ex.steps):  # state q_k means: prefix value = k mod 3
            assert step == [f"q{int(''.join(ex.prompt[: i + 1]), 2) % 3}"]


def test_automaton_custom_parity_dfa_on_every_string():
    dfa = {"e": {"0": "e", "1": "o"}, "o": {"0": "o", "1": "e"}}
    task = AutomatonTask(n=4, transitions=dfa, start="e", accept=("o",))
    answers = {}
    rng = random.Random(1)
    for _ in range(300):
        ex = task.sample(rng)
        answers[tuple(ex.prompt)] = ex.answer[0]
    for word in itertools.product("01", repeat=4):
        if word in answers:
            assert answers[word] == ("yes" if word.count("1") % 2 else "no")
    assert len(answers) == 16


ALL_TASKS = [ArithmeticTask(), EquationsTask(p=3, n_vars=2), LISTask(n=5), EditDistanceTask(m=3, n=3), ParityTask(n=5)]


@pytest.mark.parametrize("task", ALL_TASKS, ids=lambda t: type(t).__name__)
def test_tokenizer_round_trip_and_formats(task):
    tok = Tokenizer(task.vocabulary())
    assert tok.vocab[0] == PAD
    for ex in task.examples(10, seed=3):
        for cot in (True, False):
            seq = ex.sequence(cot)
            assert tok.decode(tok.encode(seq)) == seq
            assert seq[-1] == EOS and seq[len(seq) - 1 - len(ex.answer) - 1] == ANSWER
            assert seq[: len(ex.query(cot))] == ex.query(cot)
            assert score_output(seq[len(ex.query(cot)) - 1 :], ex.answer) == (True, "correct")
        assert (COT in ex.sequence(True)) and (COT not in ex.sequence(False))


def test_examples_are_reproducible_from_the_seed():
    task = ArithmeticTask(p=7, n_ops=4)
    assert task.examples(5, seed=9) == task.examples(5, seed=9)
    assert task.examples(5, seed=9) != task.examples(5, seed=10)


def test_pad_and_training_batch_mask_prompt_and_padding():
    task = ArithmeticTask(p=5, n_ops=2)
    tok = Tokenizer(task.vocabulary())
    exs = [Example(["1", "+", "2"], [], ["3"]), Example(["1"], [], ["1"])]
    padded = tok.pad([tok.encode(e.sequence(False)) for e in exs])
    assert padded.shape == (2, 6) and padded[1, 4:].tolist() == [tok.pad_id] * 2
    x, y = training_batch(exs, tok, cot=False)
    assert x.shape == y.shape == (2, 5)
    assert tok.decode(y[0][y[0] != -100]) == ["3", EOS]  # only what follows '>' is scored
    assert tok.decode(y[1][y[1] != -100]) == ["1", EOS]
    ex = task.sample(random.Random(0))
    x, y = training_batch([ex], tok, cot=True)
    assert tok.decode(y[0][y[0] != -100]) == ex.sequence(True)[len(ex.prompt) + 1 :]


@pytest.mark.parametrize(
    "tokens, reason",
    [
        ([ANSWER, "3"], "no <eos>"),
        ([COT, "1", "+", "2", EOS], "no '>'"),
        ([COT, "1", ANSWER, EOS], "empty answer"),
        ([ANSWER, SEP, EOS], "special token"),
        ([ANSWER, "3", "3", EOS], "wrong answer"),
        ([ANSWER, "4", EOS], "wrong answer"),
        ([], "no <eos>"),
    ],
)
def test_score_output_malformed_is_wrong_with_a_reason(tokens, reason):
    ok, why = score_output(tokens, ["3"])
    assert not ok and reason in why


def test_score_output_reads_the_last_marker_before_eos():
    assert score_output([COT, "4", ANSWER, "1", ANSWER, "3", EOS, ANSWER, "9"], ["3"]) == (True, "correct")


class _Oracle(Decoder):
    """Writes a fixed continuation whatever the prompt: lets us test the evaluator's parsing."""

    def __init__(self, vocab_size, script):
        super().__init__(vocab_size, d_model=8, n_heads=2, n_layers=1, max_len=64)
        self.script = script

    @torch.no_grad()
    def generate(self, prompt, n_new):
        out = torch.tensor(self.script, dtype=torch.long).expand(prompt.shape[0], -1)
        return torch.cat([prompt, out[:, :n_new]], dim=1)


def test_evaluate_scores_correct_malformed_and_untrained_output():
    task = ParityTask(n=4)
    tok = Tokenizer(task.vocabulary())
    exs = task.examples(30, seed=0)
    n_odd = sum(ex.answer == ["1"] for ex in exs)
    says_one = _Oracle(len(tok), tok.encode(["1", EOS, "0", "0"]))
    res = evaluate(says_one, exs, tok, cot=False, max_new=4)
    assert res["accuracy"] == pytest.approx(n_odd / 30) and res["reasons"]["correct"] == n_odd
    garbage = _Oracle(len(tok), tok.encode(["0", "1", "0", "1"]))
    res = evaluate(garbage, exs, tok, cot=True, max_new=4)
    assert res["accuracy"] == 0 and res["reasons"] == {"malformed: no <eos> in the output": 30}
    torch.manual_seed(0)
    untrained = Decoder(len(tok), d_model=16, n_heads=2, n_layers=1, max_len=32)
    res = evaluate(untrained, exs, tok, cot=True)  # random output: scored, never a crash
    assert res["n"] == 30 and sum(res["reasons"].values()) == 30 and 0 <= res["accuracy"] <= 1


def test_exact_match_is_greedy_decoding_reproducing_the_target():
    task = ParityTask(n=4, scratchpad="paired")
    tok = Tokenizer(task.vocabulary())
    exs = task.examples(40, seed=3)
    torch.manual_seed(0)
    model = Decoder(len(tok), d_model=16, n_heads=2, n_layers=1, max_len=16, positions="rope")
    rng = random.Random(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(25):  # a partly trained model: right on some strings (about half), wrong on others
        x, y = training_batch([task.sample(rng) for _ in range(32)], tok, True)
        loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten(), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
    reproduced = 0
    for ex in exs:  # the reference: greedy generation, compared token by token with the target
        query, full = tok.encode(ex.query(True)), tok.encode(ex.sequence(True))
        out = model.generate(torch.tensor([query]), len(full) - len(query))[0].tolist()
        reproduced += out == full
    assert 0 < reproduced < len(exs), "the test needs a model that is right on some strings only"
    assert exact_match(model, exs, tok, True) == pytest.approx(reproduced / len(exs))
    assert exact_match(model, exs, tok, True) <= evaluate(model, exs, tok, True)["accuracy"]
