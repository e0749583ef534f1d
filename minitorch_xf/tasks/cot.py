r"""Chain-of-thought tasks (Feng et al., 2023; Merrill & Sabharwal, 2023): each example in a direct and a CoT format.

Every task draws an :class:`Example` (prompt tokens, CoT steps, answer tokens) from a ``random.Random`` and writes
it as one of two token sequences:

* direct: ``prompt > answer <eos>``
* CoT:    ``prompt | step_1 ; step_2 ; ... ; step_k > answer <eos>``

(the step separator is ``;`` for tasks whose steps are several tokens, nothing for one-token steps). A model is
trained on the tokens after the prompt marker (``>`` or ``|``) and scored on the answer alone: the tokens between
the last ``>`` and ``<eos>`` (:func:`score_output`). Tokens are strings; a :class:`Tokenizer` maps them to ids.

Tasks: arithmetic mod p (one operation reduced per step), linear equations mod p (one Gauss–Jordan elimination
per step), longest increasing subsequence and edit distance (one DP entry / DP row per step), parity (running
parity after each bit) and membership in a regular language (the automaton's state after each symbol).

Shapes: b batch, L padded sequence length; ``training_batch`` returns inputs and targets of shape (b, L - 1).
"""

from __future__ import annotations

import numbers
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from .._validate import check_choice, check_flag, check_number, check_positive

__all__ = [
    "ANSWER",
    "COT",
    "EOS",
    "PAD",
    "SEP",
    "SPECIALS",
    "ArithmeticTask",
    "AutomatonTask",
    "EditDistanceTask",
    "EquationsTask",
    "Example",
    "LISTask",
    "ParityTask",
    "Tokenizer",
    "evaluate",
    "exact_match",
    "is_prime",
    "score_output",
    "training_batch",
]

PAD, EOS, COT, ANSWER, SEP = "<pad>", "<eos>", "|", ">", ";"
SPECIALS = (PAD, EOS, COT, ANSWER, SEP)


def is_prime(p: int) -> bool:
    """Trial division: is the int ``p`` a prime."""
    p = check_number("p", p, integer=True)
    return p >= 2 and all(p % q for q in range(2, int(p**0.5) + 1))


def _check_token_list(name: str, tokens) -> None:
    """A list (or tuple) of token strings; a plain string is refused (it would be read one character per token)."""
    if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
        hint = " (use .split())" if isinstance(tokens, str) else ""
        raise TypeError(f"{name} must be a list of token strings, got {type(tokens).__name__} {tokens!r:.60}{hint}")
    bad = [t for t in tokens if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{name} must hold token strings, got {bad[:3]!r}")


@dataclass
class Example:
    """One problem: ``prompt`` and ``answer`` are token lists; ``steps`` a list of token lists (the CoT)."""

    prompt: list[str]
    steps: list[list[str]]
    answer: list[str]
    step_sep: bool = True  # join the steps with ";" (multi-token steps) or not (one token per step)

    def __post_init__(self):
        for name in ("prompt", "answer"):
            _check_token_list(name, getattr(self, name))
        if isinstance(self.steps, (str, bytes)) or not isinstance(self.steps, Sequence):
            raise TypeError(f"steps must be a list of token lists, got {type(self.steps).__name__}")
        for i, step in enumerate(self.steps):
            _check_token_list(f"steps[{i}]", step)
        check_flag("step_sep", self.step_sep)

    def sequence(self, cot: bool) -> list[str]:
        """The full token sequence in the CoT (``cot=True``) or the direct format."""
        if not cot:
            return [*self.prompt, ANSWER, *self.answer, EOS]
        body: list[str] = []
        for i, step in enumerate(self.steps):
            if i and self.step_sep:
                body.append(SEP)
            body.extend(step)
        return [*self.prompt, COT, *body, ANSWER, *self.answer, EOS]

    def query(self, cot: bool) -> list[str]:
        """What the model is given: the prompt and the format's marker (``|`` for CoT, ``>`` for direct)."""
        return [*self.prompt, COT if cot else ANSWER]


class _Task:
    """Shared helpers: the vocabulary and a list of examples from a seed."""

    step_sep = True

    def tokens(self) -> list[str]:  # pragma: no cover - every task overrides it
        raise NotImplementedError

    def vocabulary(self) -> list[str]:
        """Special tokens, then this task's tokens (no duplicates)."""
        return list(dict.fromkeys([*SPECIALS, *self.tokens()]))

    def sample(self, rng: random.Random) -> Example:  # pragma: no cover
        raise NotImplementedError

    def examples(self, n: int, seed: int) -> list[Example]:
        """``n`` examples drawn from ``random.Random(seed)``."""
        n = check_positive("n", n)
        seed = check_positive("seed", seed, allow_zero=True)  # a Python int: random.Random refuses numpy ints
        rng = random.Random(seed)
        return [self.sample(rng) for _ in range(n)]

    def _example(self, prompt, steps, answer) -> Example:
        return Example(list(prompt), [list(s) for s in steps], list(answer), step_sep=self.step_sep)


def _check_rng(rng) -> None:
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")


OPERATORS = ("+", "-", "*")


@dataclass
class ArithmeticTask(_Task):
    r"""Expressions $a_0 \circ_1 a_1 \circ_2 \dots \circ_k a_k \bmod p$, ``n_ops`` operators from ``ops``.

    CoT (Feng et al., 2023, sec. 3): each step reduces one operation (the leftmost ``*``, else the leftmost
    ``+``/``-``, i.e. the usual precedence) and writes the shorter expression; the answer is the value mod p.
    Numbers are the tokens ``"0" .. str(p-1)``. Without ``*`` reductions go left to right.

    ``parens=True`` draws a uniformly random binary tree with ``n_ops`` operators instead of a flat expression and
    writes every compound operand in parentheses, e.g. ``( 1 + 2 ) * ( 3 - ( 4 * 0 ) )``: the nesting Feng et al.'s
    arithmetic has, which makes the value depend on the whole bracket structure. Each CoT step then reduces the
    leftmost operation whose two operands are numbers, ``( a op b )`` -> its value (brackets included).
    """

    p: int = 5
    n_ops: int = 3
    ops: tuple[str, ...] = OPERATORS
    parens: bool = False

    def __post_init__(self):
        check_number("p", self.p, integer=True, low=2)
        check_positive("n_ops", self.n_ops)
        if isinstance(self.ops, str) or not self.ops:
            raise ValueError(f"ops={self.ops!r} must be a non-empty tuple of operators from {OPERATORS}")
        for op in self.ops:
            check_choice("operator", op, OPERATORS)
        self.ops = tuple(self.ops)
        check_flag("parens", self.parens)

    def tokens(self) -> list[str]:
        return [*(str(i) for i in range(self.p)), *OPERATORS, *(("(", ")") if self.parens else ())]

    def reduce_once(self, expr: list[str]) -> list[str]:
        """One CoT step: apply the first operation by precedence and return the shorter expression."""
        if self.parens:
            return self._reduce_innermost(expr)
        ops_at = [i for i in range(1, len(expr), 2)]
        times = [i for i in ops_at if expr[i] == "*"]
        i = times[0] if times else ops_at[0]
        a, op, b = int(expr[i - 1]), expr[i], int(expr[i + 1])
        value = {"+": a + b, "-": a - b, "*": a * b}[op] % self.p
        return [*expr[: i - 1], str(value), *expr[i + 2 :]]

    def _reduce_innermost(self, expr: list[str]) -> list[str]:
        # the leftmost "a op b" with two number operands is a leaf operation of the tree: in a fully bracketed
        # expression it is either "( a op b )" or the whole expression
        for i in range(1, len(expr) - 1):
            if expr[i] in OPERATORS and expr[i - 1].isdigit() and expr[i + 1].isdigit():
                a, op, b = int(expr[i - 1]), expr[i], int(expr[i + 1])
                value = str({"+": a + b, "-": a - b, "*": a * b}[op] % self.p)
                if i >= 2 and expr[i - 2] == "(" and i + 2 < len(expr) and expr[i + 2] == ")":
                    return [*expr[: i - 2], value, *expr[i + 3 :]]
                return [*expr[: i - 1], value, *expr[i + 2 :]]
        raise ValueError(f"no operation with two number operands in {' '.join(expr)!r}")

    def _tree(self, rng: random.Random, n_ops: int, top: bool) -> list[str]:
        # a random binary tree with n_ops operators: the left subtree gets a uniform share of them
        if n_ops == 0:
            return [str(rng.randrange(self.p))]
        left = rng.randrange(n_ops)
        body = [*self._tree(rng, left, False), rng.choice(self.ops), *self._tree(rng, n_ops - 1 - left, False)]
        return body if top else ["(", *body, ")"]

    def sample(self, rng: random.Random) -> Example:
        _check_rng(rng)
        if self.parens:
            expr = self._tree(rng, self.n_ops, top=True)
        else:
            expr = [str(rng.randrange(self.p))]
            for _ in range(self.n_ops):
                expr += [rng.choice(self.ops), str(rng.randrange(self.p))]
        steps, cur = [], expr
        while len(cur) > 1:
            cur = self.reduce_once(cur)
            steps.append(cur)
        return self._example(expr, steps[:-1], steps[-1])


def _inverse(a: int, p: int) -> int:
    return pow(a, p - 2, p)  # Fermat: p is prime


@dataclass
class EquationsTask(_Task):
    r"""A system $Ax = b$ over $\mathbb Z_p$ with ``n_vars`` unknowns and one solution; ``p`` must be prime.

    Written ``c x1 + c x2 + ... = b , ...`` (every coefficient shown). CoT (Feng et al., 2023): step k picks an
    equation with a nonzero coefficient of variable k among those not used yet, moves it to row k, scales it to
    coefficient 1 and eliminates variable k from every other equation (Gauss–Jordan), then writes the system.
    After ``n_vars`` steps the system reads $x_k = s_k$; the answer is ``s_1 ... s_n``.
    """

    p: int = 5
    n_vars: int = 2

    def __post_init__(self):
        check_number("p", self.p, integer=True, low=2)
        if not is_prime(self.p):
            raise ValueError(f"p={self.p} is not prime: elimination mod p needs the inverse of every nonzero number")
        check_positive("n_vars", self.n_vars)

    def names(self) -> list[str]:
        return [f"x{j + 1}" for j in range(self.n_vars)]

    def tokens(self) -> list[str]:
        return [*(str(i) for i in range(self.p)), *self.names(), "+", "=", ","]

    def write(self, rows: list[list[int]]) -> list[str]:
        """Rows ``[c_1, ..., c_n, b]`` -> tokens ``c_1 x1 + ... + c_n xn = b , ...``."""
        out: list[str] = []
        for r, row in enumerate(rows):
            if r:
                out.append(",")
            for j, name in enumerate(self.names()):
                out += (["+"] if j else []) + [str(row[j]), name]
            out += ["=", str(row[-1])]
        return out

    def eliminate(self, rows: list[list[int]], k: int) -> list[list[int]]:
        """Gauss–Jordan step k: pivot on variable k (rows 0..k-1 are already used)."""
        p = self.p
        rows = [r[:] for r in rows]
        pivot = next(r for r in range(k, len(rows)) if rows[r][k] % p)
        rows[k], rows[pivot] = rows[pivot], rows[k]
        inv = _inverse(rows[k][k], p)
        rows[k] = [c * inv % p for c in rows[k]]
        for r in range(len(rows)):
            if r != k and rows[r][k]:
                f = rows[r][k]
                rows[r] = [(c - f * ck) % p for c, ck in zip(rows[r], rows[k], strict=True)]
        return rows

    def _invertible(self, a: list[list[int]]) -> bool:
        rows = [[*r[:], 0] for r in a]
        for k in range(self.n_vars):
            if not any(rows[r][k] % self.p for r in range(k, self.n_vars)):
                return False
            rows = self.eliminate(rows, k)
        return True

    def sample(self, rng: random.Random) -> Example:
        _check_rng(rng)
        n, p = self.n_vars, self.p
        while True:
            a = [[rng.randrange(p) for _ in range(n)] for _ in range(n)]
            if self._invertible(a):
                break
        x = [rng.randrange(p) for _ in range(n)]
        rows = [[*a[i], sum(c * v for c, v in zip(a[i], x, strict=True)) % p] for i in range(n)]
        prompt, steps = self.write(rows), []
        for k in range(n):
            rows = self.eliminate(rows, k)
            steps.append(self.write(rows))
        return self._example(prompt, steps, [str(v) for v in x])


@dataclass
class LISTask(_Task):
    r"""Length of the longest strictly increasing subsequence of ``n`` numbers from ``range(n_values)``.

    CoT (Feng et al., 2023, sec. 4): the DP entries $f_i = 1 + \max(\{0\} \cup \{f_j : j < i, a_j < a_i\})$, one token
    per step; the answer is $\max_i f_i$.
    """

    n: int = 8
    n_values: int = 10
    step_sep = False

    def __post_init__(self):
        check_positive("n", self.n)
        check_positive("n_values", self.n_values)

    def tokens(self) -> list[str]:
        return [str(i) for i in range(max(self.n_values, self.n + 1))]

    def sample(self, rng: random.Random) -> Example:
        _check_rng(rng)
        a = [rng.randrange(self.n_values) for _ in range(self.n)]
        f: list[int] = []
        for i, ai in enumerate(a):
            f.append(1 + max([0, *(f[j] for j in range(i) if a[j] < ai)]))
        return self._example([str(v) for v in a], [[str(v)] for v in f], [str(max(f))])


@dataclass
class EditDistanceTask(_Task):
    r"""Levenshtein distance between strings of lengths ``m`` and ``n`` over the first ``n_letters`` of ``abc...``.

    CoT (Feng et al., 2023, sec. 4): the DP table $D_{i,j} = \min(D_{i-1,j} + 1, D_{i,j-1} + 1,
    D_{i-1,j-1} + [a_i \ne b_j])$ written one row ($n + 1$ entries) per step, $i = 1..m$ (row 0 is $0..n$); the
    answer is $D_{m,n}$. Prompt: ``a_1 .. a_m , b_1 .. b_n``.
    """

    m: int = 4
    n: int = 4
    n_letters: int = 3

    def __post_init__(self):
        check_positive("m", self.m)
        check_positive("n", self.n)
        check_number("n_letters", self.n_letters, integer=True, low=1, high=26)

    def letters(self) -> list[str]:
        return [chr(ord("a") + i) for i in range(self.n_letters)]

    def tokens(self) -> list[str]:
        return [*self.letters(), ",", *(str(i) for i in range(max(self.m, self.n) + 1))]

    def table(self, a: Sequence[str], b: Sequence[str]) -> list[list[int]]:
        """The (m+1) x (n+1) DP table."""
        d = [list(range(len(b) + 1))]
        for i in range(1, len(a) + 1):
            row = [i]
            for j in range(1, len(b) + 1):
                row.append(min(d[i - 1][j] + 1, row[j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])))
            d.append(row)
        return d

    def sample(self, rng: random.Random) -> Example:
        _check_rng(rng)
        a = [rng.choice(self.letters()) for _ in range(self.m)]
        b = [rng.choice(self.letters()) for _ in range(self.n)]
        d = self.table(a, b)
        return self._example([*a, ",", *b], [[str(v) for v in row] for row in d[1:]], [str(d[-1][-1])])


@dataclass
class ParityTask(_Task):
    r"""Parity of ``n`` bits $b_1 \dots b_n$; the answer is $p_n = b_1 \oplus \dots \oplus b_n$ ($p_0 = 0$).

    Two scratchpads, one token per step:

    - ``scratchpad="running"``: the running parities $p_1 \dots p_{n-1}$ (Anil et al., 2022). Each step is the
      XOR of the previous step and a bit of the prompt.
    - ``scratchpad="paired"``: step $i$ is the pair token $p_{i-1} b_i$ (one of ``00 01 10 11``): the state of
      the parity automaton next to the symbol it reads. Each step copies a bit of the prompt and reads
      $p_{i-1} = $ XOR of the previous pair token, a function of one token; no step computes an XOR of two
      tokens. The answer is the XOR of the last pair.
    """

    n: int = 20
    scratchpad: str = "running"
    step_sep = False

    def __post_init__(self):
        check_positive("n", self.n)
        check_choice("scratchpad", self.scratchpad, ("running", "paired"))

    def tokens(self) -> list[str]:
        return ["0", "1"] if self.scratchpad == "running" else ["0", "1", "00", "01", "10", "11"]

    def sample(self, rng: random.Random) -> Example:
        _check_rng(rng)
        bits = [rng.randrange(2) for _ in range(self.n)]
        states = [0]  # p_0, p_1, ..., p_n
        for b in bits:
            states.append(states[-1] ^ b)
        if self.scratchpad == "running":
            steps = [[str(v)] for v in states[1:-1]]
        else:
            steps = [[f"{p}{b}"] for p, b in zip(states[:-1], bits, strict=True)]
        return self._example([str(b) for b in bits], steps, [str(states[-1])])


def _mod3_automaton():
    return {"q0": {"0": "q0", "1": "q1"}, "q1": {"0": "q2", "1": "q0"}, "q2": {"0": "q1", "1": "q2"}}


@dataclass
class AutomatonTask(_Task):
    r"""Membership in a regular language given by a DFA: is the string of ``n`` symbols accepted?

    ``transitions[state][symbol]`` -> state; the default DFA reads a binary number (most significant bit first) and
    accepts the multiples of 3. CoT (Merrill & Sabharwal, 2023, regular languages with linear steps): the state
    after each symbol but the last; the answer is ``"yes"`` or ``"no"``.
    """

    n: int = 8
    transitions: dict = field(default_factory=_mod3_automaton)
    start: str = "q0"
    accept: tuple[str, ...] = ("q0",)
    step_sep = False

    def __post_init__(self):
        check_positive("n", self.n)
        if not isinstance(self.transitions, dict) or not self.transitions:
            raise TypeError(
                f"transitions must be a non-empty dict state -> {{symbol: state}}, got {self.transitions!r}"
            )
        states = list(self.transitions)
        alphabets = {tuple(sorted(row)) for row in self.transitions.values()}
        if len(alphabets) != 1:
            raise ValueError(f"transitions={self.transitions!r}: every state needs a move on every symbol")
        self.alphabet = list(next(iter(alphabets)))
        for state, row in self.transitions.items():
            for symbol, target in row.items():
                if target not in self.transitions:
                    raise ValueError(f"transitions[{state!r}][{symbol!r}]={target!r} is not a state of {states}")
        check_choice("start", self.start, states)
        if isinstance(self.accept, str) or not isinstance(self.accept, (tuple, list, set, frozenset)):
            raise TypeError(f"accept must be a tuple of states, got {type(self.accept).__name__} {self.accept!r}")
        for state in self.accept:
            check_choice("accept state", state, states)

    def tokens(self) -> list[str]:
        return [*self.alphabet, *self.transitions, "yes", "no"]

    def sample(self, rng: random.Random) -> Example:
        _check_rng(rng)
        word = [rng.choice(self.alphabet) for _ in range(self.n)]
        states, q = [], self.start
        for s in word:
            q = self.transitions[q][s]
            states.append(q)
        return self._example(word, [[q] for q in states[:-1]], ["yes" if q in self.accept else "no"])


class Tokenizer:
    """Token strings <-> ids; id 0 is ``<pad>``. ``Tokenizer(task.vocabulary())`` or several tasks' union."""

    def __init__(self, vocab: Sequence[str]):
        if isinstance(vocab, (str, bytes)) or not hasattr(vocab, "__iter__"):
            raise TypeError(f"vocab must be a list of token strings, got {type(vocab).__name__} {vocab!r:.60}")
        vocab = list(vocab)
        _check_token_list("vocab", vocab)
        if not vocab or vocab[0] != PAD:
            raise ValueError(f"vocab must start with {PAD!r} (id 0), got {vocab[:3]!r}")
        if len(set(vocab)) != len(vocab):
            dupes = sorted(t for t, c in Counter(vocab).items() if c > 1)
            raise ValueError(f"vocab has duplicate tokens {dupes!r}")
        self.vocab = vocab
        self.ids = {t: i for i, t in enumerate(vocab)}

    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def pad_id(self) -> int:
        return self.ids[PAD]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        if isinstance(tokens, str):
            raise TypeError(f"tokens must be a list of token strings, got the string {tokens!r} (use .split())")
        _check_token_list("tokens", tokens)
        bad = [t for t in tokens if t not in self.ids]
        if bad:
            raise ValueError(f"tokens {bad[:5]!r} are not in the vocabulary of {len(self)} tokens")
        return [self.ids[t] for t in tokens]

    def decode(self, ids) -> list[str]:
        """Ids (a list, a 1-D int tensor or array; numpy ints count as ints) -> token strings."""
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            raise TypeError(f"ids must be a sequence of int ids, got {type(ids).__name__}")
        if isinstance(ids, torch.Tensor) and ids.dim() > 1:
            raise ValueError(f"ids must be 1-D, got a tensor of shape {tuple(ids.shape)}")
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)  # tensors and numpy arrays -> Python ints
        if not isinstance(ids, list):  # a 0-d tensor or array
            raise ValueError(f"ids must be 1-D, got the scalar {ids!r}")
        wrong_type = [i for i in ids if isinstance(i, bool) or not isinstance(i, numbers.Integral)]
        if wrong_type:
            raise TypeError(f"ids must be ints, got {wrong_type[:5]!r}")
        bad = [int(i) for i in ids if not 0 <= i < len(self)]
        if bad:
            raise ValueError(f"ids {bad[:5]!r} are not in [0, {len(self)})")
        return [self.vocab[int(i)] for i in ids]

    def pad(self, seqs: Sequence[Sequence[int]], length: int | None = None) -> torch.Tensor:
        """Right-pad id lists with ``<pad>`` to ``length`` (default: the longest) -> (b, L) int64."""
        if isinstance(seqs, (str, bytes)) or not isinstance(seqs, Sequence):
            raise TypeError(f"seqs must be a list of id lists, got {type(seqs).__name__}")
        if not seqs:
            raise ValueError("seqs is empty: nothing to pad")
        for i, seq in enumerate(seqs):
            if isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence):
                raise TypeError(f"seqs[{i}] must be a list of int ids, got {type(seq).__name__}")
            bad = [
                t for t in seq if isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 0 <= t < len(self)
            ]
            if bad:
                raise ValueError(f"seqs[{i}] holds {bad[:5]!r}, not ids in [0, {len(self)})")
        longest = max(len(s) for s in seqs)
        length = longest if length is None else check_positive("length", length)
        if length < longest:
            raise ValueError(f"length={length} is shorter than the longest sequence ({longest} tokens)")
        return torch.tensor([list(s) + [self.pad_id] * (length - len(s)) for s in seqs], dtype=torch.long)


def training_batch(examples: Sequence[Example], tokenizer: Tokenizer, cot: bool):
    """Next-token inputs (b, L-1) and targets (b, L-1): targets are -100 on the prompt and on padding.

    The loss is taken on what the model writes: every token after the format's marker, ``<eos>`` included.
    """
    check_flag("cot", cot)
    _check_examples(examples)
    _check_tokenizer(tokenizer)
    seqs = [tokenizer.encode(ex.sequence(cot)) for ex in examples]
    ids = tokenizer.pad(seqs)  # (b, L)
    inputs, targets = ids[:, :-1], ids[:, 1:].clone()  # (b, L-1) each
    for row, ex in enumerate(examples):
        n_query = len(ex.query(cot))
        targets[row, : n_query - 1] = -100  # predictions of prompt tokens are not scored
    targets[targets == tokenizer.pad_id] = -100
    return inputs, targets


def _check_examples(examples) -> None:
    """The caller's examples: a non-empty list or tuple of :class:`Example`."""
    if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence):
        raise TypeError(f"examples must be a list of Example, got {type(examples).__name__}")
    if not examples:
        raise ValueError("examples is empty")
    for i, ex in enumerate(examples):
        if not isinstance(ex, Example):
            raise TypeError(f"examples[{i}] must be an Example, got {type(ex).__name__}")


def _check_tokenizer(tokenizer) -> None:
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"tokenizer must be a Tokenizer, got {type(tokenizer).__name__}")


def _model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (cpu for a model with neither)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


# The kinds of failure a scorer reports: the reasons counter groups by these, never by each distinct output.
WRONG = "wrong answer"
NO_EOS = "malformed: no <eos> in the output"
NO_MARKER = "malformed: no '>' answer marker before <eos>"
EMPTY = "malformed: empty answer after '>'"
SPECIAL = "malformed: special token in the answer"
NOT_STRING = "malformed: a token that is not a string"
OUT_OF_VOCAB = "id outside vocabulary"


def _malformed(what: str) -> str:
    return f"malformed output: {what}"


def _generated_ids(out, prompt: torch.Tensor) -> tuple[torch.Tensor | None, str]:
    """Check what ``generate(prompt, n_new)`` returned: ``(ids, "")`` with ids (b, L) int64 on the cpu that start
    with the prompt, or ``(None, reason)`` for output that cannot be read (the reason is a kind, not a value)."""
    b, n_query = prompt.shape
    if not isinstance(out, torch.Tensor):
        return None, _malformed(f"generate returned {type(out).__name__}, not a tensor")
    if out.is_meta:
        return None, _malformed("a tensor without data (device meta)")
    if out.dim() != 2:
        return None, _malformed("not a (b, L) tensor")
    if out.shape[0] != b:
        return None, _malformed("wrong number of rows")
    if out.dtype == torch.bool or out.is_floating_point() or out.is_complex():
        return None, _malformed("ids that are not integers")
    if out.shape[1] <= n_query:
        return None, _malformed("no new tokens")
    out = out.detach().cpu().long()
    if not torch.equal(out[:, :n_query], prompt.cpu()):
        return None, _malformed("does not start with the prompt")
    return out, ""


def _logits_rows(logits, b: int, length: int, vocab: int) -> tuple[torch.Tensor | None, str]:
    """Check a forward pass's logits for (b, length) inputs: ``(logits (b, length, V) on the cpu, "")`` or
    ``(None, reason)``. A vocabulary smaller than the tokenizer's cannot write every token: malformed."""
    if not isinstance(logits, torch.Tensor):
        return None, _malformed(f"the model returned {type(logits).__name__}, not a tensor")
    if logits.is_meta:
        return None, _malformed("a tensor without data (device meta)")
    if logits.dim() != 3:
        return None, _malformed("logits not of shape (b, L, vocab)")
    if tuple(logits.shape[:2]) != (b, length):
        return None, _malformed("logits of the wrong batch size or length")
    if not logits.is_floating_point():
        return None, _malformed("logits that are not floating point")
    if logits.shape[2] < vocab:
        return None, _malformed("logits over fewer tokens than the tokenizer's vocabulary")
    return logits.detach().cpu(), ""


def score_output(tokens: Sequence[str], expected: Sequence[str]) -> tuple[bool, str]:
    """Score a generated continuation on its final answer only: ``(correct, reason)``.

    The answer is what lies between the last ``>`` and the first ``<eos>``. Malformed output is wrong, with the
    kind of failure as the reason (the same string for every output that fails the same way): no ``<eos>``, no
    ``>`` before it, an empty answer, a special token inside the answer, or a token that is not a string.
    ``tokens`` and ``expected`` are lists (or tuples) of token strings: a plain string is refused (it would be
    read one character per token).
    """
    if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
        hint = " (use .split())" if isinstance(tokens, str) else ""
        raise TypeError(f"tokens must be a list of token strings, got {type(tokens).__name__} {tokens!r:.60}{hint}")
    _check_token_list("expected", expected)
    if not expected:
        raise ValueError("expected is empty: an answer has at least one token")
    tokens = list(tokens)
    if not all(isinstance(t, str) for t in tokens):
        return False, NOT_STRING
    if EOS not in tokens:
        return False, NO_EOS
    body = tokens[: tokens.index(EOS)]
    if ANSWER not in body:
        return False, NO_MARKER
    answer = body[len(body) - body[::-1].index(ANSWER) :]
    if not answer:
        return False, EMPTY
    if any(t in SPECIALS for t in answer):
        return False, SPECIAL
    if answer != list(expected):
        return False, WRONG
    return True, "correct"


def evaluate(model, examples: Sequence[Example], tokenizer: Tokenizer, cot: bool, max_new: int | None = None) -> dict:
    """Greedy decoding from each example's query; the final answer alone is scored (:func:`score_output`).

    The scored text is the query's marker (``|`` or ``>``) followed by the generated tokens.

    Returns ``{"accuracy", "n", "reasons": Counter}``; ``max_new`` defaults to the longest target plus 4 tokens.
    Examples are decoded in groups of equal query length (no padding inside a prompt). Whatever ``generate``
    returns is scored, never raised on: an id outside the tokenizer's vocabulary, output that is not a (b, L)
    integer tensor starting with the prompt, or one with no new token counts as wrong, its kind in ``reasons``.
    """
    with torch.no_grad():  # a context, not a decorator: the function keeps its own code object
        if not isinstance(model, torch.nn.Module) or not callable(getattr(model, "generate", None)):
            raise TypeError(
                f"model must be an nn.Module with generate(prompt, n_new) (a Decoder), got {type(model).__name__}"
            )
        _check_examples(examples)
        _check_tokenizer(tokenizer)
        check_flag("cot", cot)
        if max_new is None:
            max_new = max(len(ex.sequence(cot)) - len(ex.query(cot)) for ex in examples) + 4
        max_new = check_positive("max_new", max_new)
        device = _model_device(model)
        reasons: Counter = Counter()
        groups: dict[int, list[Example]] = {}
        for ex in examples:
            groups.setdefault(len(ex.query(cot)), []).append(ex)
        n_correct = 0
        for n_query, group in groups.items():
            prompt = torch.tensor([tokenizer.encode(ex.query(cot)) for ex in group], device=device)  # (b, n_query)
            out, why = _generated_ids(model.generate(prompt, max_new), prompt)  # (b, n_query + new)
            if out is None:
                reasons[why] += len(group)
                continue
            for ex, row in zip(group, out[:, n_query - 1 :].tolist(), strict=True):  # the marker, then the output
                if any(not 0 <= i < len(tokenizer) for i in row):
                    ok, why = False, OUT_OF_VOCAB
                else:
                    ok, why = score_output(tokenizer.decode(row), ex.answer)
                n_correct += ok
                reasons[why] += 1
        return {"accuracy": n_correct / len(examples), "n": len(examples), "reasons": reasons}


def exact_match(model, examples: Sequence[Example], tokenizer: Tokenizer, cot: bool) -> float:
    """Fraction of examples whose whole written part (CoT, answer, ``<eos>``) is the argmax at every position
    under teacher forcing.

    One forward pass instead of one per generated token: a cheap early-stopping test. An example passes exactly
    when greedy decoding from its query writes the target sequence, so ``exact_match <= evaluate(...)["accuracy"]``.
    Whatever the model returns is scored, never raised on: logits that are not (b, L, V) floats with V at least the
    tokenizer's vocabulary score every example wrong, and a position whose logits are not all finite is wrong.
    """
    with torch.no_grad():  # a context, not a decorator: the function keeps its own code object
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be an nn.Module (a Decoder), got {type(model).__name__}")
        _check_examples(examples)
        _check_tokenizer(tokenizer)
        inputs, targets = training_batch(examples, tokenizer, cot)  # (b, L-1) each, -100 where not scored
        logits, _ = _logits_rows(model(inputs.to(_model_device(model))), *inputs.shape, len(tokenizer))
        if logits is None:
            return 0.0
        predicted = logits.argmax(-1)  # (b, L-1)
        scored = targets != -100
        right = (predicted == targets) & torch.isfinite(logits).all(-1)  # (b, L-1)
        ok = (right | ~scored).all(dim=1)  # (b,)
        return ok.float().mean().item()
