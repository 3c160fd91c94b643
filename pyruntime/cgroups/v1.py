"""cgroup v1: one directory per mounted hierarchy, resources written per controller.

Owns: creating, configuring, freezing and removing a container's v1 cgroups,
including the hybrid cgroup2 directory (joined only) and name=systemd.
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

    def _dir(self, subsystem: str, what: str) -> str:
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
        d = self._dir("devices", "device rules")
        # consecutive lines for one file go through one open
        batches = [(fname, [line for _, line in group])
                   for fname, group in groupby(devmod.v1_writes(rules), key=lambda w: w[0])]

        def install() -> None:
            for fname, lines in batches:
                fsio.write_each_checked(d, fname, lines)

        return install

    def set_limits(self, res: Resources, *, update: bool) -> None:
        from pyruntime.cgroups.resources import rdma_lines

        if res.unified:
            raise CgroupError("invalid configuration: cannot use unified on cgroup v1")
        if res.cpus is not None or res.mems is not None:
            d = self._dir("cpuset", "cpuset")
            if res.cpus is not None:
                fsio.write_checked(d, "cpuset.cpus", res.cpus)
            if res.mems is not None:
                fsio.write_checked(d, "cpuset.mems", res.mems)
        self._set_memory(res, update)
        self._set_cpu(res)
        if res.pids_limit is not None:
            value = "max" if res.pids_limit < 0 else str(res.pids_limit)
            fsio.write_checked(self._dir("pids", "pids limit"), "pids.max", value)
        self._set_blkio(res)
        if res.hugepages:
            d = self._dir("hugetlb", "hugetlb limit")
            rsvd = True
            for size, limit in res.hugepages:
                fsio.write_checked(d, f"hugetlb.{size}.limit_in_bytes", str(limit))
                # Newer kernels also account reservations; limit them the same (runc).
                if rsvd and fsio.exists(pathops.join(d, f"hugetlb.{size}.rsvd.limit_in_bytes")):
                    fsio.write_checked(d, f"hugetlb.{size}.rsvd.limit_in_bytes", str(limit))
                else:
                    rsvd = False
        if res.net_classid is not None:
            d = self._dir("net_cls", "network class id")
            fsio.write_checked(d, "net_cls.classid", str(res.net_classid))
        if res.net_priorities:
            d = self._dir("net_prio", "network priorities")
            for name, prio in res.net_priorities:
                fsio.write_checked(d, "net_prio.ifpriomap", f"{name} {prio}")
        if res.rdma:
            d = self._dir("rdma", "rdma limit")
            for line in rdma_lines(res.rdma):
                fsio.write_checked(d, "rdma.max", line)

    def _set_memory(self, res: Resources, update: bool) -> None:
        wants = (
            res.memory_set()
            or res.kernel is not None
            or res.kernel_tcp is not None
            or res.swappiness is not None
            or res.disable_oom_killer
            or res.use_hierarchy is not None
        )
        if not wants:
            return
        d = self._dir("memory", "memory limit")
        if res.check_before_update:
            from pyruntime.cgroups.resources import check_usage

            check_usage(res, _int(fsio.read_optional(d, "memory.usage_in_bytes")))
        # Kernel memory limits only exist on older kernels; runc ignores them when absent.
        for value, name in (
            (res.kernel, "memory.kmem.limit_in_bytes"),
            (res.kernel_tcp, "memory.kmem.tcp.limit_in_bytes"),
        ):
            if value is None:
                continue
            if fsio.exists(pathops.join(d, name)):
                fsio.write_checked(d, name, str(value))
            else:
                _warn("kernel memory limits are not supported by this kernel; %s ignored", name)
        self._set_memory_and_swap(d, res.memory_limit, res.memory_swap)
        if res.memory_reservation is not None:
            fsio.write_checked(d, "memory.soft_limit_in_bytes", str(res.memory_reservation))
        if res.disable_oom_killer:
            fsio.write_checked(d, "memory.oom_control", "1")
        if res.swappiness is not None:
            fsio.write_checked(d, "memory.swappiness", str(res.swappiness))
        if res.use_hierarchy is not None:
            want = "1" if res.use_hierarchy else "0"
            current = (fsio.read_optional(d, "memory.use_hierarchy") or "").strip()
            # Modern kernels fix use_hierarchy at 1; only write a real change.
            if current != want:
                fsio.write_checked(d, "memory.use_hierarchy", want)

    def _set_memory_and_swap(self, d: str, memory: int | None, swap: int | None) -> None:
        memsw = "memory.memsw.limit_in_bytes"
        has_memsw = fsio.exists(pathops.join(d, memsw))
        if memory == -1 and swap is None and has_memsw:
            swap = -1  # unlimited memory means unlimited memory+swap too (runc)
        if swap is not None and not has_memsw:
            raise CgroupError(
                f"cannot set memory+swap limit: {pathops.join(d, memsw)} does not exist "
                "(swap accounting is disabled)"
            )
        if memory is not None and swap is not None:
            current = _int(fsio.read_optional(d, "memory.limit_in_bytes"))
            # Raising: grow memsw first; lowering: shrink the limit first.
            if swap == -1 or current < swap:
                fsio.write_checked(d, memsw, str(swap))
                self._write_memory_limit(d, memory)
                return
        if memory is not None:
            self._write_memory_limit(d, memory)
        if swap is not None:
            fsio.write_checked(d, memsw, str(swap))

    def _write_memory_limit(self, d: str, value: int) -> None:
        try:
            fsio.write(pathops.join(d, "memory.limit_in_bytes"), str(value))
        except OSError as e:
            import errno  # (only when handling an error: 0.08 ms to import)
            if e.errno == errno.EBUSY:
                usage = _int(fsio.read_optional(d, "memory.usage_in_bytes"))
                peak = _int(fsio.read_optional(d, "memory.max_usage_in_bytes"))
                raise CgroupError(
                    f"unable to set memory limit to {value} (current usage: {usage}, "
                    f"peak usage: {peak})"
                ) from e
            raise CgroupError(
                f"unable to write {str(value)!r} to {pathops.join(d, 'memory.limit_in_bytes')}: "
                f"{fsio.describe(e)}"
            ) from e

    def _set_cpu(self, res: Resources) -> None:
        wants = (
            res.rt_period is not None
            or res.rt_runtime is not None
            or res.cpu_shares is not None
            or res.cpu_period is not None
            or res.cpu_quota is not None
            or res.cpu_burst is not None
            or res.cpu_idle is not None
        )
        if not wants:
            return
        d = self._dir("cpu", "cpu limits")
        _pair(d, "cpu.rt_period_us", res.rt_period, "cpu.rt_runtime_us", res.rt_runtime)
        if res.cpu_shares is not None:
            fsio.write_checked(d, "cpu.shares", str(res.cpu_shares))
            got = _int(fsio.read_optional(d, "cpu.shares"))
            if res.cpu_shares > got:
                raise CgroupError(f"the maximum allowed cpu-shares is {got}")
            if res.cpu_shares < got:
                raise CgroupError(f"the minimum allowed cpu-shares is {got}")
        if res.cpu_burst is not None and not fsio.exists(pathops.join(d, "cpu.cfs_burst_us")):
            _warn("cpu burst is not supported by this kernel; ignored")
            burst = None
        else:
            burst = res.cpu_burst
        _pair(d, "cpu.cfs_period_us", res.cpu_period, "cpu.cfs_quota_us", res.cpu_quota)
        if burst is not None:
            fsio.write_checked(d, "cpu.cfs_burst_us", str(burst))
        if res.cpu_idle is not None:
            fsio.write_checked(d, "cpu.idle", str(res.cpu_idle))

    def _set_blkio(self, res: Resources) -> None:
        wants = res.io_set() or res.blkio_leaf_weight is not None
        if not wants:
            return
        d = self._dir("blkio", "blkio limits")
        # CFQ's knobs are gone on modern kernels; BFQ exposes blkio.bfq.* instead.
        if fsio.exists(pathops.join(d, "blkio.weight")):
            weight_file, weight_dev_file = "blkio.weight", "blkio.weight_device"
        else:
            weight_file, weight_dev_file = "blkio.bfq.weight", "blkio.bfq.weight_device"
        if res.blkio_weight is not None:
            fsio.write_checked(d, weight_file, str(res.blkio_weight))
        if res.blkio_leaf_weight is not None:
            fsio.write_checked(d, "blkio.leaf_weight", str(res.blkio_leaf_weight))
        for wd in res.weight_devices:
            if wd.weight is not None:
                fsio.write_checked(d, weight_dev_file, f"{wd.major}:{wd.minor} {wd.weight}")
            if wd.leaf_weight is not None:
                fsio.write_checked(
                    d, "blkio.leaf_weight_device", f"{wd.major}:{wd.minor} {wd.leaf_weight}"
                )
        for devs, name in (
            (res.throttle_read_bps, "blkio.throttle.read_bps_device"),
            (res.throttle_write_bps, "blkio.throttle.write_bps_device"),
            (res.throttle_read_iops, "blkio.throttle.read_iops_device"),
            (res.throttle_write_iops, "blkio.throttle.write_iops_device"),
        ):
            for td in devs:
                fsio.write_checked(d, name, f"{td.major}:{td.minor} {td.rate}")

    # --- freezer ---------------------------------------------------------------------

    def _has_freezer(self) -> bool:
        return "freezer" in self.dirs

    def freeze(self) -> None:
        d = self._dir("freezer", "freezer state")
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
        d = self._dir("freezer", "freezer state")
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

        return V1OomWatcher(self._dir("memory", "OOM notification"))


def _warn(msg: str, *args: object) -> None:
    import logging  # rare path; keeps the hot-path import small

    logging.getLogger(__name__).warning(msg, *args)


def _int(text: str | None) -> int:
    try:
        return int((text or "0").strip())
    except ValueError:
        return 0


def _pair(d: str, first: str, a: int | None, second: str, b: int | None) -> None:
    """Write two interdependent knobs (period, then quota/runtime).

    The kernel may refuse the first with EINVAL until the second changes (a shorter
    period with the old quota exceeds the parent's bandwidth). Then the first is
    written again after the second, as runc does.
    """
    retry = False
    if a is not None:
        try:
            fsio.write(pathops.join(d, first), str(a))
        except OSError as e:
            import errno
            if e.errno != errno.EINVAL or b is None:
                raise CgroupError(
                    f"unable to write {str(a)!r} to {pathops.join(d, first)}: {fsio.describe(e)}"
                ) from e
            retry = True
    if b is not None:
        fsio.write_checked(d, second, str(b))
        if retry:
            fsio.write_checked(d, first, str(a))
