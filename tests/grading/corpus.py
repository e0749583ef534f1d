"""A corpus of broken and hostile chapter 1 submissions, built from the one source (solutions/, exercises/).

Each :class:`Case` writes one entry of a submissions folder and says what it deserves: the points per exercise
(ids of solutions/ch01-transformer.ipynb: attention 3, causal_mask 1, multi_head_attention 4, layer_norm 2), a
phrase its feedback must contain, and the name of its gradebook row when that differs from the entry's name.
``needs_isolation`` marks the cases that only the OS sandbox stops (reading the solutions, from the checkout, its
git history or anywhere on the disk; patching the package; outliving the grader); without root they are left out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "solutions" / "ch01-transformer.ipynb"
STUB = ROOT / "exercises" / "ch01-transformer.ipynb"
FULL = {"check-attention": 3.0, "check-causal_mask": 1.0, "check-multi_head_attention": 4.0, "check-layer_norm": 2.0}
ZERO = dict.fromkeys(FULL, 0.0)
# the solution's multi_head_attention calls its attention and causal_mask: a broken one breaks it too
MHA_FAILS = {"check-multi_head_attention": 0.0}
SENTINEL_NAME = "xf-corpus-sentinel.txt"  # a file the hostile cases try to overwrite (beside the gradebook)


def _nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def solution() -> dict:
    return _nb(REFERENCE)


def stub() -> dict:
    return _nb(STUB)


def code(src: str, **nbgrader) -> dict:
    meta = {"nbgrader": nbgrader} if nbgrader else {}
    return {"cell_type": "code", "metadata": meta, "source": src, "outputs": [], "execution_count": None}


def _src(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def answer_index(nb: dict, fn: str) -> int:
    return next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and f"def {fn}(" in _src(c))


def set_answer(nb: dict, fn: str, src: str) -> dict:
    nb["cells"][answer_index(nb, fn)]["source"] = src
    return nb


def insert(nb: dict, cell: dict, before_fn: str | None = None) -> dict:
    """Insert a cell before the answer cell of ``before_fn`` (default: after the import cell)."""
    at = answer_index(nb, before_fn) if before_fn else 4
    nb["cells"].insert(at, cell)
    return nb


def check_cells(nb: dict) -> list[int]:
    return [i for i, c in enumerate(nb["cells"]) if c.get("metadata", {}).get("nbgrader", {}).get("grade")]


def with_solution_of(nb: dict, fn: str) -> dict:
    sol = solution()
    nb["cells"][answer_index(nb, fn)]["source"] = _src(sol["cells"][answer_index(sol, fn)])
    return nb


@dataclass
class Case:
    name: str  # the entry's name in the submissions folder
    build: Callable[[Path], None]  # writes the entry at the given path
    points: dict = field(default_factory=lambda: dict(FULL))
    says: str = ""  # a phrase the feedback must contain
    needs_isolation: bool = False
    row: str = ""  # the gradebook's name for it, when not ``name`` (a name that is not UTF-8, a duplicate)

    @property
    def row_name(self) -> str:
        return self.row or self.name


def notebook(make: Callable[[], dict]) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.write_text(json.dumps(make()), encoding="utf-8")

    return build


def _stub_with(*cells: str) -> Callable[[], dict]:
    def make():
        nb = stub()
        for i, src in enumerate(cells):
            nb["cells"].insert(4 + i, code(src))
        return nb

    return make


def _solution_with(src: str, before_fn: str | None = None) -> Callable[[], dict]:
    return lambda: insert(solution(), code(src), before_fn)


def _unknown_check_ids() -> dict:
    nb = stub()
    nb["cells"].append(code("print('bonus passed')", grade=True, grade_id="bonus", points=400, solution=False))
    nb["cells"].append(code("pass", grade=True, grade_id="check-attention", points=50, solution=False))
    return nb


def _duplicated_check() -> dict:
    nb = with_solution_of(stub(), "attention")
    first = check_cells(nb)[0]
    for _ in range(5):
        nb["cells"].insert(first, json.loads(json.dumps(nb["cells"][first])))
    return nb


def _deleted_checks(base: Callable[[], dict]) -> Callable[[], dict]:
    def make():
        nb = base()
        nb["cells"] = [c for i, c in enumerate(nb["cells"]) if i not in check_cells(nb)]
        for c in nb["cells"]:
            c.get("metadata", {}).pop("nbgrader", None)
        return nb

    return make


def _fake_outputs() -> dict:
    nb = stub()
    for i in check_cells(nb):
        nb["cells"][i]["execution_count"] = i
        nb["cells"][i]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "✓ all cases passed\n"}]
    return nb


REDEFINE_CHECKS = """
from minitorch_xf.checks import ch01
def _pass(*args, **kwargs):
    print("✓ all cases passed")
for _name in ["check_attention", "check_causal_mask", "check_multi_head_attention", "check_layer_norm"]:
    globals()[_name] = _pass
    setattr(ch01, _name, _pass)
"""

PATCH_CHECKER = """
import minitorch_xf.checks._core as core
core.Checker.call = lambda self, fn, *a, **k: None
core.Checker.close = lambda self, *a, **k: self.passed.append("x")
core.Checker.fail = lambda self, *a, **k: None
core.CheckFailed = type("CheckFailed", (Exception,), {})
"""

IPYTHON_HOOKS = """
ip = get_ipython()
ip.set_custom_exc((BaseException,), lambda *args, **kwargs: None)
import sys
sys.excepthook = lambda *args: None
"""

PIN_RANDOM = """
import os, random, torch
os.urandom = lambda n: bytes(n)
random.seed(0)
torch.manual_seed(0)
_orig = torch.Generator.manual_seed
torch.Generator.manual_seed = lambda self, seed: _orig(self, 0)
"""

READ_SOLUTIONS = f"""
import glob, json, os, sys
_stolen = {{}}
def _grab(text):
    try:
        nb = json.loads(text)
    except Exception:
        return
    for cell in nb.get("cells", []):
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if "### BEGIN SOLUTION" in src:
            _stolen[src] = True
candidates = [{str(REFERENCE)!r}, *glob.glob({str(ROOT / "solutions")!r} + "/*.ipynb")]
for pid in os.listdir("/proc"):
    try:
        candidates += [a for a in open(f"/proc/{{pid}}/cmdline").read().split("\\0") if a.endswith(".ipynb")]
    except OSError:
        pass
candidates += [a for a in sys.argv if a.endswith(".ipynb")]
for path in candidates:
    try:
        _grab(open(path).read())
    except OSError:
        pass
for src in _stolen:
    exec(src.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""))
"""

PATCH_PACKAGE = f"""
import pathlib
pkg = pathlib.Path({str(ROOT / "minitorch_xf" / "checks")!r})
for name in ["_core.py", "ch01.py", "grade.py", "wire.py", "__init__.py"]:
    try:
        with open(pkg / name, "a") as f:
            f.write("\\nCheckFailed = Exception  # patched by a submission\\n")
    except OSError:
        pass
"""

VANDAL = f"""
import os
for top in [{str(ROOT)!r}, "/tmp", "/work", os.path.expanduser("~")]:
    for dirpath, dirnames, filenames in os.walk(top):
        if ".venv" in dirpath or ".git" in dirpath:
            continue
        for f in filenames:
            if f.endswith((".ipynb", ".csv", ".json")) or f == {SENTINEL_NAME!r}:
                try:
                    open(os.path.join(dirpath, f), "w").write("overwritten by a submission")
                except OSError:
                    pass
"""

BACKGROUND = f"""
import os, subprocess, sys, time
code = '''
import os, time
time.sleep(4)
for top in ["/tmp", {str(ROOT)!r}]:
    for dirpath, _, files in os.walk(top):
        for f in files:
            if f in ("gradebook.csv", "gradebook.json", {SENTINEL_NAME!r}):
                try:
                    open(os.path.join(dirpath, f), "w").write("rewritten after the grader finished")
                except OSError:
                    pass
'''
subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:
    os.setsid()
    exec(code)
    os._exit(0)
"""

KILL_PARENT = """
import os, signal
for target in (os.getppid(), -1, 0, 1):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(target, sig)
        except OSError:
            pass
"""

GIT_SHOW = f"""
import subprocess
for args in (["git", "show", "HEAD:solutions/ch01-transformer.ipynb"], ["git", "log", "-p", "-1", "--", "solutions"]):
    text = subprocess.run(args, cwd={str(ROOT)!r}, capture_output=True, text=True).stdout
    try:
        import json
        for cell in json.loads(text)["cells"]:
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if "### BEGIN SOLUTION" in src:
                exec(src)
    except Exception:
        pass
"""

WALK_THE_DISK = """
import json, os
_found = []
for top, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if d not in ("proc", "sys", "site-packages", "usr", ".venv", "node_modules", ".git")]
    for f in files:
        if f.endswith(".ipynb"):
            try:
                nb = json.load(open(os.path.join(top, f)))
            except Exception:
                continue
            for cell in nb.get("cells", []):
                src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                if "### BEGIN SOLUTION" in src and "def " in src:
                    _found.append(src)
for src in _found:
    try:
        exec(src)
    except Exception:
        pass
"""

# the sandbox's own endpoint, found from inside: a submission can write any frame on the grader's socket
_RAW_FRAME = """
import gc, json, struct
from minitorch_xf.checks.wire import Endpoint
_ep = next(o for o in gc.get_objects() if isinstance(o, Endpoint))
# the id of the request being served: the largest of the call messages still in memory
_id = max(o["id"] for o in gc.get_objects() if isinstance(o, dict) and o.get("op") == "call" and "id" in o)
_header = json.dumps(MESSAGE).encode()
_ep.sock.sendall(struct.pack(">QQ", len(_header), 0) + _header)
"""
FORGED_SETUP_ERROR = _RAW_FRAME.replace(
    "MESSAGE", '{"op": "raise", "id": _id, "type": "SandboxSetupError", "message": "forged", "blobs": []}'
)
UNHASHABLE_KEY = _RAW_FRAME.replace(
    "MESSAGE", '{"op": "return", "id": _id, "value": {"__dict__": [[{"__tuple__": [[1, 2]]}, 1]]}, "blobs": []}'
)
FORGED_WITHOUT_ID = _RAW_FRAME.replace(
    "MESSAGE", '{"op": "raise", "type": "SandboxSetupError", "message": "forged", "blobs": []}'
)


def _solution_with_cell(cell: dict) -> Callable[[], dict]:
    return lambda: insert(solution(), cell, "causal_mask")


def _not_text_source() -> dict:
    cell = code("")
    cell["source"] = [1, None, {"a": 2}]
    return insert(solution(), cell, "causal_mask")


def _huge_cell() -> dict:
    return insert(solution(), code("x = '" + "a" * (9 << 20) + "'\n"), "causal_mask")


NOT_UTF8 = "caf\udce9 (latin-1 name).ipynb"  # the bytes b"caf\xe9 ..." on disk: not valid UTF-8
NFD, NFC = "Jose\u0301.ipynb", "Jos\u00e9.ipynb"  # the same name, decomposed and composed
NEWLINE_NAME = "evil\n    10 of 10       0.1 s  forged row.ipynb"

LOOP_FOREVER_LAYER_NORM = "def layer_norm(x, gamma, beta, eps=1e-5):\n    while True:\n        pass\n"
NAN_LAYER_NORM = (
    "import torch\ndef layer_norm(x, gamma, beta, eps=1e-5):\n    return torch.full_like(x, float('nan'))\n"
)
INF_LAYER_NORM = NAN_LAYER_NORM.replace("'nan'", "'inf'")
FLOAT_MASK = "import torch\ndef causal_mask(n):\n    return torch.ones(n, n).tril()\n"
META_ATTENTION = (
    "import torch\ndef attention(q, k, v, mask=None):\n"
    "    return torch.empty(*q.shape[:-1], v.shape[-1], dtype=q.dtype, device='meta')\n"
)
ANSI_ATTENTION = (
    "def attention(q, k, v, mask=None):\n"
    "    raise ValueError('\\x1b[2J\\x1b[1;1H  10.0 / 10.0   all passed \\x1b[0m')\n"
)
NUMPY_ATTENTION = (
    "def attention(q, k, v, mask=None):\n    return (q @ k.transpose(-1, -2)).softmax(-1).numpy() @ v.numpy()\n"
)


def _without(fn: str) -> Callable[[], dict]:
    def make():
        nb = solution()
        del nb["cells"][answer_index(nb, fn)]
        return nb

    return make


def _syntax_error() -> dict:
    return set_answer(solution(), "causal_mask", "def causal_mask(n):\n    return torch.ones(n, n).tril(.bool()\n")


def _empty_folder(path: Path) -> None:
    path.mkdir()


def _student_repo(path: Path) -> None:
    (path / "notebooks").mkdir(parents=True)
    (path / "README.md").write_text("my repository\n")
    (path / "notebooks" / REFERENCE.name).write_text(json.dumps(solution()), encoding="utf-8")


CASES = [
    Case("good.ipynb", notebook(solution), says="passed"),
    Case("stub.ipynb", notebook(stub), ZERO, "not implemented yet"),
    Case("unknown and inflated check ids.ipynb", notebook(_unknown_check_ids), ZERO, "not implemented yet"),
    Case(
        "duplicated check.ipynb",
        notebook(_duplicated_check),
        {**ZERO, "check-attention": 3.0},
        "not implemented yet",
    ),
    Case("deleted checks (stub).ipynb", notebook(_deleted_checks(stub)), ZERO, "not implemented yet"),
    Case("deleted checks (solved).ipynb", notebook(_deleted_checks(solution)), says="passed"),
    Case("redefined check names.ipynb", notebook(_stub_with(REDEFINE_CHECKS)), ZERO, "not implemented yet"),
    Case("patched Checker.ipynb", notebook(_stub_with(PATCH_CHECKER)), ZERO, "not implemented yet"),
    Case("swallowed errors.ipynb", notebook(_stub_with(IPYTHON_HOOKS)), ZERO, "not implemented yet"),
    Case("pinned random.ipynb", notebook(_stub_with(PIN_RANDOM)), ZERO, "not implemented yet"),
    Case("saved outputs, never run.ipynb", notebook(_fake_outputs), ZERO, "not implemented yet"),
    Case("reads the solutions.ipynb", notebook(_stub_with(READ_SOLUTIONS)), ZERO, "not implemented", True),
    Case("patches the package.ipynb", notebook(_stub_with(PATCH_PACKAGE)), ZERO, "not implemented", True),
    Case("vandal.ipynb", notebook(_stub_with(VANDAL)), ZERO, "not implemented", True),
    Case("outlives the grader.ipynb", notebook(_solution_with(BACKGROUND)), says="passed", needs_isolation=True),
    Case("kills its parent.ipynb", notebook(_solution_with(KILL_PARENT)), says="passed", needs_isolation=True),
    Case(
        "hangs in one exercise.ipynb",
        notebook(lambda: set_answer(solution(), "layer_norm", LOOP_FOREVER_LAYER_NORM)),
        {**FULL, "check-layer_norm": 0.0},
        "ran longer than",
    ),
    Case(
        "infinite loop cell.ipynb",
        notebook(_solution_with("while True:\n    pass\n", "causal_mask")),
        says="ran longer",
    ),
    Case("huge allocation.ipynb", notebook(_solution_with("big = bytearray(64 * 2**30)\n")), says="MemoryError"),
    Case("sys.exit.ipynb", notebook(_solution_with("import sys\nsys.exit(3)\n")), says="SystemExit"),
    Case(
        "os._exit.ipynb",
        notebook(_solution_with("import os\nos._exit(1)\n", "causal_mask")),
        says="stopped the sandbox",
    ),
    Case("KeyboardInterrupt.ipynb", notebook(_solution_with("raise KeyboardInterrupt\n")), says="KeyboardInterrupt"),
    Case(
        "megabytes of output.ipynb",
        notebook(_solution_with("for _ in range(300):\n    print('x' * 100_000)\n")),
        says="passed",
    ),
    Case(
        "NaN.ipynb",
        notebook(lambda: set_answer(solution(), "layer_norm", NAN_LAYER_NORM)),
        {**FULL, "check-layer_norm": 0.0},
        "NaN",
    ),
    Case(
        "infinity.ipynb",
        notebook(lambda: set_answer(solution(), "layer_norm", INF_LAYER_NORM)),
        {**FULL, "check-layer_norm": 0.0},
        "values differ (max |diff| = inf",
    ),
    Case(
        "wrong dtype.ipynb",
        notebook(lambda: set_answer(solution(), "causal_mask", FLOAT_MASK)),
        {**FULL, "check-causal_mask": 0.0, **MHA_FAILS},
        "dtype torch.bool",
    ),
    Case(
        "wrong device.ipynb",
        notebook(lambda: set_answer(solution(), "attention", META_ATTENTION)),
        {**FULL, "check-attention": 0.0, **MHA_FAILS},
        "device",
    ),
    Case(
        "returns numpy.ipynb",
        notebook(lambda: set_answer(solution(), "attention", NUMPY_ATTENTION)),
        {**FULL, "check-attention": 0.0, **MHA_FAILS},
        "expected a tensor, received ndarray",
    ),
    Case(
        "terminal escapes.ipynb",
        notebook(lambda: set_answer(solution(), "attention", ANSI_ATTENTION)),
        {**FULL, "check-attention": 0.0, **MHA_FAILS},
        "raised ValueError",
    ),
    Case(
        "missing function.ipynb",
        notebook(_without("layer_norm")),
        {**FULL, "check-layer_norm": 0.0},
        "no function named `layer_norm`",
    ),
    Case(
        "syntax error.ipynb",
        notebook(_syntax_error),
        {**FULL, "check-causal_mask": 0.0, **MHA_FAILS},
        "SyntaxError",
    ),
    Case(
        "exception at import.ipynb",
        notebook(_solution_with("import a_module_that_does_not_exist\n")),
        says="ModuleNotFoundError",
    ),
    Case("not json.ipynb", lambda p: p.write_bytes(b"\x00\x01 this is not a notebook {"), ZERO, "not a valid notebook"),
    Case("empty file.ipynb", lambda p: p.write_bytes(b""), ZERO, "not a valid notebook"),
    Case("answers.py", lambda p: p.write_text("def attention(q, k, v): pass\n"), ZERO, "not a notebook"),
    Case("empty student folder", _empty_folder, ZERO, "no .ipynb notebook"),
    Case("Élève Ünïcødé — name with spaces.ipynb", notebook(solution), says="passed"),
    Case("student-repo", _student_repo, says="passed"),
    # issue 22: no route to the answers (the sandbox's root holds no repository, no .git, no other checkout)
    Case("git show.ipynb", notebook(_stub_with(GIT_SHOW)), ZERO, "not implemented", True),
    Case("walks the disk.ipynb", notebook(_stub_with(WALK_THE_DISK)), ZERO, "not implemented", True),
    # issue 22: nothing a submission holds or sends stops the run; each gets its row and reason
    Case(
        "forged setup error.ipynb",
        notebook(_solution_with(FORGED_SETUP_ERROR, "causal_mask")),
        says="SandboxSetupError: forged",
    ),
    Case(
        "forged frame without id.ipynb", notebook(_solution_with(FORGED_WITHOUT_ID, "causal_mask")), says="out of turn"
    ),
    Case("unhashable key.ipynb", notebook(_solution_with(UNHASHABLE_KEY, "causal_mask")), says="cannot read"),
    Case("source not text.ipynb", notebook(_not_text_source), says="its source is not text"),
    Case("9 MiB cell.ipynb", notebook(_huge_cell), says="not run: the cell holds 9216 KiB"),
    Case(NOT_UTF8, notebook(solution), says="not valid UTF-8", row="caf\ufffd (latin-1 name).ipynb"),
    Case(NFD, notebook(stub), ZERO, "once their names are normalised", row="Jos\u00e9.ipynb"),
    Case(NFC, notebook(solution), says="once their names are normalised", row="Jos\u00e9.ipynb [2]"),
    Case(NEWLINE_NAME, notebook(stub), ZERO, "not implemented"),
]


def build(folder: Path, isolation: bool) -> list[Case]:
    """Write the corpus into ``folder``; return the cases written (hostile ones only with ``isolation``)."""
    cases = [c for c in CASES if isolation or not c.needs_isolation]
    for case in cases:
        case.build(folder / case.name)
    return cases


if __name__ == "__main__":  # write the corpus for `make grade`: python tests/grading/corpus.py FOLDER
    import sys

    folder = Path(sys.argv[1])
    folder.mkdir(parents=True)
    written = build(folder, isolation=True)
    expected = {c.row_name: sum(c.points.values()) for c in written}
    Path(str(folder) + ".expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False))
    print(f"{len(written)} submissions in {folder}; expected totals in {folder}.expected.json")
