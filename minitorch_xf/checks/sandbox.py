"""Run a submission's code where it cannot reach the grader: Linux namespaces, a minimal root, an unprivileged user.

Four processes take part::

    grader worker  --control socket-->  zygote  --fork-->  keeper (root)  --fork-->  sandbox (pid 1, user nobody)
          ^------------------------- call socket (wire.Endpoint) -------------------------------^

* The **zygote** is started from a clean environment and imports torch, NumPy, Matplotlib, IPython and the package
  once (4-6 s on a laptop), so each submission starts by ``fork`` in milliseconds. It never sees the reference
  notebook, the solutions or the other submissions, so a fork of it carries none of them in memory.
* The **keeper** enters new mount, PID, network, IPC and UTS namespaces and forks the sandbox, which is process 1 of
  its PID namespace: when it dies, the kernel kills every process it started. The worker kills the keeper to end a
  submission; the sandbox follows (parent-death signal), and so does everything below it. Each process of the chain
  dies with its parent (a parent-death signal, checked against a parent that died before it was set).
* The **sandbox** builds a **minimal root** and pivots into it: a small read-only ``tmpfs`` holding, bound
  read-only at their own paths, only the interpreter (its prefix, the virtual environment and its site-packages),
  the package's own source folder (not the repository around it), the system's shared libraries (``/usr/lib*``,
  ``/lib*``, ``/etc/ld.so.cache``), five device files (``null``, ``zero``, ``full``, ``random``, ``urandom``), a
  fresh PID-private ``/proc``, a two-line ``/etc/passwd`` and ``/etc/group``, and a private writable ``/tmp``
  (its home and working folder). Nothing else of the host filesystem exists there: no repository, no ``.git``, no
  solutions, no home folders, no other checkout. It then sets CPU, memory, file-size, process and open-file limits,
  drops to the unprivileged user ``nobody`` (no new privileges), points stdout and stderr at ``/dev/null``, tells
  the grader it is ready, and runs :func:`serve`: execute a cell, look up a function, call it.

Without root (a laptop, a CI runner that is not root) there are no namespaces and no user switch: the grader then
refuses to grade unless told ``--no-sandbox`` (its tests of correctness still run; its isolation tests skip).
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import re
import resource
import select
import signal
import socket
import stat
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
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
NEW_ROOT = "/tmp"  # where the new root is assembled: any existing folder, covered only in the sandbox's namespace
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
    """What the zygote needs to start one sandbox (JSON-safe): ``isolate``, ``keep`` (paths bound into the minimal
    root), ``links``, ``hide`` (paths inside ``keep``), ``workdir`` (without isolation), limits ``cpu_s``,
    ``memory_mb``, ``file_mb``, ``tmpfs_mb``, ``nproc``."""


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(s):
        return None if s is None else s.encode()

    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _mount_points() -> list[str]:
    """Mount points of this namespace, deepest last (octal escapes of /proc/self/mountinfo decoded)."""
    with open("/proc/self/mountinfo", "rb") as f:
        raw = [line.split()[4] for line in f]
    points = [os.fsdecode(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), p)) for p in raw]
    return sorted(points, key=len)


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _lock_down_filesystem(keep: list[str], links: list[list[str]], hide: list[str], tmpfs_mb: int) -> str:
    """In a fresh mount namespace, pivot into a minimal root: ``keep`` (folders and files) bound read-only at their
    own paths, ``links`` (``[path, target]``: ``/lib -> usr/lib``) recreated, the devices, a fresh ``/proc``, a
    private working folder of ``tmpfs_mb`` MiB for user nobody (``/tmp``, or ``/xf-work`` when a kept path lies
    under ``/tmp``), returned; ``hide`` (paths inside ``keep``) behind empty mounts."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # hold every source by a file descriptor first: the new root may cover the folder a source lives in
    sources = {}
    for path in [*keep, *DEVICES]:
        try:
            sources[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
    new = NEW_ROOT
    _mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for path, fd in sources.items():
        target = new + path
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.makedirs(target, mode=0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            open(target, "a").close()
        _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        os.close(fd)
    for path, target in links:
        if not os.path.lexists(new + path):
            os.makedirs(os.path.dirname(new + path), mode=0o755, exist_ok=True)
            os.symlink(target, new + path)
    os.makedirs(new + "/etc", mode=0o755, exist_ok=True)
    with open(new + "/etc/passwd", "w") as f:
        f.write(f"nobody:x:{NOBODY}:{NOBODY}:nobody:/tmp:/nonexistent\n")
    with open(new + "/etc/group", "w") as f:
        f.write(f"nogroup:x:{NOBODY}:\n")
    os.makedirs(new + "/proc", mode=0o555)
    _mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    work = "/tmp" if not any(_under(k, "/tmp") for k in keep) else "/xf-work"  # a checkout under /tmp keeps its path
    os.makedirs(new + work, mode=0o755)
    opts = f"size={tmpfs_mb}m,mode=0700,uid={NOBODY},gid={NOBODY}"
    _mount("tmpfs", new + work, "tmpfs", MS_NOSUID | MS_NODEV, opts)
    for path in sorted(hide, key=len):
        target = new + path
        if os.path.isdir(target):
            _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0755")
        elif os.path.lexists(target):
            _mount(new + "/dev/null", target, None, MS_BIND)
    os.mkdir(new + "/.old")
    if SYS_PIVOT_ROOT is not None and _libc.syscall(SYS_PIVOT_ROOT, new.encode(), (new + "/.old").encode()) == 0:
        os.chdir("/")
        _check(_libc.umount2(b"/.old", MNT_DETACH), "umount the old root")
        os.rmdir("/.old")
    else:  # an architecture without a known pivot_root number: chroot (nobody cannot leave it)
        os.chroot(new)
        os.chdir("/")
    for point in _mount_points():  # every mount read-only, except the working folder, /proc and the devices
        if point == work or _under(point, "/proc") or _under(point, "/dev"):
            continue
        try:
            _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        except OSError:
            if point == "/":
                raise
    return work


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


def _die_with_parent(alive_fd: int | None = None, parent: int | None = None) -> None:
    """SIGKILL this process when its parent dies; exit now if the parent is already gone (it may have died before
    the signal was set). ``alive_fd``: a pipe whose writer is the parent (EOF: gone); ``parent``: its pid."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    if parent is not None and os.getppid() != parent:
        os._exit(0)
    if alive_fd is not None and select.select([alive_fd], [], [], 0)[0]:
        os._exit(0)


def _become_sandbox(config: dict, sock_fd: int, alive_fd: int) -> None:
    """In the sandbox process: lock down, drop privileges, point the standard streams at /dev/null."""
    _die_with_parent(alive_fd)
    if config["isolate"]:
        workdir = _lock_down_filesystem(config["keep"], config["links"], config["hide"], config["tmpfs_mb"])
    else:
        workdir = config["workdir"]
    os.setsid()
    os.chdir(workdir)
    env = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "PYTHONPATH", "TRITON_INTERPRET")}
    env.update(HOME=workdir, TMPDIR=workdir, MPLCONFIGDIR=workdir, IPYTHONDIR=workdir + "/.ipython", MPLBACKEND="Agg")
    env.update(XDG_CACHE_HOME=workdir + "/.cache", TRITON_CACHE_DIR=workdir + "/.triton", OMP_NUM_THREADS="1")
    env.update(USER="nobody", LOGNAME="nobody", PATH=os.path.dirname(sys.executable))
    os.environ.clear()
    os.environ.update(env)
    _limits(config["cpu_s"], config["memory_mb"], config["file_mb"], config["nproc"])
    if config["isolate"]:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _die_with_parent(alive_fd)  # a change of user clears the parent-death signal: set it again
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


def _keeper(config: dict, sock_fd: int, zygote_pid: int) -> None:
    """The forked child of the zygote: new namespaces, then the sandbox as pid 1; wait for it, then exit.

    The sandbox's first frame says whether it could be set up: ``ready`` or ``setup-failed``. It is sent before
    any of the submission's code runs, so a submission cannot forge it (a frame it forges later is an answer out of
    turn, :class:`~minitorch_xf.checks.wire.SandboxLost`)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _die_with_parent(parent=zygote_pid)
    if config["isolate"]:
        _check(_libc.unshare(NAMESPACES), "unshare")
    alive_r, alive_w = os.pipe()  # the sandbox sees EOF here when the keeper is gone
    child = os.fork()
    if child == 0:
        status = 70
        try:
            os.close(alive_w)
            from .wire import Endpoint

            endpoint = Endpoint(socket.socket(fileno=sock_fd))
            try:
                _become_sandbox(config, sock_fd, alive_r)
            except BaseException as err:  # report it: a grader without a working sandbox must stop, not retry
                endpoint.send({"op": "setup-failed", "message": f"{type(err).__name__}: {err}"[:2000]})
                raise
            endpoint.send({"op": "ready"})
            serve(endpoint.sock)
            status = 0
        finally:
            os._exit(status)
    os.close(alive_r)
    os.close(sock_fd)
    os.waitpid(child, 0)
    os._exit(0)


def zygote(control_fd: int, parent: int | None = None) -> None:
    """Preload, then fork one keeper per request: a JSON config and a socket fd arrive on ``control_fd``."""
    _die_with_parent(parent=parent)
    import IPython.core.interactiveshell  # noqa: F401
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import minitorch_xf  # noqa: F401
    from minitorch_xf import checks  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # keepers are reaped by the kernel
    control = socket.socket(fileno=control_fd)
    control.sendall(b"ready\n")
    me = os.getpid()
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
                _keeper(config, fds[0], me)
            finally:
                os._exit(71)
        os.close(fds[0])
        control.sendall(f"{pid}\n".encode())


if __name__ == "__main__":
    zygote(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None)
