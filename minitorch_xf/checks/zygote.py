"""Sandbox orchestration, from the grader's side: the limits, the zygote that forks sandboxes, and what they see.

A :class:`Zygote` is one preloaded process (see :mod:`.sandbox`) per grading worker; :meth:`Zygote.spawn` forks a
fresh sandbox for one submission in milliseconds and waits for its ``ready``. What a sandbox may see is decided
here (:func:`paths_to_keep`): the interpreter, the virtual environment and its site-packages, the package's own
source folder and the system's shared libraries, bound read-only into an otherwise empty root.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import site
import socket
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .boundary import Sandbox

__all__ = ["Limits", "Zygote", "paths_to_keep"]

SYSTEM_LIBRARIES = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32", "/etc/ld.so.cache")
TOP_LINKS = ("/lib", "/lib64", "/lib32", "/libx32")  # merged-/usr systems: symbolic links into /usr


@dataclass
class Limits:
    cell_timeout: float = 60.0  # wall seconds for one cell of the submission
    check_timeout: float = 60.0  # wall seconds for one check call (all its cases)
    total_timeout: float = 600.0  # wall seconds for a whole submission: cells, restarts and checks
    cpu_s: int = 300  # CPU seconds for one sandbox process
    memory_mb: int = 2048  # address space on top of the preloaded interpreter
    file_mb: int = 64  # largest file the submission may write
    tmpfs_mb: int = 128  # its private working folder
    nproc: int = 256  # processes and threads of user nobody
    isolate: bool = True


def _package_folder() -> Path:
    import minitorch_xf

    return Path(minitorch_xf.__file__).resolve().parent


def paths_to_keep() -> tuple[list[str], list[list[str]]]:
    """(folders and files bound into the sandbox's root, ``[link, target]`` symbolic links recreated there).

    The interpreter's prefix (when it is ``/usr`` or ``/``: only its library folders on ``sys.path`` and the
    executable), the virtual environment and its site-packages, the package's source folder (never the repository
    around it), the shared libraries and the loader's cache. Nested paths are folded into their parent."""
    base = [sys.base_prefix, sys.base_exec_prefix]
    paths: list[str] = []
    for prefix in base:
        if Path(prefix).resolve() in (Path("/"), Path("/usr")):
            paths += [p for p in sys.path if p and Path(p).resolve().is_relative_to(Path(prefix).resolve())]
            paths.append(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
        else:
            paths.append(prefix)
    paths += [sys.prefix, sys.exec_prefix, *site.getsitepackages(), str(_package_folder()), *SYSTEM_LIBRARIES]
    links = []
    for top in TOP_LINKS:
        if os.path.islink(top):
            links.append([top, os.readlink(top)])
        elif os.path.isdir(top):
            paths.append(top)
    resolved = sorted({os.path.realpath(p) for p in paths if os.path.exists(p)}, key=len)
    keep: list[str] = []
    for p in resolved:
        if not any(p == k or p.startswith(k.rstrip("/") + "/") for k in keep):
            keep.append(p)
    return keep, links


def _inside(path: str, folders: list[str]) -> bool:
    return any(path == k or path.startswith(k.rstrip("/") + "/") for k in folders)


class Zygote:
    """A clean, preloaded process that forks sandboxes on request (see :mod:`.sandbox`).

    ``hide``: paths the sandboxes must not see; only those inside a kept folder need hiding (nothing else exists
    in their root). ``workroot``: where working folders go without isolation (default: a temporary folder)."""

    def __init__(self, limits: Limits, hide: list[str] = (), workroot: str | None = None):
        self.limits = limits
        self.keep, self.links = paths_to_keep()
        self.hide = sorted({os.path.realpath(h) for h in hide if _inside(os.path.realpath(h), self.keep)})
        self.own_workroot = workroot is None and not limits.isolate
        self.workroot = tempfile.mkdtemp(prefix="xf-sandbox-") if self.own_workroot else workroot
        self.control, theirs = socket.socketpair()
        keep = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "TRITON_INTERPRET", "CUDA_VISIBLE_DEVICES")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "minitorch_xf.checks.sandbox", str(theirs.fileno()), str(os.getpid())],
            pass_fds=[theirs.fileno()],
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        theirs.close()
        self.control.settimeout(300)
        try:
            ready = self.control.recv(16)
        except OSError:
            ready = b""
        if ready != b"ready\n":
            self.close()
            raise RuntimeError(
                f"the sandbox zygote did not start (exit code {self.proc.poll()}); try "
                f"`{sys.executable} -m minitorch_xf.checks.sandbox 1` to see its error"
            )

    def spawn(self) -> Sandbox:
        """A fresh sandbox, set up and ready (raises :class:`~.boundary.SandboxSetupError` when it cannot be)."""
        workdir = None
        if not self.limits.isolate:
            workdir = tempfile.mkdtemp(dir=self.workroot)
        config = {**asdict(self.limits), "keep": self.keep, "links": self.links, "hide": self.hide, "workdir": workdir}
        ours, theirs = socket.socketpair()
        try:
            socket.send_fds(self.control, [json.dumps(config).encode()], [theirs.fileno()])
            pid = int(self.control.recv(32).decode().strip())
        except (OSError, ValueError):
            ours.close()
            raise RuntimeError(f"the sandbox zygote stopped answering (exit code {self.proc.poll()})") from None
        finally:
            theirs.close()
        sandbox = Sandbox(pid, ours, workdir, self.limits.cell_timeout)
        try:
            sandbox.wait_ready(120)
        except BaseException:
            sandbox.kill()
            raise
        return sandbox

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.control.close()
        with contextlib.suppress(OSError):
            self.proc.kill()
            self.proc.wait(10)
        if self.own_workroot:
            shutil.rmtree(self.workroot, ignore_errors=True)
