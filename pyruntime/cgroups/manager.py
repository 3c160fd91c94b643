"""The CgroupManager interface shared by the v1 and v2 implementations.

Owns: the public method set the runtime calls, and behaviour common to both
versions (parsing resources, walking cgroup.procs, signalling every process).
Must not touch: version-specific files (v1.py, v2.py), state, the CLI.
"""

from __future__ import annotations

import posix
import time
from abc import ABC, abstractmethod

from pyruntime import pathops
from pyruntime.cgroups import fsio
from pyruntime.errors import CgroupError

SIGKILL = 9  # a constant: importing `signal` pulls in enum on every call

TYPE_CHECKING = False


if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pyruntime.cgroups.resources import Resources

# Writing a pid to cgroup.procs fails with EINVAL while the task is still being
# created (TASK_NEW); runc retries a few times.
_JOIN_RETRIES = 5


class CgroupManager(ABC):
    """One container's cgroup, on cgroup v1 (several hierarchies) or v2 (one dir)."""

    version: int
    path: str
    # v1: each mounted subsystem's hierarchy dir (what open_manager discovered); v2: empty
    mounts: dict[str, str] = {}  # noqa: RUF012 - replaced per instance, never mutated

    # --- lifecycle -------------------------------------------------------------------

    @abstractmethod
    def create(self) -> None:
        """Create the container's cgroup directories (mkdir -p); idempotent.

        Raises:
            CgroupError: a directory could not be created or prepared.
        """

    @abstractmethod
    def set_limits(self, res: Resources, *, update: bool) -> None:
        """Apply already-parsed resources but the device rules (see ``set``/``update``)."""

    @abstractmethod
    def prepare_devices(self, res: Resources,
                        linux_devices: list[dict[str, Any]] | None) -> Callable[[], None]:
        """The step that installs the container's device rules (runc's defaults,
        ``res.devices``, access to the nodes ``linux.devices`` creates), all computed now.

        Raises (the step):
            CgroupError: the kernel refused a rule.
        """

    def set_parsed(
        self, res: Resources, linux_devices: list[dict[str, Any]] | None, *, update: bool
    ) -> None:
        """Apply already-parsed resources, device rules only at create (runc's update
        leaves them)."""
        self.set_limits(res, update=update)
        if not update:
            self.prepare_devices(res, linux_devices)()

    def set(
        self, resources: dict[str, Any] | None, devices: list[dict[str, Any]] | None = None
    ) -> None:
        """Apply ``linux.resources`` at create time, with runc's default device rules.

        ``devices`` is ``linux.devices``: a default allow rule whose node path is
        redefined there is dropped (runc behaviour).

        Raises:
            SpecError: the resources object is malformed.
            CgroupError: the kernel refused a value (the message names file and value).
        """
        from pyruntime.cgroups.resources import parse_resources

        self.set_parsed(parse_resources(resources), devices, update=False)

    def update(self, resources: dict[str, Any]) -> None:
        """Apply an ``update`` request: zero or missing fields are left unchanged.

        Device rules are not touched (runc's update ignores them).

        Raises:
            SpecError: the resources object is malformed.
            CgroupError: the kernel refused a value.
        """
        from pyruntime.cgroups.resources import parse_resources

        res = parse_resources(resources, "resources", for_update=True)
        res.devices = None
        self.set_parsed(res, None, update=True)

    def apply(self, pid: int) -> None:
        """Move ``pid`` into the container's cgroup (every hierarchy).

        Raises:
            CgroupError: the pid could not be moved.
        """
        for directory in self._join_dirs():
            join_pid(directory, pid)

    @abstractmethod
    def _join_dirs(self) -> list[str]:
        """Directories whose cgroup.procs receives a joining pid."""

    @abstractmethod
    def destroy(self) -> None:
        """Remove the container's cgroup directories; missing ones are fine.

        Raises:
            CgroupError: a directory stayed busy.
        """

    def exists(self) -> bool:
        """True when the container's cgroup directory exists."""
        return any(pathops.isdir(d) for d in self._join_dirs())

    @abstractmethod
    def joinable_paths(self) -> dict[str, str]:
        """{subsystem: host dir} on v1 ("" = hybrid cgroup2), {"": dir} on v2."""

    # --- freezer ---------------------------------------------------------------------

    @abstractmethod
    def freeze(self) -> None:
        """Freeze every process of the container.

        Raises:
            CgroupError: the freezer is missing or the cgroup did not freeze.
        """

    @abstractmethod
    def thaw(self) -> None:
        """Thaw the container.

        Raises:
            CgroupError: the freezer is missing or the write failed.
        """

    @abstractmethod
    def frozen(self) -> bool:
        """True when the container's cgroup itself is frozen (runc's "paused")."""

    # --- processes and statistics ----------------------------------------------------

    @abstractmethod
    def _procs_root(self) -> str | None:
        """The directory whose subtree lists every process of the container."""

    def pids(self) -> list[int]:
        """Host pids of every process in the container's cgroup and its children."""
        root = self._procs_root()
        if root is None:
            return []
        out: list[int] = []
        _collect_pids(root, out)
        return out

    def signal_all(self, sig: int) -> None:
        """Send ``sig`` to every process in the cgroup (``kill --all``).

        For SIGKILL the cgroup is frozen first so nothing forks behind our back
        (runc does the same), and thawed afterwards.

        Raises:
            CgroupError: freezing failed for a reason other than a missing freezer.
        """
        freeze = sig == SIGKILL and self._has_freezer()
        if freeze:
            self.freeze()
        try:
            for pid in self.pids():
                try:
                    posix.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if freeze:
                self.thaw()

    def _has_freezer(self) -> bool:
        return True

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """runc's ``events --stats`` "data" object for this cgroup."""

    @abstractmethod
    def oom_events(self) -> Any:
        """A watcher (see oom.py): ``wait(timeout) -> bool`` is True on an OOM kill;
        ``gone`` turns True once the cgroup is removed or empty; ``close()``.

        Raises:
            CgroupError: the memory controller is missing.
        """


def join_pid(directory: str, pid: int) -> None:
    """Write ``pid`` to ``directory``/cgroup.procs, retrying EINVAL (TASK_NEW).

    Raises:
        CgroupError: the write failed.
    """
    for attempt in range(_JOIN_RETRIES):
        try:
            fsio.write(pathops.join(directory, "cgroup.procs"), str(pid))
            return
        except OSError as e:
            import errno  # (only when handling an error: 0.08 ms to import)
            if e.errno == errno.EINVAL and attempt < _JOIN_RETRIES - 1:
                time.sleep(0.03)
                continue
            raise CgroupError(
                f"unable to join cgroup {directory} with pid {pid}: {fsio.describe(e)}"
            ) from e


def _collect_pids(directory: str, out: list[int]) -> None:
    text = fsio.read_optional(directory, "cgroup.procs")
    if text is None:
        return
    out.extend(int(x) for x in text.split())
    for child in sorted(fsio.subdirs(directory)):
        _collect_pids(pathops.join(directory, child), out)
