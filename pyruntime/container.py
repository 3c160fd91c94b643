"""Making containers: create, run and exec, and the cgroup verbs (pause, resume, update,
ps, events); `Runtime` does these and, as an `Operations`, everything else runtime.md names.

Owns: the order of things — config, state dir, cgroup, plan, spawn, sync with the child,
hooks, pid file — and undoing all of it when any step fails.
Must not touch: argv parsing or output formats (cli/), raw C structs (shim.py), the
operations on existing containers (operations.py).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # loaded at start-up; signal imports enum
import posix

from pyruntime import log, pathops
from pyruntime.errors import ContainerError, NotExistError, StateError
from pyruntime.operations import (
    Operations,
    namespace_flags,
    oci_state,
    open_cgroup,
    run_poststop,
)
from pyruntime.record import Record
from pyruntime.state import State, cache_dir, now_rfc3339

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pyruntime.cgroups import CgroupManager
    from pyruntime.plan import ChildPlan


class CreateOptions(Record):
    """Options of `create` / `run` (runc's flags)."""

    __slots__ = ("pid_file", "console_socket", "no_pivot", "no_new_keyring", "preserve_fds",
                 "systemd_cgroup", "console_fd", "stdio")
    _defaults = {"pid_file": None, "console_socket": None, "no_pivot": False,
                 "no_new_keyring": False, "preserve_fds": 0, "systemd_cgroup": False,
                 "console_fd": -1, "stdio": (-1, -1, -1)}
    pid_file: str | None
    console_socket: str | None
    no_pivot: bool
    no_new_keyring: bool
    preserve_fds: int
    systemd_cgroup: bool
    console_fd: int  # internal (run with a terminal): a connected socket instead of a path
    stdio: tuple[int, int, int]  # the Python API: fds for the process's 0, 1, 2 (-1: ours)


class Created(Record):
    """What `create` leaves for a caller that goes on to `start` in the same process (run)."""

    __slots__ = ("state", "sock", "pidfd", "plan", "cgroup")
    state: State
    sock: int
    pidfd: int
    plan: ChildPlan
    cgroup: CgroupManager | None


def write_pid_file(path: str, pid: int) -> None:
    """Write the pid as runc does: `.NAME` created exclusively, no newline, renamed into place."""
    path = pathops.abspath(path)
    tmp = pathops.join(pathops.dirname(path), "." + pathops.basename(path))
    try:
        posix.unlink(tmp)
    except FileNotFoundError:
        pass
    flags = posix.O_RDWR | posix.O_CREAT | posix.O_EXCL | posix.O_SYNC | posix.O_CLOEXEC
    fd = posix.open(tmp, flags, 0o666)
    try:
        posix.write(fd, str(pid).encode())
    finally:
        posix.close(fd)
    posix.rename(tmp, path)


def listen_fds() -> int:
    """How many fds systemd socket activation passed us (LISTEN_FDS, for our own pid)."""
    try:
        if int(pathops.getenv("LISTEN_PID") or "0") != posix.getpid():
            return 0
        return max(0, int(pathops.getenv("LISTEN_FDS") or "0"))
    except ValueError:
        return 0


def _check_preserved_fds(count: int) -> None:
    """--preserve-fds N hands the caller's fds 3..N+2 to the container: they must all be
    open now, before we open anything, or the container would inherit our own fds.

    Raises:
        StateError: one of them is not open.
    """
    if count <= 0:
        return
    import resource  # a shared library to load: only when fds are passed

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if count > soft:
        raise StateError(f"--preserve-fds {count}: more than the open file limit ({soft})")
    for fd in range(3, 3 + count):
        try:
            posix.fstat(fd)
        except OSError:
            raise StateError(f"--preserve-fds {count}: file descriptor {fd} is not open") from None


def _wants_limits(resources: dict[str, Any] | None) -> bool:
    """Whether linux.resources sets anything beyond device rules."""
    return any(v for k, v in (resources or {}).items() if k != "devices")


class Runtime(Operations):
    """All containers under one state root: makes them, and operates on them."""

    # ------------------------------------------------------------------ create

    def create(self, container_id: str, bundle: str, opts: CreateOptions | None = None, *,
               keep_sync: bool = False, config: dict[str, Any] | None = None) -> Created:
        """Create a container and leave its init waiting for `start`.

        config: the bundle's config.json when the caller has already loaded it (`run`).

        Raises:
            ContainerError: any failure; nothing is left behind.
        """
        opts = opts or CreateOptions()
        if config is None:
            bundle, config = self._load_bundle(container_id, bundle)
        terminal = bool((config.get("process") or {}).get("terminal"))
        if terminal and not opts.console_socket and opts.console_fd < 0:
            raise StateError("cannot allocate tty if runtime will detach without setting "
                             "console socket")
        if opts.console_socket and not terminal:
            raise StateError("cannot use console socket if runtime will not detach or "
                             "allocate tty")
        _check_preserved_fds(opts.preserve_fds + listen_fds())
        lock = self.store.make(container_id)
        undo: list[Callable[[], None]] = [lambda: self.store.remove(container_id)]
        try:
            created = self._create_locked(container_id, bundle, config, opts, undo)
        except BaseException as e:
            _run_undo(undo)
            lock.release()
            from pyruntime.errors import HookError

            if isinstance(e, HookError):
                # a failed create hook: the container is stopped, then deleted (poststop)
                from pyruntime.hooks import run_hooks

                doc = {"ociVersion": str(config.get("ociVersion", "")), "id": container_id,
                       "status": "stopped", "bundle": bundle}
                run_hooks(config.get("hooks") or {}, "poststop", doc, cwd=bundle,
                          warn_only=True)
            raise
        lock.release()
        if not keep_sync:
            posix.close(created.sock)
            posix.close(created.pidfd)
            object.__setattr__(created, "sock", -1)
            object.__setattr__(created, "pidfd", -1)
        return created

    def _load_bundle(self, container_id: str, bundle: str) -> tuple[str, dict[str, Any]]:
        """(absolute bundle path, validated config.json), after checking the id.

        Raises:
            ContainerError: an invalid id, or a missing or invalid config.
        """
        from pyruntime.spec.load import load_config

        self.store.dir(container_id)  # validates the id before any path is built
        bundle = pathops.realpath(bundle or ".")
        return bundle, load_config(bundle)

    def _create_locked(self, container_id: str, bundle: str, config: dict[str, Any],
                       opts: CreateOptions, undo: list[Callable[[], None]]) -> Created:
        from pyruntime.host import gather_facts
        from pyruntime.procs import process_start_time

        root = config.get("root") or {}
        rootfs = pathops.realpath(pathops.join(bundle, root.get("path", "rootfs")))
        if not pathops.isdir(rootfs):
            raise StateError(f"rootfs ({rootfs}) does not exist or is not a directory")
        linux = config.get("linux") or {}
        state = State(
            id=container_id, bundle=bundle, rootfs=rootfs, created=now_rfc3339(),
            oci_version=str(config.get("ociVersion", "")),
            annotations=dict(config.get("annotations") or {}),
            creating_pid=posix.getpid(), creating_start=process_start_time(posix.getpid()),
            systemd=opts.systemd_cgroup or self.systemd_cgroup,
            hooks=dict(config.get("hooks") or {}),
            namespaces=list(linux.get("namespaces") or []),
            config_process=dict(config.get("process") or {}),
            seccomp=linux.get("seccomp"),
        )
        mgr = self._make_cgroup(state, linux, undo)  # saves the first state ("creating")

        fifo = self.store.fifo_path(container_id)
        posix.mkfifo(fifo, 0o600)

        if mgr is None:
            facts = gather_facts(rootfs)
        else:
            cg_dirs = (_mount_names(mgr.joinable_paths(), state.cgroup_root)
                       if mgr.version == 1 else {})
            facts = gather_facts(rootfs, cg_dirs, None if mgr.version == 1 else
                                 mgr.joinable_paths().get(""))
        from pyruntime.host import with_home
        from pyruntime.plan import LaunchOptions, build_plan

        process = with_home(dict(config.get("process") or {}), rootfs)
        listen = listen_fds()
        if listen:
            # socket activation (as runc): our fds 3.. go first, and the process is told so
            raw = process.get("env")
            env = [str(e) for e in (raw if isinstance(raw, list) else [])
                   if not str(e).startswith(("LISTEN_FDS=", "LISTEN_PID="))]
            process["env"] = env + [f"LISTEN_FDS={listen}", "LISTEN_PID=1"]
        terminal = bool(process.get("terminal"))
        plan = build_plan(config, bundle, rootfs,
                          LaunchOptions(fifo_path=fifo, no_pivot=opts.no_pivot,
                                        preserve_fds=opts.preserve_fds + listen,
                                        console=terminal,
                                        stdio=opts.stdio, lsm_attr=_lsm_attr(process, linux)),
                          facts, process)
        seccomp = None
        if linux.get("seccomp"):
            from pyruntime.seccomp import compile_filter

            seccomp = compile_filter(linux["seccomp"], no_new_privs=plan.no_new_privs,
                                     cache_dir=cache_dir("seccomp"))

        pid, pidfd, sock = self._spawn(plan, seccomp, undo, opts, state.cgroup_paths)
        state.pid = pid
        try:
            from pyruntime import shim

            if shim.awaits_go(plan):
                from pyruntime.host import write_id_maps

                write_id_maps(pid, plan.uid_mappings, plan.gid_mappings)
                shim.send_go(sock)
            configure = self._configure_cgroup(mgr, linux)  # while the child sets up
            state.start_time = process_start_time(pid)
            rec = shim.read_record(sock)
            if rec is not None and rec.step == shim.Step.HOOKS:
                configure()
                self.store.save(state, shim.exchange)
                self._run_create_hooks(state, pid)
                shim.send_go(sock)
                rec = shim.read_record(sock)
        except OSError as e:
            raise ContainerError(f"unable to start container process: {e.strerror or e}") from e
        if rec is None or rec.step != shim.Step.READY or rec.errno:
            raise self._child_failure(plan, rec, pid)
        configure()
        if rec.fd >= 0:
            _send_to_seccomp_agent(rec.fd, linux.get("seccomp") or {}, oci_state(state, "creating"))
        state.creating_pid = 0
        state.creating_start = None
        self.store.save(state, shim.exchange)
        if opts.pid_file:
            write_pid_file(opts.pid_file, pid)
        return Created(state, sock, pidfd, plan, mgr)

    def _make_cgroup(self, state: State, linux: dict[str, Any],
                     undo: list[Callable[[], None]]) -> CgroupManager | None:
        """Create the container's cgroup (recorded in state); _create_locked configures it
        once the child is in it.

        Rootless (not root): without a delegated, writable cgroup the container runs in the
        caller's cgroup, as runc does, unless the config asks for resource limits.

        Raises:
            CgroupError: the cgroup cannot be created.
        """
        from pyruntime.errors import CgroupError

        mgr = open_cgroup(state, linux.get("cgroupsPath"))
        # the first state.json, written before anything exists, so that a create killed from
        # here on leaves a state that `delete --force` can clean up completely
        state.cgroup_path = mgr.path
        state.cgroup_paths = mgr.joinable_paths()
        state.cgroup_mounts = mgr.mounts
        self.store.save(state)
        try:
            mgr.create()
        except CgroupError:
            if posix.geteuid() == 0 or _wants_limits(linux.get("resources")):
                raise
            log.debug("rootless: no writable cgroup, running in the caller's")
            state.cgroup_path = None
            state.cgroup_paths = {}
            state.cgroup_mounts = {}
            return None
        undo.append(mgr.destroy)
        state.freezer_file = _freezer_file(mgr)
        return mgr

    @staticmethod
    def _configure_cgroup(mgr: CgroupManager | None,
                          linux: dict[str, Any]) -> Callable[[], None]:
        """Apply linux.resources but the device rules now, while the child (already in the
        cgroup) sets up its root; returns what installs the device rules once it waits.

        As runc: the limits are in force before any hook and before the user process, and
        the device rules change only while the child is blocked (before the hooks or at
        READY), never under its mounts, device nodes or console. mgr None: no cgroup.

        Raises:
            SpecError: linux.resources is malformed.
            CgroupError: the kernel refused a value.
        """
        if mgr is None:
            return lambda: None
        from pyruntime.cgroups.resources import parse_resources

        resources = parse_resources(linux.get("resources"))
        mgr.set_limits(resources, update=False)
        pending = [mgr.prepare_devices(resources, linux.get("devices"))]

        def install_devices() -> None:
            while pending:
                pending.pop()()

        return install_devices

    def _spawn(self, plan: ChildPlan, seccomp: Any, undo: list[Callable[[], None]],
               opts: CreateOptions,
               cgroup_dirs: dict[str, str] | None) -> tuple[int, int, int]:
        """Clone the child, born in (v2) or joining itself to (v1) the container's cgroups."""
        from pyruntime import shim

        join_fds: list[int] = []
        pidns_fd = console = cgroup_fd = -1
        tasks_fds: list[int] = []
        userns_fds: dict[int, int] = {}
        parent_fd, child_fd = shim.socketpair()
        try:
            for kind, path in plan.join_namespaces:
                join_fds.append(_open_namespace(kind, path))
            if plan.pidns_path:
                pidns_fd = _open_namespace("pid", plan.pidns_path)
            if plan.console:
                console = connect_console(opts)
            cgroup_fd, tasks_fds = _open_cgroup_fds(cgroup_dirs or {})
            userns_fds = _idmap_namespaces(plan)
            packed, _keep = shim.pack_plan(plan, child_fd, join_fds, pidns_fd, seccomp, console,
                                           cgroup_fd, tasks_fds, userns_fds)
            pid, pidfd = shim.spawn(packed)
        except BaseException:
            posix.close(parent_fd)
            raise
        finally:
            posix.close(child_fd)
            for fd in join_fds + [pidns_fd, console, cgroup_fd] + tasks_fds + list(
                    set(userns_fds.values())):
                if fd >= 0 and fd != opts.console_fd:
                    posix.close(fd)

        def kill_child() -> None:
            try:
                _signal.pidfd_send_signal(pidfd, 9)
            except ProcessLookupError:
                pass
            _reap(pid)
            posix.close(pidfd)
            posix.close(parent_fd)

        undo.append(kill_child)
        return pid, pidfd, parent_fd

    def _child_failure(self, plan: ChildPlan, rec: Any, pid: int) -> ContainerError:
        from pyruntime import shim
        from pyruntime.failure import describe

        if rec is None or rec.step == shim.Step.READY:
            _, status = _reap(pid)
            how = ""
            if status is not None:
                code = posix.waitstatus_to_exitcode(status)
                how = f" (exit status {code})" if code >= 0 else f" (signal {-code})"
            return ContainerError(f"unable to start container process: init exited{how}")
        return describe(plan, rec)

    def _run_create_hooks(self, state: State, pid: int) -> None:
        from pyruntime.hooks import run_hooks

        doc = oci_state(state, "creating")
        for kind in ("prestart", "createRuntime"):
            run_hooks(state.hooks, kind, doc, cwd=state.bundle)
        run_hooks(state.hooks, "createContainer", oci_state(state, "creating", in_container=True),
                  cwd=state.bundle, in_pid=pid, nstypes=namespace_flags(state))

    # ------------------------------------------------------------------ run

    def run(self, container_id: str, bundle: str, opts: CreateOptions | None = None, *,
            detach: bool = False, keep: bool = False) -> int:
        """create + start; without detach, wait and delete, returning the exit code.

        Raises:
            ContainerError: create or start failed (nothing is left behind).
        """
        opts = opts or CreateOptions()
        master = -1
        pair = None
        bundle, config = self._load_bundle(container_id, bundle)
        wants_terminal = bool((config.get("process") or {}).get("terminal"))
        if not detach and not opts.console_socket and wants_terminal:
            # a foreground run with a terminal: receive the pty master ourselves and proxy it
            import socket

            pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            opts = opts.replace(console_fd=pair[1].fileno())
        try:
            created = self.create(container_id, bundle, opts, keep_sync=True, config=config)
        finally:
            if pair is not None:
                pair[1].close()
        if pair is not None:
            from pyruntime.console import recv_master

            try:
                master = recv_master(pair[0])
            except BaseException:
                self.delete(container_id, force=True)
                raise
            finally:
                pair[0].close()
        state = created.state
        try:
            with self.store.lock(container_id):
                self._start_locked(state)
            from pyruntime import shim

            failure = shim.read_record(created.sock)  # EOF: the init exec'd
        except BaseException:
            posix.close(created.sock)
            posix.close(created.pidfd)
            self.delete(container_id, force=True)
            raise
        posix.close(created.sock)
        if failure is not None:
            from pyruntime.failure import describe

            posix.close(created.pidfd)
            self.delete(container_id, force=True)
            raise describe(created.plan, failure)
        if detach:
            posix.close(created.pidfd)
            return 0
        if master >= 0:
            from pyruntime.console import proxy

            proxy(master, created.pidfd)
            posix.close(master)
        code = _wait_forwarding(state.pid, created.pidfd)
        posix.close(created.pidfd)
        if not keep:
            self._remove_reaped(created)
        return code

    def _remove_reaped(self, created: Created) -> None:
        """`delete --force` after a foreground run reaped its init, reusing the state and
        cgroup this process already holds instead of reading them back."""
        state = created.state
        try:
            lock = self.store.lock(state.id)
        except NotExistError:
            return  # somebody deleted it meanwhile
        with lock:
            self._destroy(state, "stopped", created.cgroup)
        self.store.remove(state.id)
        run_poststop(state)

    # ------------------------------------------------------------------ exec

    def exec(self, container_id: str, process: dict[str, Any], opts: CreateOptions | None = None,
             *, detach: bool = False, ignore_paused: bool = False) -> int:
        """Run a new process inside a running container; its exit code unless detached.

        Raises:
            ExecError: the container is not running, or the process could not start (255).
        """
        from pyruntime import shim
        from pyruntime.errors import ExecError
        from pyruntime.plan import HostFacts, LaunchOptions, build_exec_plan
        from pyruntime.spec.validate import check_process_semantics, validate_process

        opts = opts or CreateOptions()
        state = self.store.load(container_id)
        status = self.store.status(state)
        if status == "stopped":
            raise ExecError("cannot exec in a stopped container")
        if status == "paused" and not ignore_paused:
            raise ExecError("cannot exec in a paused container")
        validate_process(process)
        check_process_semantics(process, "process.")
        _check_preserved_fds(opts.preserve_fds)
        terminal = bool(process.get("terminal"))
        if terminal and not opts.console_socket and opts.console_fd < 0:
            raise ExecError("cannot allocate tty if runtime will detach without setting "
                            "console socket")
        with open("/proc/sys/kernel/cap_last_cap") as f:
            facts = HostFacts(last_cap=int(f.read()))
        from pyruntime.host import with_home

        process = with_home(process, state.rootfs)
        plan = build_exec_plan(state.pid, state.namespaces, process,
                               LaunchOptions(preserve_fds=opts.preserve_fds, console=terminal,
                                             stdio=opts.stdio, lsm_attr=_lsm_attr(process, {})),
                               facts)
        seccomp = None
        if state.seccomp:
            from pyruntime.seccomp import compile_filter

            seccomp = compile_filter(state.seccomp, no_new_privs=plan.no_new_privs,
                                     cache_dir=cache_dir("seccomp"))
        undo: list[Callable[[], None]] = []
        try:
            pid, pidfd, sock = self._spawn(plan, seccomp, undo, opts, state.cgroup_paths)
            if shim.awaits_go(plan):
                shim.send_go(sock)
            rec = shim.read_record(sock)
            if rec is not None and rec.step == shim.Step.READY and not rec.errno:
                if rec.fd >= 0:
                    _send_to_seccomp_agent(rec.fd, state.seccomp or {},
                                           oci_state(state, "running"))
                rec = shim.read_record(sock)  # EOF: execve succeeded
            if rec is not None:
                from pyruntime.failure import describe

                raise ExecError(str(describe(plan, rec)))
        except ExecError:
            _run_undo(undo)
            raise
        except ContainerError as e:
            _run_undo(undo)
            raise ExecError(str(e)) from e
        except BaseException:
            _run_undo(undo)
            raise
        posix.close(sock)
        if opts.pid_file:
            write_pid_file(opts.pid_file, pid)
        if detach:
            posix.close(pidfd)
            return 0
        code = _wait_forwarding(pid, pidfd)
        posix.close(pidfd)
        return code

    # ------------------------------------------------------------------ cgroup verbs

    def _running_cgroup(self, container_id: str, allowed: tuple[str, ...],
                        error: str) -> tuple[State, CgroupManager]:
        state = self.store.load(container_id)
        status = self.store.status(state)
        if status not in allowed:
            raise StateError(error)
        if state.cgroup_path is None:
            raise StateError(f"container {container_id} has no cgroup of its own "
                             "(rootless without a delegated cgroup)")
        return state, open_cgroup(state)

    def pause(self, container_id: str) -> None:
        """Freeze every process of a running container.

        Raises:
            StateError: not running.
        """
        with self.store.lock(container_id):
            _, mgr = self._running_cgroup(container_id, ("running", "created"),
                                          "container not running")
            mgr.freeze()

    def resume(self, container_id: str) -> None:
        """Thaw a paused container.

        Raises:
            StateError: not paused.
        """
        with self.store.lock(container_id):
            _, mgr = self._running_cgroup(container_id, ("paused",), "container not paused")
            mgr.thaw()

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """Change the resources of a live container (zero means unchanged, as Docker sends).

        Raises:
            StateError: the container is stopped.
        """
        from pyruntime.spec.validate import validate_resources

        validate_resources(resources)
        with self.store.lock(container_id):
            _, mgr = self._running_cgroup(container_id, ("running", "created", "paused"),
                                          "container not running")
            mgr.update(resources)

    def pids(self, container_id: str) -> list[int]:
        """Host pids of every process in the container's cgroup.

        Raises:
            StateError: the container is stopped.
        """
        _, mgr = self._running_cgroup(container_id, ("running", "created", "paused"),
                                      "container not running")
        return mgr.pids()

    def stats(self, container_id: str) -> dict[str, Any]:
        """runc's `events --stats` data object.

        Raises:
            StateError: the container is stopped.
        """
        _, mgr = self._running_cgroup(container_id, ("running", "created", "paused"),
                                      "container not running")
        return mgr.stats()

    def oom_watcher(self, container_id: str) -> Any:
        """An object with wait(timeout) -> bool and close(), reporting OOM kills.

        Raises:
            ContainerError: no memory controller or the container is stopped.
        """
        _, mgr = self._running_cgroup(container_id, ("running", "created", "paused"),
                                      "container not running")
        return mgr.oom_events()

def _lsm_attr(process: dict[str, Any], linux: dict[str, Any]) -> tuple[str, str] | None:
    """lsm.exec_attr, with pyruntime.lsm imported only when the config names an AppArmor
    profile, an SELinux label or a mount label (the keys exec_attr reads)."""
    if not (process.get("apparmorProfile") or process.get("selinuxLabel")
            or linux.get("mountLabel")):
        return None
    from pyruntime.lsm import exec_attr

    return exec_attr(process, linux)


def _send_to_seccomp_agent(fd: int, seccomp: dict[str, Any], state: dict[str, Any]) -> None:
    """Hand the seccomp notify fd to listenerPath with the container process state.

    Raises:
        ContainerError: the agent cannot be reached.
    """
    import socket

    from pyruntime.jsonio import dumps

    path = str(seccomp.get("listenerPath") or "")
    doc = {"ociVersion": state.get("ociVersion", ""), "fds": ["seccompFd"],
           "pid": state.get("pid", 0), "metadata": seccomp.get("listenerMetadata", ""),
           "state": state}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            socket.send_fds(sock, [dumps(doc).encode()], [fd])
    except OSError as e:
        raise ContainerError(f"send seccomp fd to {path}: {e.strerror or e}") from None
    finally:
        posix.close(fd)


def _mount_names(paths: dict[str, str], cgroup_root: str) -> dict[str, str]:
    """{host mount dir name (cpu, systemd, unified...): the container's dir in it}."""
    out = {}
    for directory in paths.values():
        name = pathops.relpath(directory, cgroup_root).split("/")[0]
        if name and name != "..":
            out[name] = directory
    return out


def connect_console(opts: CreateOptions) -> int:
    """A connected stream socket for the pty master: --console-socket, or run's own pair.

    Raises:
        StateError: the socket cannot be reached.
    """
    if opts.console_fd >= 0:
        return opts.console_fd
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(opts.console_socket or "")
    except OSError as e:
        sock.close()
        raise StateError(f"connect to console socket {opts.console_socket}: "
                         f"{posix.strerror(e.errno or 0).lower()}") from None
    return sock.detach()


def _freezer_file(mgr: Any) -> str | None:
    paths = mgr.joinable_paths()
    if mgr.version == 1:
        base = paths.get("freezer")
        return pathops.join(base, "freezer.state") if base else None
    base = paths.get("")
    return pathops.join(base, "cgroup.freeze") if base else None


def _idmap_namespaces(plan: ChildPlan) -> dict[int, int]:
    """{op index: user namespace fd} for the plan's idmapped mounts (one per mapping)."""
    from pyruntime import shim

    by_map: dict[tuple[str, str], int] = {}
    out: dict[int, int] = {}
    try:
        for i, op in enumerate(plan.ops):
            if op.kind == "IDMAP_BIND" and op.idmap is not None:
                if op.idmap not in by_map:
                    by_map[op.idmap] = shim.make_userns(*op.idmap)
                out[i] = by_map[op.idmap]
    except OSError as e:
        for fd in by_map.values():
            posix.close(fd)
        raise ContainerError(str(e.strerror or e)) from e
    return out


def _open_cgroup_fds(dirs: dict[str, str]) -> tuple[int, list[int]]:
    """(cgroup2 dir fd for CLONE_INTO_CGROUP or -1, [v1 `tasks` file fds]).

    Raises:
        CgroupError: a cgroup directory is missing.
    """
    from pyruntime.errors import CgroupError

    v2 = -1
    tasks: list[int] = []
    seen: set[str] = set()
    try:
        for key, directory in dirs.items():
            if key == "":
                v2 = posix.open(directory, posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)
            elif directory not in seen:  # co-mounted controllers share one directory
                seen.add(directory)
                tasks.append(posix.open(pathops.join(directory, "tasks"),
                                     posix.O_WRONLY | posix.O_CLOEXEC))
    except OSError as e:
        for fd in tasks + ([v2] if v2 >= 0 else []):
            posix.close(fd)
        reason = posix.strerror(e.errno or 0).lower()
        raise CgroupError(f"open cgroup {e.filename}: {reason}") from e
    return v2, tasks


def _open_namespace(kind: str, path: str) -> int:
    """Open a namespace file and check it is of the expected type (NS_GET_NSTYPE)."""
    import fcntl

    from pyruntime.plan import Flags
    from pyruntime.spec.constants import NAMESPACES

    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError as e:
        reason = posix.strerror(e.errno or 0).lower()
        raise StateError(f"open {kind} namespace {path}: {reason}") from e
    try:
        nstype = fcntl.ioctl(fd, 0xB703)  # NS_GET_NSTYPE
    except OSError as e:
        posix.close(fd)
        raise StateError(f"{path} is not a namespace file") from e
    if nstype != Flags.get(NAMESPACES[kind][0]):
        posix.close(fd)
        raise StateError(f"{path} is not a {kind} namespace")
    return fd


def _reap(pid: int) -> tuple[int, int | None]:
    try:
        return posix.waitpid(pid, 0)
    except ChildProcessError:
        return pid, None


def _run_undo(undo: list[Callable[[], None]]) -> None:
    for action in reversed(undo):
        try:
            action()
        except Exception as e:  # cleanup must go on
            log.debug(f"cleanup step failed: {e}")


def _wait_forwarding(pid: int, pidfd: int) -> int:
    """Wait for our child init, forwarding signals to it; returns runc's exit code."""
    # the C module directly: `signal` wraps it in enums that cost milliseconds to import

    forwarded = (_signal.SIGHUP, _signal.SIGINT, _signal.SIGQUIT, _signal.SIGTERM,
                 _signal.SIGUSR1, _signal.SIGUSR2, _signal.SIGWINCH)

    def forward(sig: int, _frame: Any) -> None:
        try:
            _signal.pidfd_send_signal(pidfd, sig)
        except ProcessLookupError:
            pass

    for sig in forwarded:
        _signal.signal(sig, forward)
    while True:
        try:
            _, status = posix.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0
    code = posix.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def wait_exit(pidfd: int, timeout: float | None = None) -> bool:
    """Wait until the process behind pidfd exits (any process, not only children)."""
    import select
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([pidfd], [], [], left)
        if ready:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


__all__ = ["CreateOptions", "Created", "Runtime", "NotExistError"]
