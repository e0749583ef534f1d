"""sraven against a brute-force reading of each rule's definition, and set arithmetic on the held-out split."""

from __future__ import annotations

from itertools import permutations

import pytest
import torch

from minitorch_xf.tasks.sraven import RULES, SRavenTask, panel_accuracy

pytestmark = pytest.mark.ch11


def _holds(rule: str, rows: list[list[int]], v: int) -> bool:
    """Whether a grid (list of rows) obeys ``rule`` mod v, read directly from the rule's definition."""
    if rule == "constant":
        return all(len(set(row)) == 1 for row in rows)
    if rule.startswith("progression"):
        inc = int(rule.removeprefix("progression"))
        return all(all((row[j + 1] - row[j]) % v == inc % v for j in range(len(row) - 1)) for row in rows)
    if rule == "addition":
        return all(sum(row[:-1]) % v == row[-1] for row in rows)
    if rule == "subtraction":
        return all((row[0] - sum(row[1:-1])) % v == row[-1] for row in rows)
    assert rule == "distribute_three"
    return all(len(set(row)) == len(row) for row in rows) and all(set(row) == set(rows[0]) for row in rows)


@pytest.mark.parametrize("grid, v", [(3, 8), (3, 5), (4, 7)])
def test_every_rule_instance_obeys_its_rule(grid, v):
    task = SRavenTask(n_features=len(RULES), n_values=v, grid=grid, seed=0)
    rules = torch.arange(len(RULES)).repeat(20, 1)  # (20, 8): every rule, twenty times
    values = task.grids(rules, torch.Generator().manual_seed(1))  # (b, r, c, f)
    assert values.shape == (20, grid, grid, len(RULES)) and int(values.min()) >= 0 and int(values.max()) < v
    for b in range(20):
        for f, rule in enumerate(RULES):
            assert _holds(rule, values[b, :, :, f].tolist(), v), f"{rule} broken: {values[b, :, :, f].tolist()}"


def test_held_out_rule_combinations_never_reach_training():
    task = SRavenTask(seed=4)
    train = {tuple(t) for t in task.latents["train"].tolist()}
    ood = {tuple(t) for t in task.latents["ood"].tolist()}
    assert len(train) + len(ood) == 330 and len(ood) == 82  # C(8 + 4 - 1, 4) multisets of rules, a quarter held out
    assert not train & ood
    _, _, rules = task.sample(200, "train", torch.Generator().manual_seed(0))
    assert {tuple(t) for t in rules.tolist()} <= train


def test_tokens_are_the_panels_in_order_and_the_answer_is_blank():
    task = SRavenTask(n_features=3, n_values=6, grid=3, permute=False, seed=0)
    tokens, answer, rules = task.sample(5, "train", torch.Generator().manual_seed(3))
    assert tokens.shape == (5, 27, 6)
    values = tokens[:, :24].argmax(-1).view(5, 8, 3)  # (b, panels, f)
    assert bool((tokens[:, :24].sum(-1) == 1).all()) and bool((tokens[:, 24:] == 0).all())
    for b in range(5):
        full = [*values[b].tolist(), answer[b].tolist()]
        for f in range(3):
            rows = [[full[3 * r + c][f] for c in range(3)] for r in range(3)]
            assert _holds(RULES[rules[b, f]], rows, 6)


def test_permutation_is_shared_down_each_column():
    """Same seed with and without ``permute``: each column of the permuted problem is the unpermuted column with
    its slots reordered by one permutation for all rows (found by brute force over the 24 orders)."""
    kw = dict(n_features=4, n_values=8, grid=3, seed=0)
    plain, _, _ = SRavenTask(permute=False, **kw).sample(16, "train", torch.Generator().manual_seed(5))
    shuffled, _, _ = SRavenTask(permute=True, **kw).sample(16, "train", torch.Generator().manual_seed(5))
    plain = plain[:, :32].argmax(-1).view(16, 8, 4).tolist()  # (b, panels, f): the answer panel is left out
    shuffled = shuffled[:, :32].argmax(-1).view(16, 8, 4).tolist()
    n_moved = 0
    for b in range(16):
        for c in range(3):
            panels = [3 * r + c for r in range(3) if 3 * r + c < 8]
            fits = [
                p for p in permutations(range(4)) if all(shuffled[b][i] == [plain[b][i][j] for j in p] for i in panels)
            ]
            assert fits, f"problem {b}, column {c}: no single slot permutation maps the plain column onto it"
            n_moved += all(p != tuple(range(4)) for p in fits)
    assert n_moved > 0, "permute=True never moved a slot"


def test_panel_accuracy_counts_whole_panels():
    logits = torch.nn.functional.one_hot(torch.tensor([[1, 2], [3, 0]]), 4).float()
    assert panel_accuracy(logits, torch.tensor([[1, 2], [3, 1]])) == (0.5, 0.75)
