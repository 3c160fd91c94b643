"""cgroup v1: one directory per mounted hierarchy, resources written per controller.

Owns: creating, freezing and removing a container's v1 cgroups, their device rules,
including the hybrid cgroup2 directory (joined only) and name=systemd. The resource limits
are written by v1_limits.py (loaded only by the verbs that set them).
Must not touch: cgroup v2 controller files, state, the CLI.

Ordering rules kept from runc: controllers are configured in V1_SUBSYSTEMS order;
cpuset.cpus/mems are copied from the parent into every new cpuset directory before
any task can join (an empty cpuset refuses tasks); memory limit and memsw limit are
written in the order the kernel accepts (memsw >= limit must hold at every step);
cpu period/quota and rt period/runtime retry the first write after the second.
"""

from __future__ import annotations

import time

from pyruntime import pathops
from pyruntime.cgroups import fsio
from pyruntime.cgroups.manager import CgroupManager
from pyruntime.cgroups.paths import UNIFIED, V1_SUBSYSTEMS
from pyruntime.errors import CgroupError

TYPE_CHECKING = False


if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pyruntime.cgroups.resources import Resources

_FREEZE_ATTEMPTS = 1000


class V1Manager(CgroupManager):
    """A container's cgroups on a v1 (or hybrid) host.

    ``dirs`` maps each subsystem (and "" for the hybrid cgroup2 mount) to the
    container's directory in that hierarchy; ``mounts`` maps them to the hierarchy
    roots, which are never removed.
    """

    version = 1

    def __init__(self, path: str, dirs: dict[str, str], mounts: dict[str, str]) -> None:
        self.path = path
        self.dirs = dirs
        self.mounts = mounts

    # --- lifecycle -------------------------------------------------------------------

    def _unique_dirs(self) -> list[tuple[str, str]]:
        """(subsystem, dir) with co-mounted hierarchies listed once, in runc's order."""
        seen: set[str] = set()
        out: list[tuple[str, str]] = []
        for name in (*V1_SUBSYSTEMS, UNIFIED):
            d = self.dirs.get(name)
            if d is not None and d not in seen:
                seen.add(d)
                out.append((name, d))
        return out

    def _join_dirs(self) -> list[str]:
        return [d for _, d in self._unique_dirs()]

    def joinable_paths(self) -> dict[str, str]:
        return dict(self.dirs)

    def create(self) -> None:
        for name, d in self._unique_dirs():
            if name == "cpuset":
                self._create_cpuset(d)
            else:
                fsio.mkdir_p(d)

    def _create_cpuset(self, leaf: str) -> None:
        """mkdir every level below the mount, filling empty cpus/mems from the parent."""
        mount = self.mounts.get("cpuset", pathops.dirname(leaf))
        rel = pathops.relpath(leaf, mount)
        if rel == ".":
            return
        cur = mount
        for part in rel.split("/"):
            parent, cur = cur, pathops.join(cur, part)
            fsio.mkdir_p(cur)
            for knob in ("cpuset.cpus", "cpuset.mems"):
                mine = fsio.read_optional(cur, knob)
                if mine is not None and not mine.strip():
                    value = fsio.read_checked(parent, knob).strip()
                    fsio.write_checked(cur, knob, value)

    def destroy(self) -> None:
        errors: list[CgroupError] = []
        for name, d in self._unique_dirs():
            if pathops.normpath(d) == pathops.normpath(self.mounts.get(name, "")):
                continue  # never the hierarchy root
            try:
                fsio.rmdir_tree(d)
            except CgroupError as e:
                errors.append(e)
        if errors:
            raise errors[0]

    def controller_dir(self, subsystem: str, what: str) -> str:
        """The container's directory in a controller's hierarchy (what: for the error).

        Raises:
            CgroupError: that controller is not mounted.
        """
        d = self.dirs.get(subsystem)
        if d is None:
            raise CgroupError(
                f"cannot set {what}: the {subsystem} cgroup controller is not mounted"
            )
        return d

    # --- resources -------------------------------------------------------------------

    def prepare_devices(self, res: Resources,
                        linux_devices: list[dict[str, Any]] | None) -> Callable[[], None]:
        # Imported here: `state`, `kill` and `pause` never configure resources.
        from itertools import groupby

        from pyruntime.cgroups import devices as devmod

        rules = devmod.container_rules(res.devices, linux_devices)
        d = self.controller_dir("devices", "device rules")
        # consecutive lines for one file go through one open
        batches = [(fname, [line for _, line in group])
                   for fname, group in groupby(devmod.v1_writes(rules), key=lambda w: w[0])]

        def install() -> None:
            for fname, lines in batches:
                fsio.write_each_checked(d, fname, lines)

        return install

    def set_limits(self, res: Resources, *, update: bool) -> None:
        from pyruntime.cgroups.v1_limits import set_limits  # not loaded by delete/kill/pause

        set_limits(self, res, update=update)

    # --- freezer ---------------------------------------------------------------------

    def _has_freezer(self) -> bool:
        return "freezer" in self.dirs

    def freeze(self) -> None:
        d = self.controller_dir("freezer", "freezer state")
        ok = False
        try:
            for i in range(_FREEZE_ATTEMPTS):
                if i % 50 == 49:
                    # A task stuck in FREEZING (e.g. in vfork) gets a thaw/refreeze kick.
                    fsio.write_checked(d, "freezer.state", "THAWED")
                    time.sleep(0.01)
                fsio.write_checked(d, "freezer.state", "FROZEN")
                if i % 25 == 24:
                    time.sleep(0.00001)
                state = fsio.read_checked(d, "freezer.state").strip()
                if state == "FROZEN":
                    ok = True
                    return
                if state != "FREEZING":
                    raise CgroupError(f"unexpected state {state} while freezing {d}")
            raise CgroupError(f"unable to freeze {d}")
        finally:
            if not ok:
                try:
                    fsio.write(pathops.join(d, "freezer.state"), "THAWED")
                except OSError:
                    pass

    def thaw(self) -> None:
        d = self.controller_dir("freezer", "freezer state")
        fsio.write_checked(d, "freezer.state", "THAWED")

    def frozen(self) -> bool:
        d = self.dirs.get("freezer")
        if d is None:
            return False
        state = (fsio.read_optional(d, "freezer.state") or "").strip()
        if state not in ("FROZEN", "FREEZING"):
            return False
        # Frozen by an ancestor is not "paused": only our own request counts.
        return (fsio.read_optional(d, "freezer.self_freezing") or "1").strip() == "1"

    # --- processes and statistics ----------------------------------------------------

    def _procs_root(self) -> str | None:
        for name in (
            "devices",
            "freezer",
            "pids",
            "memory",
            "cpu",
            "cpuacct",
            "cpuset",
            "name=systemd",
        ):
            if name in self.dirs:
                return self.dirs[name]
        return next(iter(self.dirs.values()), None)

    def stats(self) -> dict[str, Any]:
        from pyruntime.cgroups.stats import v1_stats

        return v1_stats(self.dirs)

    def oom_events(self) -> Any:
        from pyruntime.cgroups.oom import V1OomWatcher

        return V1OomWatcher(self.controller_dir("memory", "OOM notification"))
