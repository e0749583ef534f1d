"""Package code on a derivation page: the teaching part of a function, at most 88 columns, linked to its full source.

A page includes package code with ``{literalinclude}`` and ``:pyobject:`` (never a pasted copy). The package is
formatted at 120 columns and its public functions open with argument checks that name a bad value: right for a
library, noise on a page. For a Python ``:pyobject:`` include this extension shows an *excerpt* read from the source
at build time:

- the docstring shortened to its first paragraph (the page around it carries the derivation);
- argument checks left out: a call of a ``check_*``/``validate_*`` helper as a statement, an ``if`` whose branches
  only ``raise``, a ``for`` loop of such checks, each with the comment lines right above it; one comment line
  ``# (argument checks left out: see the full source)`` marks the place;
- ``extra_repr``/``__repr__`` methods left out;
- formatted by ruff at 88 columns, long comments wrapped.

The caption names the object and links its full source in the repository (with line numbers). A line still wider
than 88 columns is a warning (so the ``-W`` build fails and names it). ``:full:`` shows the object unchanged.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
import tokenize
from io import StringIO
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.directives.code import LiteralInclude
from sphinx.util import logging

from .results import _repository, _root

logger = logging.getLogger(__name__)

WIDTH = 88
OMITTED = "# (argument checks left out: see the full source)"
CHECK_CALL = re.compile(r"^_?(check|validate|require|ensure)(_|$)")
DROPPED_METHODS = {"extra_repr", "__repr__"}


def _call_name(node: ast.AST) -> str:
    func = node.func if isinstance(node, ast.Call) else None
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def is_check(stmt: ast.stmt) -> bool:
    """True for a statement that only checks arguments: it raises on bad input and computes nothing kept."""
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        return bool(CHECK_CALL.match(_call_name(stmt.value)))
    if isinstance(stmt, ast.Raise):
        return True
    if isinstance(stmt, ast.If):
        return all(is_check(s) for s in stmt.body) and all(is_check(s) for s in stmt.orelse)
    if isinstance(stmt, ast.For) and not stmt.orelse:
        return all(is_check(s) for s in stmt.body)
    return False


def _find(tree: ast.Module, qualname: str) -> ast.AST | None:
    node: ast.AST = tree
    for part in qualname.split("."):
        found = None
        for child in getattr(node, "body", []):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child.name == part:
                found = child
        if found is None:
            return None
        node = found
    return node


def _docstring_node(node: ast.AST) -> ast.Expr | None:
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            return body[0]
    return None


def _first_paragraph(doc: str, indent: str, prefix: str = "") -> list[str]:
    paragraph = textwrap.dedent(doc).strip().split("\n\n")[0]
    paragraph = " ".join(line.strip() for line in paragraph.splitlines())
    one = f'{indent}{prefix}"""{paragraph}"""'
    if len(one) <= WIDTH:
        return [one]
    lines = textwrap.wrap(  # 3 columns to spare: ruff joins the closing quotes onto a short last line
        paragraph,
        WIDTH - 3,
        initial_indent=f'{indent}{prefix}"""',
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return [*lines, f'{indent}"""']


def excerpt(source: str, qualname: str) -> tuple[str, int, int, bool]:
    """The excerpt of ``qualname`` in ``source``: (code, first line, last line, whether checks were left out)."""
    tree = ast.parse(source)
    node = _find(tree, qualname)
    if node is None:
        raise LookupError(f"no function or class {qualname!r}")
    lines = source.splitlines()
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    last = node.end_lineno
    drop: set[int] = set()  # 1-based line numbers left out
    replace: dict[int, list[str]] = {}  # 1-based first line of a block -> the lines shown instead
    omitted = False

    def indent_of(lineno: int) -> str:
        text = lines[lineno - 1]
        return text[: len(text) - len(text.lstrip())]

    def drop_block(start: int, end: int) -> None:
        drop.update(range(start, end + 1))
        k = start - 1  # comment lines right above belong to the check
        while k > first and lines[k - 1].strip().startswith("#"):
            drop.add(k)
            k -= 1

    def visit(scope: ast.AST) -> None:
        doc = _docstring_node(scope)
        if doc is not None:
            drop.update(range(doc.lineno, doc.end_lineno + 1))
            opening = lines[doc.lineno - 1].lstrip()
            prefix = opening[: len(opening) - len(opening.lstrip("rRuU"))]
            replace[doc.lineno] = _first_paragraph(doc.value.value, indent_of(doc.lineno), prefix)
        body = [s for s in scope.body if s is not doc]
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            prune(body)
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                stmt.name in DROPPED_METHODS or CHECK_CALL.match(stmt.name)
            ):
                begin = min([stmt.lineno] + [d.lineno for d in stmt.decorator_list])
                drop_block(begin, stmt.end_lineno)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(stmt)

    def prune(body: list[ast.stmt]) -> None:
        """Leave out the checks of one block of statements (and of the blocks nested in it), one marker each."""
        nonlocal omitted
        checks = [s for s in body if is_check(s)]
        if checks and len(checks) < len(body):
            for stmt in checks:
                drop_block(stmt.lineno, stmt.end_lineno)
            start = min(s.lineno for s in checks)
            while start - 1 in drop and start - 1 > first:
                start -= 1
            replace[start] = [*replace.get(start, []), indent_of(checks[0].lineno) + OMITTED]
            omitted = True
        for stmt in body:
            if stmt in checks or isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for field in ("body", "orelse", "finalbody"):
                inner = getattr(stmt, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                    prune(inner)
            for handler in getattr(stmt, "handlers", []):
                prune(handler.body)

    visit(node)
    shown: list[str] = []
    for k in range(first, last + 1):
        if k in replace:
            shown.extend(replace[k])
        if k not in drop:
            shown.append(lines[k - 1])
    code = textwrap.dedent("\n".join(shown)) + "\n"
    return _format(code), first, last, omitted


def _format(code: str) -> str:
    """Comments wider than 88 columns wrapped (a trailing one moved above its line), then ruff at 88 columns."""
    code = _wrap_comments(code)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ruff", "format", "--line-length", str(WIDTH), "--stdin-filename", "x.py", "-"],
            input=code,
            capture_output=True,
            text=True,
            check=True,
        )
        code = done.stdout
    except (OSError, subprocess.CalledProcessError) as err:  # no ruff: the excerpt stays as the source has it
        logger.warning(f"xfbook excerpts: could not format with ruff ({err}); install the [test] extra")
    return _wrap_comments(code)


def _wrap_comments(code: str) -> str:
    comments: dict[int, tuple[int, str]] = {}
    for tok in tokenize.generate_tokens(StringIO(code).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = (tok.start[1], tok.string)
    out: list[str] = []
    for k, line in enumerate(code.splitlines(), start=1):
        if len(line) <= WIDTH or k not in comments:
            out.append(line)
            continue
        col, text = comments[k]
        indent = line[: len(line) - len(line.lstrip())]
        words = text.lstrip("#").strip()
        wrapped = textwrap.wrap(words, WIDTH - len(indent) - 2, break_long_words=False, break_on_hyphens=False)
        out.extend(f"{indent}# {w}" for w in wrapped)
        if line[:col].strip():  # a trailing comment: the code stays below it
            out.append(line[:col].rstrip())
    return "\n".join(out) + "\n"


class PackageExcerpt(LiteralInclude):
    """``literalinclude`` that shows a Python ``:pyobject:`` as an excerpt (see the module docstring)."""

    option_spec: ClassVar[dict] = dict(LiteralInclude.option_spec, full=directives.flag)

    def run(self) -> list[nodes.Node]:
        target = self.arguments[0]
        if "full" in self.options or not target.endswith(".py"):
            return super().run()
        if "pyobject" not in self.options:  # a range of lines (start-at/end-before): shown whole, at 88 columns
            result = super().run()
            for block in (n for node in result for n in node.findall(nodes.literal_block)):
                code = _format(block.astext())
                block.children = [nodes.Text(code)]
                block.rawsource = code
                self._warn_wide(code, target, f"the lines of {target} included here")
            return result
        env = self.state.document.settings.env
        rel, path = env.relfn2path(target)
        qualname = self.options["pyobject"]
        try:
            code, first, last, omitted = excerpt(Path(path).read_text(encoding="utf-8"), qualname)
        except (OSError, SyntaxError, LookupError) as err:
            logger.warning(f"xfbook excerpts: {target} :pyobject: {qualname}: {err}", location=self.get_location())
            return super().run()
        env.note_dependency(rel)
        self._warn_wide(code, target, f"the excerpt of {qualname}")
        block = nodes.literal_block(code, code, source=path, language="python", classes=["xf-excerpt"])
        self.set_source_info(block)
        block["linenos"] = False
        try:
            module = Path(path).resolve().relative_to(_root(env.app)).as_posix()
        except ValueError:
            module = Path(path).name
        caption = nodes.caption("", "")
        caption += nodes.literal(text=qualname)
        caption += nodes.Text(f" from {module}" + (" (argument checks left out)" if omitted else "") + " · ")
        repository, branch = _repository(env.app)
        if repository:
            url = f"{repository}/blob/{branch}/{module}#L{first}-L{last}"
            caption += nodes.reference("", "full source", refuri=url, classes=["xf-full-source"])
        else:
            caption += nodes.Text(f"full source: lines {first}–{last}")
        wrapper = nodes.container("", literal_block=True, classes=["literal-block-wrapper", "xf-excerpt-wrapper"])
        wrapper += caption
        wrapper += block
        return [wrapper]

    def _warn_wide(self, code: str, target: str, what: str) -> None:
        for k, line in enumerate(code.splitlines(), start=1):
            if len(line) > WIDTH:
                logger.warning(
                    f"xfbook excerpts: line {k} of {what} is {len(line)} columns (at most {WIDTH}): shorten it in "
                    f"{target} or mark the include :full:\n    {line}",
                    location=self.get_location(),
                )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("literalinclude", PackageExcerpt, override=True)
    return {"parallel_read_safe": True}
