"""Run a submission's code where it cannot reach the grader: Linux namespaces, an unprivileged user, limits.

Three processes take part::

    grader worker  --control socket-->  zygote  --fork-->  keeper (root)  --fork-->  sandbox (pid 1, user nobody)
          ^------------------------- call socket (wire.Endpoint) -------------------------------^

* The **zygote** is started from a clean environment and imports torch, NumPy, Matplotlib, IPython and the package
  once (4-6 s on a laptop), so each submission starts by ``fork`` in milliseconds. It never sees the reference
  notebook, the solutions or the other submissions, so a fork of it carries none of them in memory.
* The **keeper** enters new mount, PID, network, IPC and UTS namespaces and forks the sandbox, which is process 1 of
  its PID namespace: when it dies, the kernel kills every process it started. The worker kills the keeper to end a
  submission; the sandbox follows (parent-death signal), and so does everything below it.
* The **sandbox** remounts every filesystem read-only, hides the solutions, the reference, the submissions and the
  grader's output behind empty mounts, mounts a fresh PID-private ``/proc``, gives the submission a small private
  ``tmpfs`` as its home and working folder, sets CPU, memory, file-size, process and open-file limits, drops to the
  unprivileged user ``nobody`` (no new privileges), points stdout and stderr at ``/dev/null``, and then runs
  :func:`serve`: execute a cell, look up a function, call it.

Without root (a laptop, a CI runner that is not root) there are no namespaces and no user switch: the grader then
refuses to grade unless told ``--no-sandbox`` (its tests of correctness still run; its isolation tests skip).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import socket
import sys

__all__ = ["SandboxConfig", "can_isolate", "isolation_problem", "serve"]

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = (
    0x20000,
    0x4000000,
    0x8000000,
    0x20000000,
    0x40000000,
)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1,
    2,
    4,
    8,
    32,
    4096,
    16384,
    1 << 18,
)
NAMESPACES = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
NOBODY = 65534

_libc = ctypes.CDLL(None, use_errno=True)


_probe: list[str] = []


def isolation_problem() -> str:
    """Why the sandbox cannot run here ("" when it can): it needs Linux, root, and permission to create mount,
    PID and network namespaces and to mount a tmpfs (some containers forbid that even to root). Probed once, in a
    forked child."""
    if _probe:
        return _probe[0]
    if not sys.platform.startswith("linux"):
        why = f"the sandbox needs Linux (this is {sys.platform})"
    elif os.geteuid() != 0:
        why = "the sandbox needs root (to create namespaces and switch to user nobody)"
    else:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    _check(_libc.unshare(NAMESPACES), "unshare")
                    _mount(None, "/", None, MS_REC | MS_PRIVATE)
                    _mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
                    code = 0
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
        ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        why = "" if ok else "this machine forbids namespaces or mounts even to root (a restricted container?)"
    _probe.append(why)
    return why


def can_isolate() -> bool:
    """True where the sandbox can use namespaces and switch user (see :func:`isolation_problem`)."""
    return not isolation_problem()


class SandboxConfig(dict):
    """What the zygote needs to start one sandbox (JSON-safe): ``isolate``, ``hide`` (paths), ``workdir``, limits
    ``cpu_s``, ``memory_mb``, ``file_mb``, ``tmpfs_mb``, ``nproc``."""


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(s):
        return None if s is None else s.encode()

    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _mount_points() -> list[tuple[str, set[str]]]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            point = parts[4].encode().decode("unicode_escape")
            out.append((point, set(parts[5].split(","))))
    return out


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _lock_down_filesystem(hide: list[str], keep: list[str], workdir: str, tmpfs_mb: int) -> None:
    """In a fresh mount namespace: everything read-only; ``hide`` behind empty mounts, except the ``keep`` folders
    (the interpreter, the package) under them, which are bound back in place; ``workdir`` a private tmpfs."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for point, opts in sorted(_mount_points(), key=lambda p: len(p[0])):
        if point.startswith("/proc") or "ro" in opts:
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        flags |= (MS_NOSUID if "nosuid" in opts else 0) | (MS_NODEV if "nodev" in opts else 0)
        flags |= MS_NOEXEC if "noexec" in opts else 0
        try:
            _mount(None, point, None, flags)
        except OSError:
            if point == "/":
                raise
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    hidden_dirs = [h for h in hide if os.path.isdir(h)]
    rescue = [k for k in keep if os.path.isdir(k) and any(_under(k, h) and k != h for h in hidden_dirs)]
    _mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0700")  # staging for the rescued folders
    staged = []
    for i, k in enumerate(rescue):
        stage = f"{workdir}/{i}"
        os.mkdir(stage)
        _mount(k, stage, None, MS_BIND | MS_REC)
        staged.append((k, stage))

    def hide_all(paths):
        for path in paths:
            if os.path.isdir(path):
                _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755")
            elif os.path.exists(path):
                _mount("/dev/null", path, None, MS_BIND)

    hide_all(sorted(hide, key=len))
    for k, stage in staged:
        os.makedirs(k, mode=0o755, exist_ok=True)
        _mount(stage, k, None, MS_BIND | MS_REC)
        _check(_libc.umount2(stage.encode(), 2), f"umount {stage}")
    _check(_libc.umount2(workdir.encode(), 2), "umount staging")
    hide_all([h for h in hide if any(_under(h, k) and h != k for k, _ in staged)])  # hidden things inside rescued
    for path in hidden_dirs:
        _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    opts = f"size={tmpfs_mb}m,mode=0700,uid={NOBODY},gid={NOBODY}"
    _mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV, opts)


def _limits(cpu_s: int, memory_mb: int, file_mb: int, nproc: int) -> None:
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize:")) * 1024
    for res, value in (
        (resource.RLIMIT_CPU, (cpu_s, cpu_s + 5)),
        (resource.RLIMIT_AS, (vm + memory_mb * 2**20,) * 2),
        (resource.RLIMIT_FSIZE, (file_mb * 2**20,) * 2),
        (resource.RLIMIT_NPROC, (nproc, nproc)),
        (resource.RLIMIT_NOFILE, (256, 256)),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        resource.setrlimit(res, value)


def _become_sandbox(config: dict, sock_fd: int) -> None:
    """In the sandbox process: lock down, drop privileges, point the standard streams at /dev/null."""
    workdir = config["workdir"]
    if config["isolate"]:
        _lock_down_filesystem(config["hide"], config["keep"], workdir, config["tmpfs_mb"])
    os.setsid()
    os.chdir(workdir)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "TRITON_INTERPRET")}
    env.update(HOME=workdir, TMPDIR=workdir, MPLCONFIGDIR=workdir, IPYTHONDIR=workdir + "/.ipython", MPLBACKEND="Agg")
    env.update(XDG_CACHE_HOME=workdir + "/.cache", TRITON_CACHE_DIR=workdir + "/.triton", OMP_NUM_THREADS="1")
    os.environ.clear()
    os.environ.update(env)
    _limits(config["cpu_s"], config["memory_mb"], config["file_mb"], config["nproc"])
    if config["isolate"]:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, sock_fd)
    os.closerange(sock_fd + 1, 65536)


def serve(sock: socket.socket) -> None:
    """The sandbox's loop: run cells in one IPython namespace, hand out its functions, answer calls."""
    import torch
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from .wire import Endpoint, sanitize

    torch.set_num_threads(1)
    cfg = Config()
    cfg.HistoryManager.enabled = False
    shell = InteractiveShell(config=cfg)

    def run_cell(source: str):
        result = shell.run_cell(source, store_history=False)
        err = result.error_before_exec or result.error_in_exec
        if err is None and result.success:
            return ""
        if err is None:
            return "the cell failed"
        try:
            text = str(err)
        except BaseException:
            text = "<unprintable message>"
        return sanitize(f"{type(err).__name__}: {text}", 2000)

    def lookup(name: str):
        if name not in shell.user_ns:
            raise NameError(f"no function named `{name}` is defined in the notebook")
        value = shell.user_ns[name]
        if not callable(value):
            raise TypeError(f"`{name}` is a {type(value).__name__}, not a function")
        return value

    endpoint = Endpoint(sock, handlers={"run_cell": run_cell, "lookup": lookup})
    while True:
        body, blobs = endpoint.receive()
        if body.get("op") == "bye":
            return
        endpoint.serve_call(body, blobs)


def _keeper(config: dict, sock_fd: int) -> None:
    """The forked child of the zygote: new namespaces, then the sandbox as pid 1; wait for it, then exit."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    if config["isolate"]:
        _check(_libc.unshare(NAMESPACES), "unshare")
    child = os.fork()
    if child == 0:
        status = 70
        try:
            try:
                _become_sandbox(config, sock_fd)
            except BaseException as err:  # report it: a grader without a working sandbox must stop, not retry
                from .wire import Endpoint

                Endpoint(socket.socket(fileno=sock_fd)).send(
                    {"op": "raise", "type": "SandboxSetupError", "message": f"{type(err).__name__}: {err}"[:2000]}
                )
                raise
            serve(socket.socket(fileno=sock_fd))
            status = 0
        finally:
            os._exit(status)
    os.close(sock_fd)
    os.waitpid(child, 0)
    os._exit(0)


def zygote(control_fd: int) -> None:
    """Preload, then fork one keeper per request: a JSON config and a socket fd arrive on ``control_fd``."""
    import IPython.core.interactiveshell  # noqa: F401
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import minitorch_xf  # noqa: F401
    from minitorch_xf import checks  # noqa: F401

    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # keepers are reaped by the kernel
    control = socket.socket(fileno=control_fd)
    control.sendall(b"ready\n")
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(control, 1 << 16, 1)
        except OSError:
            return
        if not msg:
            return
        config = json.loads(msg)
        pid = os.fork()
        if pid == 0:
            try:
                control.close()
                _keeper(config, fds[0])
            finally:
                os._exit(71)
        os.close(fds[0])
        control.sendall(f"{pid}\n".encode())


if __name__ == "__main__":
    zygote(int(sys.argv[1]))
