"""The state directory: `<root>/<id>/{state.json, exec.fifo, .lock}`.

Owns: container id validation, the per-container lock, atomic reads and writes of
state.json, and computing a container's status from what the kernel shows.
Must not touch: spawning processes, cgroup configuration, hooks.

The status is never stored: it is derived every time from the init's pid and start time
(no PID reuse), the presence of exec.fifo (created) and the freezer file (paused).
"""

from __future__ import annotations

import posix
import time

from pyruntime import jsonio, pathops
from pyruntime.procs import is_alive

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

DEFAULT_ROOT = "/run/pyruntime"


def cache_dir(name: str) -> str:
    """A cache directory beside (never inside) the default state roots: Docker shares its
    --root with real runc, whose `list` would trip over anything but container dirs."""
    return pathops.join(pathops.dirname(default_root()), "pyruntime-cache", name)


def default_root() -> str:
    """/run/pyruntime for root; for a rootless caller $XDG_RUNTIME_DIR/pyruntime (as runc)."""
    if posix.geteuid() == 0:
        return DEFAULT_ROOT
    xdg = pathops.getenv("XDG_RUNTIME_DIR")
    return pathops.join(xdg, "pyruntime") if xdg else f"/tmp/pyruntime-{posix.geteuid()}"
ID_MAX = 250
ID_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
ID_CHARS = ID_FIRST | frozenset("_.+-")
STATE_FILE = "state.json"
FIFO_FILE = "exec.fifo"
LOCK_FILE = ".lock"


def _state_error(message: str) -> Exception:
    """A StateError (pyruntime.errors is imported only when one is raised: 0.1 ms a call)."""
    from pyruntime.errors import StateError

    return StateError(message)


def _not_exist(container_id: str) -> Exception:
    """A NotExistError for container_id (imported lazily, as _state_error)."""
    from pyruntime.errors import NotExistError

    return NotExistError(container_id)


def validate_id(container_id: str) -> None:
    """Raise StateError unless the id is safe to use as a directory name.

    Raises:
        StateError: empty, too long, or with characters outside [A-Za-z0-9_.+-].
    """
    if not container_id:
        raise _state_error("container id cannot be empty")
    if not is_valid_id(container_id):
        raise _state_error(f"invalid container id format: {container_id!r}")


def is_valid_id(name: str) -> bool:
    """[A-Za-z0-9][A-Za-z0-9_.+-]*, at most ID_MAX characters (no regex: hot path)."""
    return (0 < len(name) <= ID_MAX and name[0] in ID_FIRST
            and all(c in ID_CHARS for c in name))


def now_rfc3339() -> str:
    """The current UTC time in RFC 3339 with nanoseconds, as Go prints it."""
    now = time.time_ns()
    secs, nanos = divmod(now, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{nanos:09d}Z"


class State:
    """What state.json holds about one container (a plain class: no dataclasses import)."""

    __slots__ = ("id", "bundle", "rootfs", "created", "pid", "start_time", "oci_version",
                 "annotations", "owner", "creating_pid", "creating_start", "cgroup_path",
                 "cgroup_root", "freezer_file", "systemd", "hooks", "namespaces",
                 "config_process", "seccomp", "started", "cgroup_paths", "cgroup_mounts")

    def __init__(self, id: str, bundle: str, rootfs: str, created: str, pid: int = 0,
                 start_time: int | None = None, oci_version: str = "",
                 annotations: dict[str, str] | None = None, owner: str = "",
                 creating_pid: int = 0, creating_start: int | None = None,
                 cgroup_path: str | None = None, cgroup_root: str = "/sys/fs/cgroup",
                 freezer_file: str | None = None, systemd: bool = False,
                 hooks: dict[str, Any] | None = None,
                 namespaces: list[dict[str, str]] | None = None,
                 config_process: dict[str, Any] | None = None,
                 seccomp: dict[str, Any] | None = None, started: bool = False,
                 cgroup_paths: dict[str, str] | None = None,
                 cgroup_mounts: dict[str, str] | None = None) -> None:
        self.id = id
        self.bundle = bundle
        self.rootfs = rootfs
        self.created = created
        self.pid = pid
        self.start_time = start_time
        self.oci_version = oci_version
        self.annotations = annotations or {}
        self.owner = owner
        self.creating_pid = creating_pid
        self.creating_start = creating_start
        self.cgroup_path = cgroup_path
        self.cgroup_root = cgroup_root
        self.freezer_file = freezer_file
        self.systemd = systemd
        self.hooks = hooks or {}
        self.namespaces = namespaces or []
        self.config_process = config_process or {}
        self.seccomp = seccomp
        self.started = started
        self.cgroup_paths = cgroup_paths or {}
        self.cgroup_mounts = cgroup_mounts or {}  # v1 hierarchies at create: not looked up again

    def to_json(self) -> dict[str, Any]:
        """The on-disk form."""
        return {
            "ociVersion": self.oci_version, "id": self.id, "pid": self.pid,
            "bundle": self.bundle, "rootfs": self.rootfs, "created": self.created,
            "owner": self.owner, "annotations": self.annotations,
            "pyruntime": {
                "start_time": self.start_time, "creating_pid": self.creating_pid,
                "creating_start": self.creating_start, "cgroup_path": self.cgroup_path,
                "cgroup_root": self.cgroup_root, "freezer_file": self.freezer_file,
                "systemd": self.systemd, "hooks": self.hooks, "namespaces": self.namespaces,
                "process": self.config_process, "seccomp": self.seccomp,
                "started": self.started, "cgroup_paths": self.cgroup_paths,
                "cgroup_mounts": self.cgroup_mounts,
            },
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> State:
        """Parse the on-disk form.

        Raises:
            KeyError, TypeError, ValueError: the document is damaged.
        """
        ext = doc.get("pyruntime") or {}
        return cls(
            id=str(doc["id"]), bundle=str(doc["bundle"]), rootfs=str(doc["rootfs"]),
            created=str(doc["created"]), pid=int(doc.get("pid") or 0),
            start_time=ext.get("start_time"), oci_version=str(doc.get("ociVersion", "")),
            annotations=dict(doc.get("annotations") or {}), owner=str(doc.get("owner", "")),
            creating_pid=int(ext.get("creating_pid") or 0),
            creating_start=ext.get("creating_start"), cgroup_path=ext.get("cgroup_path"),
            cgroup_root=str(ext.get("cgroup_root") or "/sys/fs/cgroup"),
            freezer_file=ext.get("freezer_file"), systemd=bool(ext.get("systemd")),
            hooks=dict(ext.get("hooks") or {}), namespaces=list(ext.get("namespaces") or []),
            config_process=dict(ext.get("process") or {}), seccomp=ext.get("seccomp"),
            started=bool(ext.get("started")), cgroup_paths=dict(ext.get("cgroup_paths") or {}),
            cgroup_mounts=dict(ext.get("cgroup_mounts") or {}),
        )


class StateStore:
    """The state directories under one --root."""

    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = root

    def dir(self, container_id: str) -> str:
        """The state directory of an id (validated first)."""
        validate_id(container_id)
        return pathops.join(self.root, container_id)

    def fifo_path(self, container_id: str) -> str:
        """Path of the exec fifo of a container."""
        return pathops.join(self.dir(container_id), FIFO_FILE)

    def ids(self) -> list[str]:
        """Ids of every container directory with a state file (foreign entries skipped)."""
        try:
            names = sorted(posix.listdir(self.root))
        except FileNotFoundError:
            return []
        return [n for n in names
                if is_valid_id(n) and pathops.exists(pathops.join(self.root, n, STATE_FILE))]

    def make(self, container_id: str) -> Lock:
        """Create the directory of a new container and return its lock, held.

        Raises:
            StateError: the id is taken or the root is unusable.
        """
        path = self.dir(container_id)
        pathops.makedirs(self.root, mode=0o711, exist_ok=True)
        try:
            posix.mkdir(path, 0o711)
        except FileExistsError:
            raise _state_error(f"container with id exists: {container_id}") from None
        except OSError as e:
            reason = posix.strerror(e.errno or 0)
            raise _state_error(f"create state directory {path}: {reason}") from e
        return Lock.acquire(path, create=True)

    def lock(self, container_id: str) -> Lock:
        """Hold the lock of an existing container.

        Raises:
            NotExistError: no such container.
        """
        path = self.dir(container_id)
        try:
            return Lock.acquire(path, create=False)
        except FileNotFoundError:
            raise _not_exist(container_id) from None
        except OSError as e:
            raise _state_error(f"container {container_id}: lock {path}/{LOCK_FILE}: "
                             f"{posix.strerror(e.errno or 0).lower()}") from e

    def load(self, container_id: str) -> State:
        """Read state.json.

        Raises:
            NotExistError: no such container (or it is being created with no state yet).
            StateError: the state file is damaged.
        """
        path = pathops.join(self.dir(container_id), STATE_FILE)
        try:
            data = pathops.read_bytes(path)
        except FileNotFoundError:
            raise _not_exist(container_id) from None
        except NotADirectoryError:
            raise _not_exist(container_id) from None
        try:
            state = State.from_json(jsonio.loads(data))
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
            raise _state_error(f"container {container_id}: state file {path} is damaged") from e
        if state.id != container_id:
            # a copied state file must never make us act on another container
            raise _state_error(f"container {container_id}: state file {path} is damaged "
                             f"(it describes {state.id!r})")
        return state

    def save(self, state: State,
             exchange: Callable[[str, str], None] | None = None) -> None:
        """Write state.json atomically (temp file, rename).

        No fsync: the state describes live processes and lives on a runtime directory
        (/run is tmpfs on most hosts); a crash of this process never leaves a torn file, and
        after a power loss there is nothing left to describe.

        exchange (shim.exchange, where the shim is loaded anyway) replaces an existing
        state.json by swapping the two files and unlinking the old one: ext4 writes out a file
        that replaces another by rename (auto_da_alloc), and the unlink of state.json at
        `delete` then waits for that write (~0.3 ms). A file left at the temp name by a
        crash in between is removed with the directory.
        """
        directory = self.dir(state.id)
        tmp = pathops.join(directory, f".{STATE_FILE}.tmp")
        data = jsonio.dumps(state.to_json()).encode()
        flags = posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC | posix.O_CLOEXEC
        fd = posix.open(tmp, flags, 0o600)
        try:
            posix.write(fd, data)
        finally:
            posix.close(fd)
        path = pathops.join(directory, STATE_FILE)
        if exchange is not None:
            try:
                exchange(tmp, path)
            except OSError:
                pass  # no state.json yet, or no RENAME_EXCHANGE here: a plain rename
            else:
                posix.unlink(tmp)  # the old state, now at the temp name
                return
        posix.replace(tmp, path)

    def remove(self, container_id: str) -> None:
        """Delete the state directory (lock file last, so waiters see it vanish)."""
        path = self.dir(container_id)
        try:
            names = posix.listdir(path)
        except FileNotFoundError:
            return
        # the lock file goes last, so that waiters notice the directory vanished
        for name in sorted(names, key=lambda n: n == LOCK_FILE):
            try:
                posix.unlink(pathops.join(path, name))
            except FileNotFoundError:
                pass
            except IsADirectoryError:
                import shutil

                shutil.rmtree(pathops.join(path, name), ignore_errors=True)
        try:
            posix.rmdir(path)
        except OSError:
            pass

    def status(self, state: State) -> str:
        """The container's status, computed from the kernel's view.

        creating: `create` is still running; created: init waits on exec.fifo;
        paused: the freezer says so; running; stopped: the init is gone (or was reused).
        """
        if state.pid <= 0:
            if state.creating_pid and is_alive(state.creating_pid, state.creating_start):
                return "creating"
            return "stopped"
        if not is_alive(state.pid, state.start_time):
            return "stopped"
        if pathops.exists(pathops.join(self.dir(state.id), FIFO_FILE)):
            return "created"
        if state.freezer_file and _is_frozen(state.freezer_file):
            return "paused"
        return "running"


def _is_frozen(path: str) -> bool:
    try:
        value = pathops.read_bytes(path).strip()
    except OSError:
        return False
    return value in (b"FROZEN", b"FREEZING", b"1")


class Lock:
    """An flock on `<dir>/.lock`, re-checked after acquisition so a deleted dir is noticed."""

    def __init__(self, fd: int, path: str) -> None:
        self.fd = fd
        self.path = path

    @classmethod
    def acquire(cls, directory: str, *, create: bool) -> Lock:
        """Block until the lock is ours.

        Raises:
            FileNotFoundError: the directory (or its lock) is gone.
        """
        path = pathops.join(directory, LOCK_FILE)
        flags = posix.O_RDWR | posix.O_CLOEXEC | (posix.O_CREAT if create else 0)
        while True:
            try:
                fd = posix.open(path, flags, 0o600)
            except FileNotFoundError:
                # a state dir written by another tool without our lock file
                if create or not pathops.exists(pathops.join(directory, STATE_FILE)):
                    raise
                fd = posix.open(path, flags | posix.O_CREAT, 0o600)
            from fcntl import LOCK_EX, flock  # only verbs that change a container lock

            flock(fd, LOCK_EX)
            try:
                same = posix.stat(path).st_ino == posix.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return cls(fd, path)
            posix.close(fd)
            if create:
                import errno  # (only when handling an error: 0.08 ms to import)
                raise FileNotFoundError(errno.ENOENT, "state directory vanished", path)

    def release(self) -> None:
        """Drop the lock."""
        if self.fd >= 0:
            posix.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
