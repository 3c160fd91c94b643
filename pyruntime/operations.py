"""Operations on containers that exist: state, list, start, kill, delete (runtime.md).

`start`, `kill` and `delete` need only these, so the CLI runs them from this module without
loading pyruntime.container (which makes containers: create, run, exec, and the cgroup
verbs; its `Runtime` is an `Operations` too). About a third of that module's code, and 0.3 ms
less of every such call.

Owns: the order of things when a container is started, signalled or removed — state dir,
lock, exec fifo, hooks, cgroup — and the hook state document.
Must not touch: argv parsing or output formats (cli/), making containers (container.py).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # loaded at start-up; signal imports enum
import posix

from pyruntime import log
from pyruntime.errors import ContainerError, NotExistError, NotRunningError, StateError
from pyruntime.state import State, StateStore, default_root

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from pyruntime.cgroups import CgroupManager


def oci_state(state: State, status: str, *, in_container: bool = False) -> dict[str, Any]:
    """The runtime-spec state object (what hooks get on stdin).

    For hooks run in the container's namespaces the pid is the one the container sees.
    """
    doc: dict[str, Any] = {
        "ociVersion": state.oci_version, "id": state.id, "status": status,
        "bundle": state.bundle,
    }
    if status != "stopped" and state.pid > 0:
        doc["pid"] = _pid_in_container(state.pid) if in_container else state.pid
    if state.annotations:
        doc["annotations"] = state.annotations
    return doc


def _pid_in_container(pid: int) -> int:
    """The pid as the container's pid namespace numbers it (last NSpid field)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return pid


def open_cgroup(state: State, cgroups_path: str | None = None) -> CgroupManager:
    """The manager of a container's cgroup, as its state recorded it (cgroups_path: the
    config's, while the state has none yet)."""
    from pyruntime.cgroups import open_manager

    path = state.cgroup_path if state.cgroup_path is not None else cgroups_path
    return open_manager(path, state.id, systemd=state.systemd, root=state.cgroup_root,
                        paths=state.cgroup_paths or None, mounts=state.cgroup_mounts or None)


def namespace_flags(state: State) -> int:
    """The CLONE_NEW* flags of the namespaces a hook joins in the container (setns)."""
    from pyruntime.plan import Flags
    from pyruntime.spec.constants import NAMESPACES

    flags = 0
    for ns in state.namespaces:
        kind = ns.get("type", "")
        if kind in NAMESPACES and kind != "user":
            flags |= Flags.get(NAMESPACES[kind][0])
        elif kind == "user" and not ns.get("path"):
            flags |= Flags.get("CLONE_NEWUSER")
    return flags


class Operations:
    """The operations on every container under one state root."""

    def __init__(self, root: str | None = None, *, systemd_cgroup: bool = False) -> None:
        self.store = StateStore(root or default_root())
        self.systemd_cgroup = systemd_cgroup

    # ------------------------------------------------------------------ start

    def start(self, container_id: str) -> State:
        """Let a created container's init exec the user process.

        Raises:
            StateError: the container is not in the created state.
            HookError: a startContainer hook failed (the container is then stopped).
        """
        with self.store.lock(container_id):
            state = self.store.load(container_id)
            status = self.store.status(state)
            if status != "created":
                raise StateError({
                    "stopped": "cannot start a container that has stopped",
                    "running": "cannot start an already running container",
                    "paused": "cannot start a paused container",
                }.get(status, f"cannot start a container in the {status} state"))
            self._start_locked(state)
        return state

    def _start_locked(self, state: State) -> None:
        fifo = self.store.fifo_path(state.id)
        if state.hooks.get("startContainer"):
            from pyruntime.hooks import run_hooks

            try:
                run_hooks(state.hooks, "startContainer",
                          oci_state(state, "created", in_container=True), cwd=state.bundle,
                          in_pid=state.pid, nstypes=namespace_flags(state))
            except ContainerError:
                self._kill_init(state, 9)
                raise
        try:
            fd = posix.open(fifo, posix.O_WRONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
        except OSError as e:
            import errno  # (only on this error path: 0.08 ms to import)

            if e.errno == errno.ENXIO:
                raise StateError("cannot start a container that has stopped") from None
            raise StateError(f"open exec fifo {fifo}: {posix.strerror(e.errno or 0)}") from e
        try:
            posix.write(fd, b"0")
        finally:
            posix.close(fd)
        posix.unlink(fifo)
        if state.hooks.get("poststart"):
            from pyruntime.hooks import run_hooks

            # the spec runs poststart after the user process is executed: wait for the exec
            _wait_exec(state.pid, 2.0)
            try:
                run_hooks(state.hooks, "poststart", oci_state(state, "running"),
                          cwd=state.bundle)
            except ContainerError:
                # runtime-spec 1.3: a failing poststart hook is an error and stops the container
                self._kill_init(state, 9)
                raise

    # ------------------------------------------------------------------ state, list

    def state(self, container_id: str) -> tuple[State, str]:
        """(state, status) of one container.

        Raises:
            NotExistError: no such container.
        """
        state = self.store.load(container_id)
        return state, self.store.status(state)

    def list(self) -> list[tuple[State, str]]:
        """Every container under the root, skipping unreadable ones."""
        out = []
        for cid in self.store.ids():
            try:
                out.append(self.state(cid))
            except ContainerError:
                continue
        return out

    # ------------------------------------------------------------------ kill

    def kill(self, container_id: str, sig: int, *, all_processes: bool = False) -> None:
        """Send a signal to the init (or, with all_processes, to every process in the cgroup).

        Raises:
            NotRunningError: the container is stopped (not raised with all_processes: runc).
        """
        state = self.store.load(container_id)
        status = self.store.status(state)
        if status == "stopped":
            if all_processes:
                return
            raise NotRunningError()
        if all_processes and state.cgroup_path is not None:
            mgr = open_cgroup(state)
            for pid in mgr.pids():
                try:
                    posix.kill(pid, sig)
                except ProcessLookupError:
                    pass
            return
        if not self._kill_init(state, sig):
            raise NotRunningError()

    def _kill_init(self, state: State, sig: int) -> bool:
        from pyruntime.procs import signal_pid

        return signal_pid(state.pid, state.start_time, sig)

    # ------------------------------------------------------------------ delete

    def delete(self, container_id: str, *, force: bool = False) -> None:
        """Remove a container: its init (with force, or when only created), cgroup and state.

        Raises:
            NotExistError: no such container (not with force: runc exits 0).
            StateError: the container is running and force is not given.
        """
        self.store.dir(container_id)  # an invalid id is an error even with --force
        try:
            lock = self.store.lock(container_id)
            try:
                state = self.store.load(container_id)
            except BaseException:
                lock.release()
                raise
        except NotExistError:
            self.store.remove(container_id)  # a directory without state: debris
            if force:
                return
            raise
        except StateError:
            if not force:
                raise
            self._remove_damaged(container_id)
            return
        with lock:
            status = self.store.status(state)
            if status != "stopped" and not force:
                raise StateError(f"cannot delete container {container_id} that is not stopped: "
                                 f"{status}")
            self._destroy(state, status)
        self.store.remove(container_id)
        run_poststop(state)

    def _remove_damaged(self, container_id: str) -> None:
        """delete --force of a container whose state cannot be read: kill what is in its
        default cgroup (where its init lives unless cgroupsPath said otherwise), remove the
        cgroup and the state directory."""
        log.warning(f"removing container {container_id} with a damaged state file")
        try:
            from pyruntime.cgroups import open_manager

            mgr = open_manager(None, container_id)
            if mgr.exists():
                if mgr.pids():
                    mgr.signal_all(9)
                mgr.destroy()
        except ContainerError as e:
            log.debug(f"no default cgroup to clean for {container_id}: {e}")
        self.store.remove(container_id)

    def _destroy(self, state: State, status: str, mgr: CgroupManager | None = None) -> None:
        """Kill what is left of the container and remove its cgroup (mgr: already open)."""
        from pyruntime.procs import open_pidfd

        if status == "paused":
            mgr = mgr or _recorded_cgroup(state)
            if mgr is not None:
                mgr.thaw()
        if status != "stopped":
            fd = open_pidfd(state.pid, state.start_time) if state.pid > 0 else None
            if fd is not None:
                try:
                    _signal.pidfd_send_signal(fd, 9)
                except ProcessLookupError:
                    pass
                _wait_gone(fd, 5.0)
                posix.close(fd)
        if mgr is None:
            if remove_idle_cgroup(state):
                return
            mgr = _recorded_cgroup(state)
        if mgr is not None:
            try:
                if mgr.pids():
                    mgr.signal_all(9)
            except ContainerError:
                pass
            mgr.destroy()


def _recorded_cgroup(state: State) -> CgroupManager | None:
    """The manager of the cgroup the state records; None if it has none or it is gone."""
    if state.cgroup_path is None:
        return None
    try:
        return open_cgroup(state)
    except ContainerError:
        return None


def remove_idle_cgroup(state: State) -> bool:
    """Remove the recorded cgroup directories when nothing is left in them, without the
    cgroup managers (0.5-0.9 ms of imports on every delete); True when all are gone.

    rmdir(2) itself is the test: the kernel refuses a cgroup that still holds a task or a
    child cgroup (EBUSY), so at the first refusal, or at a hierarchy's root, this stops
    and the manager does the careful work (kill what is left, children first, retries).
    """
    if not state.cgroup_paths:
        return state.cgroup_path is None
    roots = {*state.cgroup_mounts.values(), state.cgroup_root}
    for d in dict.fromkeys(state.cgroup_paths.values()):
        if d in roots:
            return False
        try:
            posix.rmdir(d)
        except FileNotFoundError:
            continue
        except OSError:
            return False
    return True


def run_poststop(state: State) -> None:
    """poststop hooks of a removed container (failures only warn)."""
    if state.hooks.get("poststop"):
        from pyruntime.hooks import run_hooks

        run_hooks(state.hooks, "poststop", oci_state(state, "stopped"), cwd=state.bundle,
                  warn_only=True)


def _wait_exec(pid: int, timeout: float) -> None:
    """Wait (bounded) until the init has exec'd: its /proc/PID/exe is no longer our python."""
    import time

    ours = posix.readlink("/proc/self/exe")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if posix.readlink(f"/proc/{pid}/exe") != ours:
                return
        except OSError:
            return  # gone already (or not ours to read): nothing left to wait for
        time.sleep(0.0005)


def _wait_gone(pidfd: int, timeout: float) -> bool:
    import select

    ready, _, _ = select.select([pidfd], [], [], timeout)
    return bool(ready)
