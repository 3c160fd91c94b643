"""The Python API: run a command in a container, or drive a container step by step.

Owns: `run()` (create, start, wait, delete, with subprocess-style capture), `Container`
(create/load/start/state/kill/wait/exec/pause/resume/update/delete, a context manager),
`ContainerState`, and `Spec` (build a config.json without editing JSON by hand).
Must not touch: lifecycle logic; everything here calls `container.Runtime`, as the CLI does.

    >>> import pyruntime, subprocess
    >>> r = pyruntime.run(bundle, stdout=subprocess.PIPE)      # doctest: +SKIP
    >>> r.returncode, r.stdout                                  # doctest: +SKIP
    (0, b'hello\\n')
"""

from __future__ import annotations

import os
import subprocess
import uuid

from pyruntime.container import CreateOptions, Runtime
from pyruntime.errors import ContainerError
from pyruntime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import IO, Any

    from pyruntime.state import State

    Stream = int | IO[Any] | None


__all__ = ["run", "Container", "ContainerState", "Spec", "ContainerError"]


class ContainerState(Record):
    """A typed view of `state`: the runtime-spec state plus when it was created."""

    __slots__ = ("id", "status", "pid", "bundle", "rootfs", "created", "annotations", "owner",
                 "oci_version")
    id: str
    status: str
    pid: int
    bundle: str
    rootfs: str
    created: str
    annotations: dict[str, str]
    owner: str
    oci_version: str


class _Stdio:
    """Turns subprocess-style stdin/stdout/stderr arguments into fds, and collects output."""

    def __init__(self, stdin: Stream, stdout: Stream, stderr: Stream) -> None:
        self.child: list[int] = []
        self.parent_in: int | None = None
        self.parent_out: dict[str, int] = {}
        self._close_after: list[int] = []
        for name, value in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr)):
            self.child.append(self._prepare(name, value))

    def _prepare(self, name: str, value: Stream) -> int:
        if value is None:
            return -1
        if value == subprocess.DEVNULL:
            fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            self._close_after.append(fd)
            return fd
        if value == subprocess.PIPE:
            r, w = os.pipe2(os.O_CLOEXEC)
            if name == "stdin":
                self.parent_in = w
                self._close_after.append(r)
                return r
            self.parent_out[name] = r
            self._close_after.append(w)
            return w
        if value == subprocess.STDOUT and name == "stderr":
            return self.child[1] if self.child[1] >= 0 else 1
        if isinstance(value, int):
            return value
        return int(value.fileno())

    def close_child_ends(self) -> None:
        for fd in self._close_after:
            os.close(fd)
        self._close_after = []

    def close_all(self) -> None:
        self.close_child_ends()
        for fd in [self.parent_in, *self.parent_out.values()]:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def communicate(self, data: bytes | None, deadline: float | None) -> dict[str, bytes]:
        """Feed stdin and read the pipes until EOF (or the deadline: TimeoutError)."""
        import selectors
        import time

        out = {name: bytearray() for name in self.parent_out}
        sel = selectors.DefaultSelector()
        for name, fd in self.parent_out.items():
            sel.register(fd, selectors.EVENT_READ, name)
        pending = memoryview(data or b"")
        if self.parent_in is not None:
            if pending:
                sel.register(self.parent_in, selectors.EVENT_WRITE, "stdin")
            else:
                os.close(self.parent_in)
                self.parent_in = None
        try:
            while sel.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError
                for key, _ in sel.select(left):
                    if key.data == "stdin":
                        try:
                            n = os.write(key.fd, pending[:65536])
                        except BrokenPipeError:
                            n = len(pending)
                        pending = pending[n:]
                        if not pending:
                            sel.unregister(key.fd)
                            os.close(key.fd)
                            self.parent_in = None
                    else:
                        chunk = os.read(key.fd, 65536)
                        if chunk:
                            out[key.data] += chunk
                        else:
                            sel.unregister(key.fd)
        finally:
            sel.close()
        return {k: bytes(v) for k, v in out.items()}


class Container:
    """One container under a state root.

    >>> with Container.create("demo", bundle) as c:          # doctest: +SKIP
    ...     c.start()
    ...     code = c.wait()
    """

    def __init__(self, container_id: str, root: str | None = None,
                 _runtime: Runtime | None = None) -> None:
        self.id = container_id
        self._rt = _runtime or Runtime(root)
        self._pidfd = -1  # set when this process created the container (its init is our child)
        self._stdio: _Stdio | None = None

    @classmethod
    def create(cls, container_id: str, bundle: str | os.PathLike[str], *,
               root: str | None = None, stdin: Stream = None, stdout: Stream = None,
               stderr: Stream = None, pid_file: str | None = None,
               console_socket: str | None = None, no_pivot: bool = False,
               preserve_fds: int = 0) -> Container:
        """Create a container (its init waits for start()).

        Raises:
            ContainerError: the config is invalid or the container could not be set up.
        """
        self = cls(container_id, root)
        stdio = _Stdio(stdin, stdout, stderr)
        self._stdio = stdio
        try:
            opts = CreateOptions(pid_file=pid_file, console_socket=console_socket,
                                 no_pivot=no_pivot, preserve_fds=preserve_fds,
                                 stdio=tuple(stdio.child))
            created = self._rt.create(container_id, os.fspath(bundle), opts, keep_sync=True)
        except BaseException:
            stdio.close_all()
            raise
        stdio.close_child_ends()
        os.close(created.sock)
        self._pidfd = created.pidfd
        return self

    @classmethod
    def load(cls, container_id: str, root: str | None = None) -> Container:
        """An existing container.

        Raises:
            NotExistError: no such container.
        """
        self = cls(container_id, root)
        self._rt.state(container_id)
        return self

    def start(self) -> None:
        """Run the user process.

        Raises:
            StateError: the container is not in the created state.
        """
        self._rt.start(self.id)

    def state(self) -> ContainerState:
        """The current state.

        Raises:
            NotExistError: the container was deleted.
        """
        st, status = self._rt.state(self.id)
        return _to_state(st, status)

    @property
    def pid(self) -> int:
        """The init's host pid (0 once stopped)."""
        return self.state().pid

    def kill(self, sig: int = 15, *, all: bool = False) -> None:
        """Signal the init (or every process with all=True).

        Raises:
            NotRunningError: the container is stopped.
        """
        self._rt.kill(self.id, sig, all_processes=all)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the init to exit: its exit code when we created it, else None.

        Raises:
            TimeoutError: still running after timeout seconds.
        """
        from pyruntime.container import wait_exit

        if self._pidfd >= 0:
            if not wait_exit(self._pidfd, timeout):
                raise TimeoutError(f"container {self.id} still running after {timeout}s")
            st = self._rt.store.load(self.id)
            _, status = os.waitpid(st.pid, 0)
            os.close(self._pidfd)
            self._pidfd = -1
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code
        st = self._rt.store.load(self.id)
        if st.pid <= 0:
            return None
        from pyruntime.procs import open_pidfd

        fd = open_pidfd(st.pid, st.start_time)
        if fd is None:
            return None
        try:
            if not wait_exit(fd, timeout):
                raise TimeoutError(f"container {self.id} still running after {timeout}s")
        finally:
            os.close(fd)
        return None

    def communicate(self, input: bytes | None = None,
                    timeout: float | None = None) -> tuple[bytes | None, bytes | None]:
        """Feed stdin and collect piped stdout/stderr until they close (after start()).

        Raises:
            TimeoutError: the pipes were still open after timeout seconds.
        """
        import time

        stdio = self._stdio
        if stdio is None:
            return None, None
        deadline = None if timeout is None else time.monotonic() + timeout
        out = stdio.communicate(input, deadline)
        return out.get("stdout"), out.get("stderr")

    def exec(self, args: Sequence[str], *, env: Sequence[str] | None = None,
             cwd: str | None = None, user: tuple[int, int] | None = None,
             detach: bool = False, stdin: Stream = None, stdout: Stream = None,
             stderr: Stream = None) -> int:
        """Run another process in the container; its exit code (0 when detached).

        Raises:
            ExecError: the process could not be started.
        """
        st = self._rt.store.load(self.id)
        process = dict(st.config_process)
        process["args"] = list(args)
        process["terminal"] = False
        if env is not None:
            process["env"] = list(env)
        if cwd is not None:
            process["cwd"] = cwd
        if user is not None:
            process["user"] = {"uid": user[0], "gid": user[1]}
        stdio = _Stdio(stdin, stdout, stderr)
        try:
            return self._rt.exec(self.id, process, CreateOptions(stdio=tuple(stdio.child)),
                                 detach=detach)
        finally:
            stdio.close_child_ends()

    def pause(self) -> None:
        """Freeze every process of the container."""
        self._rt.pause(self.id)

    def resume(self) -> None:
        """Thaw a paused container."""
        self._rt.resume(self.id)

    def update(self, resources: dict[str, Any]) -> None:
        """Change its resources (an OCI LinuxResources object; zero = unchanged)."""
        self._rt.update(self.id, resources)

    def delete(self, force: bool = False) -> None:
        """Remove the container (force: kill it first).

        Raises:
            StateError: still running and not forced.
        """
        self._rt.delete(self.id, force=force)
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
        if self._stdio is not None:
            self._stdio.close_all()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete(force=True)


def _to_state(st: State, status: str) -> ContainerState:
    return ContainerState(id=st.id, status=status, pid=st.pid if status != "stopped" else 0,
                          bundle=st.bundle, rootfs=st.rootfs, created=st.created,
                          annotations=dict(st.annotations), owner=st.owner,
                          oci_version=st.oci_version)


def run(bundle: str | os.PathLike[str], *, id: str | None = None, root: str | None = None,
        stdin: Stream = None, stdout: Stream = None, stderr: Stream = None,
        input: bytes | None = None, timeout: float | None = None,
        check: bool = False) -> subprocess.CompletedProcess[bytes]:
    """Create, start, wait for and delete a container; like subprocess.run.

    stdout/stderr may be subprocess.PIPE (captured), DEVNULL, STDOUT (stderr only), a file
    object or an fd. On timeout the container is killed and TimeoutExpired raised.

    Raises:
        ContainerError: the container could not be created or started.
        subprocess.TimeoutExpired: still running after timeout seconds.
        subprocess.CalledProcessError: check=True and a non-zero exit code.
    """
    import time

    cid = id or f"pyrt-{uuid.uuid4().hex[:12]}"
    if input is not None and stdin is None:
        stdin = subprocess.PIPE
    deadline = None if timeout is None else time.monotonic() + timeout
    args: list[str] = []
    with Container.create(cid, bundle, root=root, stdin=stdin, stdout=stdout,
                          stderr=stderr) as c:
        args = list(c._rt.store.load(cid).config_process.get("args") or [])
        c.start()
        try:
            out, err = c.communicate(input, None if deadline is None
                                     else max(0.0, deadline - time.monotonic()))
            code = c.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            c.kill(9, all=True)
            raise subprocess.TimeoutExpired(args, timeout or 0) from None
    result = subprocess.CompletedProcess(args, code if code is not None else -1, out, err)
    if check:
        result.check_returncode()
    return result


class Spec:
    """Build a config.json from `spec`'s defaults without editing JSON by hand.

    >>> s = Spec(["echo", "hi"]).env("A", "1").memory_limit(64 << 20).pids_limit(32)
    >>> s.config["process"]["args"], s.config["linux"]["resources"]["pids"]
    (['echo', 'hi'], {'limit': 32})
    """

    def __init__(self, args: Sequence[str] = ("sh",), *, rootless: bool = False) -> None:
        from pyruntime.spec.default import default_config

        self.config: dict[str, Any] = default_config(rootless=rootless)
        self.config["process"]["args"] = list(args)
        self.config["process"]["terminal"] = False
        self.config["root"]["readonly"] = False

    def _resources(self) -> dict[str, Any]:
        return self.config.setdefault("linux", {}).setdefault("resources", {})  # type: ignore

    def args(self, *args: str) -> Spec:
        """Set the command."""
        self.config["process"]["args"] = list(args)
        return self

    def env(self, name: str, value: str) -> Spec:
        """Set one environment variable."""
        env = [e for e in self.config["process"]["env"] if not e.startswith(name + "=")]
        self.config["process"]["env"] = env + [f"{name}={value}"]
        return self

    def cwd(self, path: str) -> Spec:
        """Set the working directory."""
        self.config["process"]["cwd"] = path
        return self

    def user(self, uid: int, gid: int) -> Spec:
        """Run as uid:gid."""
        self.config["process"]["user"] = {"uid": uid, "gid": gid}
        return self

    def hostname(self, name: str) -> Spec:
        """Set the hostname."""
        self.config["hostname"] = name
        return self

    def readonly(self, flag: bool = True) -> Spec:
        """Make the root filesystem read-only."""
        self.config["root"]["readonly"] = flag
        return self

    def mount(self, destination: str, source: str, type: str = "bind",
              options: Sequence[str] = ("rbind", "rw")) -> Spec:
        """Add a mount (a bind mount of a host path by default)."""
        self.config["mounts"].append({"destination": destination, "type": type,
                                      "source": source, "options": list(options)})
        return self

    def memory_limit(self, limit: int) -> Spec:
        """Memory limit in bytes."""
        self._resources().setdefault("memory", {})["limit"] = limit
        return self

    def pids_limit(self, limit: int) -> Spec:
        """Maximum number of processes."""
        self._resources()["pids"] = {"limit": limit}
        return self

    def cpu_quota(self, quota: int, period: int = 100000) -> Spec:
        """CFS quota/period in microseconds."""
        self._resources().setdefault("cpu", {}).update({"quota": quota, "period": period})
        return self

    def to_dict(self) -> dict[str, Any]:
        """The config document."""
        return self.config

    def write(self, bundle: str | os.PathLike[str], rootfs: str | None = None) -> str:
        """Write config.json into bundle (root.path = rootfs if given); returns the bundle."""
        from pyruntime.jsonio import dumps

        path = os.fspath(bundle)
        os.makedirs(path, exist_ok=True)
        if rootfs is not None:
            self.config["root"]["path"] = rootfs
        with open(os.path.join(path, "config.json"), "w") as f:
            f.write(dumps(self.config, 2) + "\n")
        return path
