"""Start chapter NN: every file of a chapter, already formatted, tagged and registered (issue 24).

    make chapter NN=14 SLUG=toy-pool TITLE="Mean pooling" [PAPER="Doe et al. (2030)"]
    python tools/new_chapter.py 14 toy-pool --title "Mean pooling" [--root DIR]

Writes (and refuses to overwrite):
  book/chNN-SLUG.md                    the derivation page: "# NN. Title", numbered sections, one proposition with a
                                       label, the package code by literalinclude, a bibliography with key prefix chNN-
  notebooks/chNN-SLUG.ipynb            the experiment: header with the budget from budget_s, setup cell, sizes via
                                       rt.pick, "## Checks" naming the proposition, the paper-vs-book table
  solutions/chNN-SLUG.ipynb            three exercises: solution cells and graded check cells (nbgrader metadata)
  minitorch_xf/checks/chNN.py          the exercises' checks, against references independent of the package
  minitorch_xf/theory/<slug>.py        the package code, registered in minitorch_xf/theory/__init__.py
  tests/theory/test_<slug>.py          unit tests (pytestmark = pytest.mark.chNN)
  tests/theory/test_<slug>_bad_inputs.py  the bad-input walker (tests/bad_calls.py)
  tests/mutations/chNN.py              breakages of the package code the checks must catch
and adds the toc entry (_toc.yml, before "Teaching with this book") and the README row, then regenerates
exercises/. What is left is the content: every "TODO" (tests fail while one is left in the paper-vs-book row).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools import notebook_template as tpl  # noqa: E402


def page(nn: int, slug: str, title: str, module: str) -> str:
    return f"""# {nn}. {title}

TODO: what this chapter shows, in two sentences, and who showed it first {{cite:p}}`ch{nn:02d}-doe2030toy`. The notebook
{{doc}}`../notebooks/ch{nn:02d}-{slug}` measures it; the exercises are in `exercises/ch{nn:02d}-{slug}.ipynb`.

## {nn}.1 The object

TODO: define it. The package computes it with

```{{literalinclude}} ../minitorch_xf/theory/{module}.py
:pyobject: mean_pool
```

## {nn}.2 The result

```{{prf:proposition}} Mean pooling is permutation invariant
:label: prop-ch{nn:02d}-mean-pool-invariant

For tokens $x_1, \\dots, x_n \\in \\mathbb R^d$ and any permutation $\\pi$,
$\\frac1n \\sum_i x_{{\\pi(i)}} = \\frac1n \\sum_i x_i$.
```

```{{prf:proof}}
A sum does not depend on the order of its terms.
```

## {nn}.3 Paper versus this book

TODO: the claims the notebook checks, and where the book falls short of the paper.

## Exercises

The exercise notebook (`exercises/ch{nn:02d}-{slug}.ipynb`) asks for mean pooling, its scaled form and centring.

```{{bibliography}}
:filter: docname in docnames
:keyprefix: ch{nn:02d}-
```
"""


def module_source(nn: int, title: str) -> str:
    return f'''r"""Chapter {nn}: {title}. TODO: one line on what this module computes.

Shapes: ``n`` tokens, ``d`` features; ``...`` any batch dims.
"""

from __future__ import annotations

import torch

from .._validate import check_tensor

__all__ = ["centred", "mean_pool"]


def mean_pool(x: torch.Tensor) -> torch.Tensor:
    r"""$\\bar x = \\frac1n \\sum_{{i=1}}^n x_i$ (TODO: source). ``x`` (..., n, d) -> (..., d)."""
    x = check_tensor("x", x, min_ndim=2, floating=True)
    if x.shape[-2] == 0:
        raise ValueError(f"x has shape {{tuple(x.shape)}}: mean pooling needs at least one token (n >= 1)")
    return x.sum(dim=-2) / x.shape[-2]  # (..., d)


def centred(x: torch.Tensor) -> torch.Tensor:
    r"""$x_i - \\bar x$ for every token (TODO: source). ``x`` (..., n, d) -> (..., n, d)."""
    return x - mean_pool(x).unsqueeze(-2)  # (..., n, d)
'''


def checks_source(nn: int, title: str) -> str:
    return f'''r"""Checks for chapter {nn}'s exercises ({title}): mean pooling, scaled mean pooling, centring.

References are independent of the package: plain Python loops over the tokens.
"""

from __future__ import annotations

import torch

from ._core import Checker

__all__ = ["check_centred", "check_mean_pool", "check_scaled_mean_pool"]


def _loop_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of the rows of x (n, d), one row at a time."""
    total = torch.zeros(x.shape[-1], dtype=x.dtype)
    for row in x:
        total = total + row
    return total / x.shape[0]


def check_mean_pool(mean_pool, n_cases: int = 4, seed: int | None = None) -> None:
    """``mean_pool(x)``: x (n, d) -> (d,), the mean of the tokens."""
    c = Checker("mean_pool", seed)
    for i in range(n_cases):
        n, d = c.randint(1, 7), c.randint(1, 5)
        x = c.randn(n, d)
        c.close(f"#{{i}} n={{n}} d={{d}}", _loop_mean(x), c.call(mean_pool, x))
    c.done()


def check_scaled_mean_pool(scaled_mean_pool, n_cases: int = 4, seed: int | None = None) -> None:
    """``scaled_mean_pool(x, scale)``: scale times the mean of the tokens."""
    c = Checker("scaled_mean_pool", seed)
    for i in range(n_cases):
        n, d = c.randint(1, 7), c.randint(1, 5)
        x, scale = c.randn(n, d), float(c.randn(1)) + 2.0
        c.close(f"#{{i}} n={{n}} scale={{scale:.3f}}", scale * _loop_mean(x), c.call(scaled_mean_pool, x, scale))
    c.done()


def check_centred(centred, n_cases: int = 4, seed: int | None = None) -> None:
    """``centred(x)``: every token minus the mean of the tokens."""
    c = Checker("centred", seed)
    for i in range(n_cases):
        n, d = c.randint(2, 7), c.randint(1, 5)
        x = c.randn(n, d)
        c.close(f"#{{i}} n={{n}} d={{d}}", torch.stack([row - _loop_mean(x) for row in x]), c.call(centred, x))
    c.done()
'''


def unit_tests(nn: int, module: str) -> str:
    return f'''"""Tests for minitorch_xf.theory.{module} against independent references (loops, torch built-ins)."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

import pytest
from minitorch_xf.theory.{module} import centred, mean_pool

pytestmark = pytest.mark.ch{nn:02d}


def test_mean_pool_matches_torch_mean():
    x = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(mean_pool(x), x.mean(dim=-2))


def test_centred_rows_sum_to_zero():
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(centred(x).sum(dim=0), torch.zeros(3, dtype=torch.float64))


@pytest.mark.checks("prop-ch{nn:02d}-mean-pool-invariant")
@given(st.integers(1, 8), st.integers(0, 1000))
def test_mean_pool_is_permutation_invariant(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(mean_pool(x[torch.randperm(n, generator=g)]), mean_pool(x))


def test_mean_pool_gradcheck():
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mean_pool, (x,))
'''


def bad_input_tests(nn: int, module: str) -> str:
    return f'''"""Every public function of ``minitorch_xf.theory.{module}`` called as a careless user would.

Bad calls raise up front naming the argument; odd but valid calls give their documented answer (tests/bad_calls.py).
"""

from __future__ import annotations

import pytest
import torch
from bad_calls import Bad, Handled, r, walker_tests

from minitorch_xf.theory.{module} import centred, mean_pool

pytestmark = pytest.mark.ch{nn:02d}


def _close(expected):
    def check(out):
        torch.testing.assert_close(out, expected)

    return check


BAD = [
    Bad("mean_pool list", lambda: mean_pool([[1.0, 2.0]]), TypeError, r"x must be a torch\\.Tensor"),
    Bad("mean_pool 1-d", lambda: mean_pool(r(3)), ValueError, r"x must have at least 2 dims"),
    Bad("mean_pool integer", lambda: mean_pool(torch.ones(2, 3, dtype=torch.long)), TypeError, r"x must be"),
    Bad("mean_pool no tokens", lambda: mean_pool(r(0, 3)), ValueError, r"at least one token"),
    Bad("centred 1-d", lambda: centred(r(3)), ValueError, r"x must have at least 2 dims"),
]

HANDLED = [
    Handled("mean_pool one token is the token", lambda: mean_pool(r(1, 3)), _close(r(1, 3)[0])),
    Handled("centred one token is zero", lambda: centred(r(1, 3)), _close(torch.zeros(1, 3))),
]

test_bad_call_raises_naming_the_argument, test_odd_but_valid_call_is_handled, test_ids_are_unique = walker_tests(
    BAD, HANDLED
)
'''


def mutations_source(nn: int, module: str) -> str:
    return f"""from . import Mutation

MODULE = "minitorch_xf.theory.{module}"
MUTATIONS = [
    Mutation(
        MODULE,
        "mean_pool",
        "return x.sum(dim=-2) / x.shape[-2]",
        "return x.sum(dim=-2)",
        "dropped 1/n normaliser",
        "check_mean_pool",
    ),
    Mutation(
        MODULE,
        "mean_pool",
        "return x.sum(dim=-2) / x.shape[-2]",
        "return x.sum(dim=-2) / (x.shape[-2] + 1)",
        "off-by-one in the normaliser",
        "check_mean_pool",
    ),
    Mutation(
        MODULE,
        "centred",
        "return x - mean_pool(x).unsqueeze(-2)",
        "return x + mean_pool(x).unsqueeze(-2)",
        "sign flip in the centring",
        "check_centred",
    ),
]
"""


def experiment_cells(nn: int, slug: str, module: str) -> list:
    path = f"notebooks/ch{nn:02d}-{slug}.ipynb"
    return [
        ("md", "TODO: what this notebook measures, and which result of the chapter it checks."),
        (
            "code",
            "import torch\n\nfrom minitorch_xf.report import Checks\n"
            f"from minitorch_xf.theory.{module} import mean_pool",
        ),
        ("md", "## Sizes"),
        ("code", "n_tokens = rt.pick(ci=16, long=256, full=4096)\nn_trials = rt.pick(ci=20, long=200, full=1000)"),
        ("md", "## Experiment\n\nTODO: the experiment. Here: mean pooling of shuffled tokens, on every trial."),
        (
            "code",
            "gen = torch.Generator().manual_seed(rt.seed)\ngaps = []\nfor _ in range(n_trials):\n"
            "    x = torch.randn(n_tokens, 8, generator=gen, dtype=torch.float64)\n"
            "    perm = torch.randperm(n_tokens, generator=gen)\n"
            "    gaps.append(float((mean_pool(x[perm]) - mean_pool(x)).abs().max()))\n"
            'worst = max(gaps)\nprint(f"largest change under a permutation: {worst:.2e} over {n_trials} trials")',
        ),
        ("md", "## Checks"),
        (
            "code",
            f'checks = Checks("{path}", rt)\n'
            "# invariance holds to rounding: a pooling that weighted positions would move by O(1)\n"
            'assert worst < 1e-12, f"mean pooling moved by {worst:.2e} under a permutation"\n'
            f'checks.checked("prop-ch{nn:02d}-mean-pool-invariant", f"{{n_trials}} permutations: largest change '
            '{worst:.1e} (asserted < 1e-12)")',
        ),
    ]


def solution_cells(nn: int, slug: str, title: str) -> list:
    def solution(gid, src):
        meta = {"nbgrader": {"grade": False, "grade_id": gid, "locked": False, "schema_version": 3, "solution": True}}
        return ("code", src, meta)

    def graded(gid, src, points):
        meta = {
            "nbgrader": {
                "grade": True,
                "grade_id": gid,
                "locked": True,
                "points": points,
                "schema_version": 3,
                "solution": False,
            }
        }
        return ("code", src, meta)

    return [
        (
            "md",
            f"Implement the pieces of chapter {nn} ([chapter {nn}]({tpl.book_url(f'ch{nn:02d}-{slug}')})). Each "
            "exercise defines a function; the cell after it runs a randomized check against an independent "
            "reference.",
        ),
        (
            "code",
            f"import torch\n\nfrom minitorch_xf.checks.ch{nn:02d} import check_centred, check_mean_pool, "
            "check_scaled_mean_pool",
        ),
        (
            "md",
            "## Exercise 1 (1 point): mean pooling\n_Practises: reductions over the token dim · About 5 "
            "minutes._\n\nReturn the mean of the tokens of `x` (n, d).",
        ),
        solution(
            "mean_pool", "def mean_pool(x):\n    ### BEGIN SOLUTION\n    return x.mean(dim=0)\n    ### END SOLUTION"
        ),
        graded("check-mean_pool", "check_mean_pool(mean_pool)", 1),
        (
            "md",
            "## Exercise 2 (1 point): scaled mean pooling\n_Practises: reusing a function · About 5 minutes._\n\n"
            "Return `scale` times the mean of the tokens.",
        ),
        solution(
            "scaled_mean_pool",
            "def scaled_mean_pool(x, scale):\n    ### BEGIN SOLUTION\n    return scale * x.mean(dim=0)\n"
            "    ### END SOLUTION",
        ),
        graded("check-scaled_mean_pool", "check_scaled_mean_pool(scaled_mean_pool)", 1),
        (
            "md",
            "## Exercise 3 (1 point): centring\n_Practises: broadcasting · About 5 minutes._\n\n"
            "Subtract the mean of the tokens from every token.",
        ),
        solution(
            "centred",
            "def centred(x):\n    ### BEGIN SOLUTION\n    return x - x.mean(dim=0, keepdim=True)\n    ### END SOLUTION",
        ),
        graded("check-centred", "check_centred(centred)", 1),
    ]


def register_module(root: Path, module: str) -> None:
    init = root / "minitorch_xf" / "theory" / "__init__.py"
    text = init.read_text(encoding="utf-8")
    # one line (`from . import a, b`) or ruff's parenthesised form, one name per line: both are read, and both
    # lists are written back one name per line with a trailing comma (what ruff format keeps as it is)
    m = re.search(r"^from \. import (?:\(([^)]*)\)|(.+))$", text, re.M)
    if m is None:
        raise SystemExit(f"{init}: no 'from . import ...' line to add {module!r} to")
    listed = m.group(1) if m.group(1) is not None else m.group(2)
    names = sorted({*(n.strip() for n in listed.split(",") if n.strip()), module})
    lines = "".join(f"    {n},\n" for n in names)
    text = text.replace(m.group(0), f"from . import (\n{lines})")
    quoted = "".join(f'    "{n}",\n' for n in names)
    text = re.sub(r"^__all__ = \[[^\]]*\]$", lambda _: f"__all__ = [\n{quoted}]", text, flags=re.M)
    init.write_text(text, encoding="utf-8")


def register_toc(root: Path, nn: int, slug: str) -> None:
    toc = root / "_toc.yml"
    text = toc.read_text(encoding="utf-8")
    entry = f"      - file: book/ch{nn:02d}-{slug}\n        sections:\n          - file: notebooks/ch{nn:02d}-{slug}\n"
    marker = "  - caption: Teaching with this book\n"
    if marker not in text:
        raise SystemExit(f"{toc}: no '{marker.strip()}' part to insert chapter {nn} before")
    toc.write_text(text.replace(marker, entry + marker), encoding="utf-8")


def register_readme(root: Path, nn: int, slug: str, title: str) -> None:
    readme = root / "README.md"
    lines = readme.read_text(encoding="utf-8").splitlines(keepends=True)
    rows = [i for i, line in enumerate(lines) if re.match(r"\|\s*\d+\s*\|", line)]
    row = (
        f"| {nn} | {title} | [book/ch{nn:02d}-{slug}.md](book/ch{nn:02d}-{slug}.md) | "
        f"[TODO: what it measures](notebooks/ch{nn:02d}-{slug}.ipynb) | "
        f"[mean pooling, scaling, centring](exercises/ch{nn:02d}-{slug}.ipynb) |\n"
    )
    lines.insert(rows[-1] + 1, row)
    readme.write_text("".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("nn", type=int, help="the chapter number, e.g. 14")
    parser.add_argument("slug", help="the file-name slug, e.g. toy-pool (lower case, digits, hyphens)")
    parser.add_argument("--title", default=None, help="the chapter's title (default: the slug in words)")
    parser.add_argument("--paper", default="TODO: Author et al. (year)", help="the paper the notebook compares with")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository to write into (default: this one)")
    args = parser.parse_args(argv)
    nn, slug, root = args.nn, args.slug, args.root.resolve()
    if not 1 <= nn <= 99:
        parser.error(f"NN={nn}: a chapter number is 1..99")
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", slug):
        parser.error(f"SLUG={slug!r}: use lower-case words joined by hyphens, e.g. toy-pool")
    title = args.title or slug.replace("-", " ").capitalize()
    module = slug.replace("-", "_")
    ch = f"ch{nn:02d}"
    taken = sorted(
        str(p.relative_to(root)) for d in ("book", "notebooks", "solutions") for p in (root / d).glob(f"{ch}-*")
    )
    taken += [f"minitorch_xf/checks/{ch}.py"] if (root / "minitorch_xf/checks" / f"{ch}.py").exists() else []
    taken += [f"minitorch_xf/theory/{module}.py"] if (root / "minitorch_xf/theory" / f"{module}.py").exists() else []
    if taken:
        parser.error(f"chapter {nn} or module {module} exists already: {taken}")

    files = {
        f"book/{ch}-{slug}.md": page(nn, slug, title, module),
        f"minitorch_xf/theory/{module}.py": module_source(nn, title),
        f"minitorch_xf/checks/{ch}.py": checks_source(nn, title),
        f"tests/theory/test_{module}.py": unit_tests(nn, module),
        f"tests/theory/test_{module}_bad_inputs.py": bad_input_tests(nn, module),
        f"tests/mutations/{ch}.py": mutations_source(nn, module),
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    tpl.write_notebook(
        f"notebooks/{ch}-{slug}.ipynb",
        f"Chapter {nn} · {title}",
        None,
        "TODO: about N s",
        nn,
        experiment_cells(nn, slug, module),
        budget_s=60,
        paper=args.paper,
        root=root,
    )
    tpl.write_notebook(
        f"solutions/{ch}-{slug}.ipynb",
        f"Chapter {nn} · Exercises: {title}",
        None,
        "a few seconds",
        nn,
        solution_cells(nn, slug, title),
        budget_s=30,
        root=root,
    )
    bib = root / "book" / "references.bib"
    bib.write_text(
        bib.read_text(encoding="utf-8").rstrip("\n")
        + f"""

@misc{{doe2030toy_{ch},
  title = {{TODO: the paper's title}},
  author = {{Doe, Jane}},
  year = {{2030}},
  note = {{TODO: replace this entry; cite it as ch{nn:02d}-doe2030toy_{ch}}},
}}
""",
        encoding="utf-8",
    )
    page_path = root / f"book/{ch}-{slug}.md"
    page_path.write_text(page_path.read_text().replace(f"{ch}-doe2030toy", f"{ch}-doe2030toy_{ch}"), encoding="utf-8")
    register_module(root, module)
    register_toc(root, nn, slug)
    register_readme(root, nn, slug, title)

    python = sys.executable
    py_files = [str(root / rel) for rel in files if rel.endswith(".py")]
    py_files.append(str(root / "minitorch_xf" / "theory" / "__init__.py"))
    notebooks = [str(root / f"{d}/{ch}-{slug}.ipynb") for d in ("notebooks", "solutions")]
    subprocess.run([python, "-m", "ruff", "check", "-q", "--fix", *py_files, *notebooks], check=False, cwd=root)
    subprocess.run([python, "-m", "ruff", "format", "-q", *py_files, *notebooks], check=True, cwd=root)
    subprocess.run([python, "-m", "minitorch_xf.checks.assign", "solutions", "exercises"], check=True, cwd=root)
    print(f"chapter {nn} started: {', '.join([*files, *[n.removeprefix(str(root) + '/') for n in notebooks]])}")
    print(f"next: write the content (every TODO), then `make test-chapter NN={nn:02d}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
