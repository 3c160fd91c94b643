"""OOM notifications for ``events``: v1 eventfd on memory.oom_control, v2 memory.events.

Owns: the watcher objects ``CgroupManager.oom_events()`` returns. Each has
``fileno()`` (for select/poll alongside a stats timer), ``wait(timeout) -> bool``
(True: an OOM kill happened; False: timeout, or the cgroup is gone), a ``gone``
attribute (the cgroup was removed or emptied: stop watching) and ``close()``.
Must not touch: writes to cgroup files other than v1's cgroup.event_control.
"""

from __future__ import annotations

import os
import select
import time

from pyruntime.cgroups import fsio
from pyruntime.errors import CgroupError


class V1OomWatcher:
    """cgroup v1: an eventfd registered for memory.oom_control in cgroup.event_control."""

    def __init__(self, memory_dir: str) -> None:
        self.dir = memory_dir
        self.gone = False
        self._efd: int = os.eventfd(0, os.EFD_CLOEXEC)
        try:
            ofd = os.open(
                os.path.join(memory_dir, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC
            )
        except OSError as e:
            os.close(self._efd)
            raise CgroupError(
                f"unable to open {memory_dir}/memory.oom_control: {fsio.describe(e)}"
            ) from e
        try:
            fsio.write_checked(memory_dir, "cgroup.event_control", f"{self._efd} {ofd}")
        except CgroupError:
            os.close(self._efd)
            raise
        finally:
            # The kernel keeps its own reference to the control file.
            os.close(ofd)

    def fileno(self) -> int:
        return self._efd

    def wait(self, timeout: float | None = None) -> bool:
        """True when an OOM happened within ``timeout`` seconds (None: no limit)."""
        if self.gone:
            return False
        r, _, _ = select.select([self._efd], [], [], timeout)
        if not r:
            return False
        os.eventfd_read(self._efd)
        # The eventfd also fires when the cgroup is removed.
        if not os.path.exists(os.path.join(self.dir, "cgroup.event_control")):
            self.gone = True
            return False
        return True

    def close(self) -> None:
        if self._efd >= 0:
            os.close(self._efd)
            self._efd = -1


class V2OomWatcher:
    """cgroup v2: poll memory.events (kernfs wakes POLLPRI) and compare oom_kill."""

    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.gone = False
        try:
            self._fd = os.open(os.path.join(directory, "memory.events"), os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise CgroupError(
                f"unable to open {directory}/memory.events: {fsio.describe(e)}"
            ) from e
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLPRI | select.POLLERR)
        self._seen = self._count()

    def _count(self) -> int:
        try:
            data = os.pread(self._fd, 4096, 0).decode()
        except OSError:
            return -1
        for line in data.splitlines():
            k, _, v = line.partition(" ")
            if k == "oom_kill":
                return int(v)
        return 0

    def fileno(self) -> int:
        return self._fd

    def wait(self, timeout: float | None = None) -> bool:
        """True when an OOM kill happened within ``timeout`` seconds (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.gone or not os.path.isdir(self.dir):
                self.gone = True
                return False
            count = self._count()
            if count > self._seen:
                self._seen = count
                return True
            events = fsio.read_optional(self.dir, "cgroup.events") or ""
            if "populated 0" in events:
                self.gone = True
                return False
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            # Short slices also catch removal, which does not always wake poll.
            slice_ms = 500 if left is None else min(left, 0.5) * 1000
            self._poll.poll(slice_ms)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
