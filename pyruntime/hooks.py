"""OCI hooks: run with the container state on stdin, a timeout, and the spec's failure rules.

Owns: executing hooks (in the host's namespaces, or in the container's through the shim)
and reporting their failures.
Must not touch: state files, cgroups.
"""

from __future__ import annotations

import posix

from pyruntime import log
from pyruntime.errors import HookError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any


def _wait_pidfd(pid: int, pidfd: int, timeout: float | None) -> int | None:
    """Wait for a child through its pidfd; returns the wait status, None on timeout."""
    import select
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([pidfd], [], [], left)
        if ready:
            _, status = posix.waitpid(pid, 0)
            return status
        if deadline is not None and time.monotonic() >= deadline:
            return None


def _describe(hook: Mapping[str, Any], kind: str) -> str:
    return f"{kind} hook {hook.get('path')}"


def run_hook(hook: Mapping[str, Any], kind: str, state: Mapping[str, Any], *, cwd: str,
             in_pid: int | None = None, nstypes: int = 0) -> None:
    """Run one hook; raise HookError if it fails, is killed or times out.

    With in_pid the hook runs in the namespaces `nstypes` of that process (createContainer,
    startContainer); otherwise in the runtime's namespaces, with cwd the bundle.

    Raises:
        HookError: non-zero exit, signal, timeout, or the program could not be started.
    """
    path = str(hook.get("path", ""))
    args = [str(a) for a in (hook.get("args") or [path])]
    env = [str(e) for e in (hook.get("env") or [])]
    timeout = hook.get("timeout")
    from pyruntime.jsonio import dumps

    data = dumps(state).encode()
    out_r, out_w = posix.pipe2(posix.O_CLOEXEC)
    in_r, in_w = posix.pipe2(posix.O_CLOEXEC)
    try:
        if in_pid is None:
            import subprocess

            proc = subprocess.Popen(
                args, executable=path, stdin=in_r, stdout=out_w, stderr=out_w, cwd=cwd,
                env=dict(e.split("=", 1) for e in env if "=" in e), close_fds=True)
            pid, pidfd = proc.pid, posix.pidfd_open(proc.pid)
        else:
            from pyruntime import shim

            pid, pidfd = shim.spawn_in_namespaces(in_pid, nstypes, path, args, env,
                                                  in_r, out_w, out_w)
    except OSError as e:
        for fd in (out_r, out_w, in_r, in_w):
            posix.close(fd)
        raise HookError(f"{_describe(hook, kind)}: {posix.strerror(e.errno or 0).lower()}") from e
    posix.close(in_r)
    posix.close(out_w)
    try:
        try:
            posix.write(in_w, data)
        except BrokenPipeError:
            pass
        posix.close(in_w)
        status = _wait_pidfd(pid, pidfd, None if timeout is None else float(timeout))
        if status is None:
            posix.kill(pid, 9)
            posix.waitpid(pid, 0)
            raise HookError(f"{_describe(hook, kind)}: timed out after {timeout}s")
        output = _drain(out_r)
    finally:
        posix.close(pidfd)
        posix.close(out_r)
    code = posix.waitstatus_to_exitcode(status)
    if code != 0:
        what = f"exit status {code}" if code > 0 else f"signal {-code}"
        tail = f": {output}" if output else ""
        raise HookError(f"{_describe(hook, kind)} failed: {what}{tail}")


def _drain(fd: int) -> str:
    posix.set_blocking(fd, False)
    chunks = []
    try:
        while True:
            chunk = posix.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks).decode(errors="replace").strip().replace("\n", " ")[:500]


def run_hooks(hooks: Mapping[str, Sequence[Mapping[str, Any]]], kind: str,
              state: Mapping[str, Any], *, cwd: str, in_pid: int | None = None,
              nstypes: int = 0, warn_only: bool = False) -> None:
    """Run every hook of one kind in order.

    With warn_only (poststart, poststop) a failure is logged and the rest still run.

    Raises:
        HookError: the first failing hook, unless warn_only.
    """
    for hook in hooks.get(kind) or []:
        try:
            run_hook(hook, kind, state, cwd=cwd, in_pid=in_pid, nstypes=nstypes)
        except HookError as e:
            if not warn_only:
                raise
            log.warning(str(e))
