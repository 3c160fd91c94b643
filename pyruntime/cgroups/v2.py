"""cgroup v2: one directory, controllers enabled from the root down, eBPF devices.

Owns: creating a container's v2 cgroup (enabling controllers in every ancestor's
cgroup.subtree_control), writing the v2 files with runc's v1 -> v2 conversions,
``unified`` key/values, the device BPF program, cgroup.freeze, cgroup.kill, removal.
Must not touch: v1 hierarchies, state, the CLI.
"""

from __future__ import annotations

import posix
import time

from pyruntime import pathops
from pyruntime.cgroups import fsio
from pyruntime.cgroups.manager import SIGKILL, CgroupManager
from pyruntime.errors import CgroupError

TYPE_CHECKING = False


if TYPE_CHECKING:
    import logging
    from collections.abc import Callable
    from typing import Any

    from pyruntime.cgroups.resources import Resources

FREEZE_TIMEOUT = 10.0
DEFAULT_CFS_PERIOD = 100000


def _attach_with_bpf(directory: str, code: bytes) -> None:
    from pyruntime.shim import set_device_program

    set_device_program(directory, code)


def _num(value: int) -> str:
    return "max" if value < 0 else str(value)


class V2Manager(CgroupManager):
    """A container's cgroup on a unified (v2) hierarchy mounted at ``root``."""

    version = 2
    # Replaced by unit tests that run against a plain directory tree.
    device_loader: Callable[[str, bytes], None] = staticmethod(_attach_with_bpf)

    def __init__(self, path: str, directory: str, root: str) -> None:
        self.path = path
        self.dir = directory
        self.root = root

    # --- lifecycle -------------------------------------------------------------------

    def _join_dirs(self) -> list[str]:
        return [self.dir]

    def joinable_paths(self) -> dict[str, str]:
        return {"": self.dir}

    def create(self) -> None:
        rel = pathops.relpath(self.dir, self.root)
        if rel.startswith(".."):
            raise CgroupError(f"invalid cgroup path {self.dir}: not under {self.root}")
        available = (fsio.read_optional(self.root, "cgroup.controllers") or "").split()
        cur = self.root
        for part in [] if rel == "." else rel.split("/"):
            # Enable every available controller for the children of each ancestor, so
            # the container can use any of them (runc does the same).
            if available:
                self._enable_controllers(cur, available)
            cur = pathops.join(cur, part)
            fsio.mkdir_p(cur)

    def _enable_controllers(self, directory: str, controllers: list[str]) -> None:
        have = set((fsio.read_optional(directory, "cgroup.subtree_control") or "").split())
        missing = [c for c in controllers if c not in have]
        if not missing:
            return
        try:
            fsio.write(
                pathops.join(directory, "cgroup.subtree_control"),
                " ".join("+" + c for c in missing),
            )
        except OSError:
            # One refused controller fails the whole write; enable what we can.
            for c in missing:
                try:
                    fsio.write(pathops.join(directory, "cgroup.subtree_control"), "+" + c)
                except OSError as e:
                    _log().debug("cannot enable controller %s in %s: %s", c, directory, e.strerror)

    def destroy(self) -> None:
        if pathops.normpath(self.dir) == pathops.normpath(self.root):
            return
        fsio.rmdir_tree(self.dir)

    def controllers(self) -> set[str]:
        """Controllers enabled for this cgroup (its cgroup.controllers)."""
        return set((fsio.read_optional(self.dir, "cgroup.controllers") or "").split())

    # --- resources -------------------------------------------------------------------

    def prepare_devices(self, res: Resources,
                        linux_devices: list[dict[str, Any]] | None) -> Callable[[], None]:
        # Imported here: `state`, `kill` and `pause` never configure resources.
        from pyruntime.cgroups import devices as devmod
        from pyruntime.cgroups.bpfprog import device_program

        program = device_program(devmod.container_rules(res.devices, linux_devices))
        return lambda: self.device_loader(self.dir, program)

    def set_limits(self, res: Resources, *, update: bool) -> None:
        from pyruntime.cgroups.resources import rdma_lines

        d = self.dir
        _warn_v1_only(res)
        if res.pids_limit is not None:
            fsio.write_checked(d, "pids.max", _num(res.pids_limit))
        self._set_memory(res)
        self._set_io(res)
        self._set_cpu(res)
        if res.cpus is not None:
            fsio.write_checked(d, "cpuset.cpus", res.cpus)
        if res.mems is not None:
            fsio.write_checked(d, "cpuset.mems", res.mems)
        fsio.write_hugetlb_limits(d, res.hugepages, "max")
        for line in rdma_lines(res.rdma):
            fsio.write_checked(d, "rdma.max", line)
        self._set_unified(res.unified)

    def _set_memory(self, res: Resources) -> None:
        if not res.memory_set():
            return
        d = self.dir
        from pyruntime.cgroups.resources import check_usage, swap_to_v2

        if res.check_before_update:
            check_usage(res, _int(fsio.read_optional(d, "memory.current")))
        memory = res.memory_limit
        if res.memory_swap is not None and memory is None:
            # update --memory-swap alone: convert against the limit in force.
            current = (fsio.read_optional(d, "memory.max") or "max").strip()
            memory = -1 if current == "max" else _int(current)
        swap = swap_to_v2(res.memory_swap, memory if memory is not None else res.memory_limit)
        if res.memory_limit is None and res.memory_swap is None:
            swap = None
        if swap is not None:
            try:
                fsio.write(pathops.join(d, "memory.swap.max"), _num(swap))
            except FileNotFoundError as e:
                # No swap accounting: "no swap" and "unlimited" are already true.
                if swap not in (0, -1):
                    raise CgroupError(
                        f"unable to write {_num(swap)!r} to {pathops.join(d, 'memory.swap.max')}: "
                        f"{fsio.describe(e)}"
                    ) from e
            except OSError as e:
                raise CgroupError(
                    f"unable to write {_num(swap)!r} to {pathops.join(d, 'memory.swap.max')}: "
                    f"{fsio.describe(e)}"
                ) from e
        if res.memory_limit is not None:
            fsio.write_checked(d, "memory.max", _num(res.memory_limit))
        if res.memory_reservation is not None:
            fsio.write_checked(d, "memory.low", _num(res.memory_reservation))

    def _set_io(self, res: Resources) -> None:
        if not res.io_set():
            return
        from pyruntime.cgroups.resources import blkio_weight_to_io_weight

        d = self.dir
        bfq = fsio.read_optional(d, "io.bfq.weight")
        if res.blkio_weight is not None:
            if bfq is not None:
                # BFQ takes the v1 weight range as is.
                fsio.write_checked(d, "io.bfq.weight", str(res.blkio_weight))
            else:
                fsio.write_checked(d, "io.weight", str(blkio_weight_to_io_weight(res.blkio_weight)))
        # Per-device weights exist only when io.bfq.weight reads "default N\n...".
        if bfq is not None and not bfq.strip().isdigit():
            for wd in res.weight_devices:
                if wd.weight is not None:
                    fsio.write_checked(d, "io.bfq.weight", f"{wd.major}:{wd.minor} {wd.weight}")
        elif res.weight_devices:
            _log().warning("per-device io weights need the BFQ scheduler; weightDevice ignored")
        for devs, key in (
            (res.throttle_read_bps, "rbps"),
            (res.throttle_write_bps, "wbps"),
            (res.throttle_read_iops, "riops"),
            (res.throttle_write_iops, "wiops"),
        ):
            for td in devs:
                fsio.write_checked(d, "io.max", f"{td.major}:{td.minor} {key}={td.rate}")

    def _set_cpu(self, res: Resources) -> None:
        d = self.dir
        if res.cpu_idle is not None:
            fsio.write_checked(d, "cpu.idle", str(res.cpu_idle))
        if res.cpu_shares is not None:
            from pyruntime.cgroups.resources import shares_to_weight

            fsio.write_checked(d, "cpu.weight", str(shares_to_weight(res.cpu_shares)))
        burst_later = False
        if res.cpu_burst is not None:
            try:
                fsio.write(pathops.join(d, "cpu.max.burst"), str(res.cpu_burst))
            except OSError as e:
                import errno  # (only when handling an error: 0.08 ms to import)
                if e.errno != errno.EINVAL or res.cpu_quota is None:
                    raise CgroupError(
                        f"unable to write {str(res.cpu_burst)!r} to "
                        f"{pathops.join(d, 'cpu.max.burst')}: "
                        f"{fsio.describe(e)}"
                    ) from e
                burst_later = True
        if res.cpu_quota is not None or res.cpu_period is not None:
            # cpu.max holds both; keep the half this request does not change.
            cur = (fsio.read_optional(d, "cpu.max") or f"max {DEFAULT_CFS_PERIOD}").split()
            quota = _num(res.cpu_quota) if res.cpu_quota is not None else (cur[0] if cur else "max")
            period = (
                res.cpu_period
                if res.cpu_period is not None
                else (_int(cur[1]) if len(cur) > 1 else DEFAULT_CFS_PERIOD)
            )
            fsio.write_checked(d, "cpu.max", f"{quota} {period}")
            if burst_later:
                fsio.write_checked(d, "cpu.max.burst", str(res.cpu_burst))

    def _set_unified(self, unified: dict[str, str]) -> None:
        for key, value in unified.items():
            if "/" in key or key in ("", ".", ".."):
                raise CgroupError(f"unified resource {key!r} must be a file name (no slashes)")
            path = pathops.join(self.dir, key)
            # Multi-line values (io.max for several devices) go one line per write.
            lines = [ln for ln in value.split("\n") if ln] or [value]
            try:
                for line in lines:
                    fsio.write(path, line)
            except OSError as e:
                import errno
                if e.errno in (errno.ENOENT, errno.EACCES, errno.EPERM):
                    ctrl, dot, _ = key.partition(".")
                    if not dot:
                        raise CgroupError(
                            f"unified resource {key!r} must be in the form CONTROLLER.PARAMETER"
                        ) from e
                    if ctrl != "cgroup" and ctrl not in self.controllers():
                        raise CgroupError(
                            f"unified resource {key!r} can't be set: "
                            f"controller {ctrl!r} not available"
                        ) from e
                raise CgroupError(
                    f"unable to set unified resource {key!r} to {value!r}: {fsio.describe(e)}"
                ) from e

    # --- freezer ---------------------------------------------------------------------

    def freeze(self) -> None:
        fsio.write_checked(self.dir, "cgroup.freeze", "1")
        if not self._wait_frozen(True):
            fsio.write(pathops.join(self.dir, "cgroup.freeze"), "0")
            raise CgroupError(f"unable to freeze {self.dir}: timed out waiting for cgroup.events")

    def thaw(self) -> None:
        fsio.write_checked(self.dir, "cgroup.freeze", "0")

    def _wait_frozen(self, want: bool) -> bool:
        """Wait until cgroup.events says "frozen 1" (poll wakes on each change)."""
        path = pathops.join(self.dir, "cgroup.events")
        import select

        deadline = time.monotonic() + FREEZE_TIMEOUT
        try:
            fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
        except FileNotFoundError:
            return True  # fake tree or very old kernel: trust the write
        try:
            poller = select.poll()
            poller.register(fd, select.POLLPRI)
            while True:
                data = posix.pread(fd, 4096, 0).decode()
                events = {k: v for k, _, v in (ln.partition(" ") for ln in data.splitlines())}
                if events.get("frozen", "1" if want else "0") == ("1" if want else "0"):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                poller.poll(min(left, 0.1) * 1000)
        finally:
            posix.close(fd)

    def frozen(self) -> bool:
        return (fsio.read_optional(self.dir, "cgroup.freeze") or "0").strip() == "1"

    # --- processes and statistics ----------------------------------------------------

    def _procs_root(self) -> str | None:
        return self.dir

    def signal_all(self, sig: int) -> None:
        # cgroup.kill (5.14+) kills the whole subtree atomically.
        if sig == SIGKILL and fsio.exists(pathops.join(self.dir, "cgroup.kill")):
            fsio.write_checked(self.dir, "cgroup.kill", "1")
            return
        super().signal_all(sig)

    def _has_freezer(self) -> bool:
        return fsio.exists(pathops.join(self.dir, "cgroup.freeze"))

    def populated(self) -> bool:
        """True while any process is in the cgroup subtree (cgroup.events)."""
        text = fsio.read_optional(self.dir, "cgroup.events") or ""
        for line in text.splitlines():
            k, _, v = line.partition(" ")
            if k == "populated":
                return v.strip() == "1"
        return bool(self.pids())

    def stats(self) -> dict[str, Any]:
        from pyruntime.cgroups.stats import v2_stats

        return v2_stats(self.dir)

    def oom_events(self) -> Any:
        from pyruntime.cgroups.oom import V2OomWatcher

        return V2OomWatcher(self.dir)


def _log() -> logging.Logger:
    import logging  # rare paths only; keeps the hot-path import small

    return logging.getLogger(__name__)


def _int(text: str | None) -> int:
    try:
        return int((text or "0").strip())
    except ValueError:
        return 0


def _warn_v1_only(res: Resources) -> None:
    """Fields cgroup v2 has no file for: runc ignores them; we say so."""
    ignored = [
        name
        for name, value in (
            ("memory.kernel", res.kernel),
            ("memory.kernelTCP", res.kernel_tcp),
            ("memory.swappiness", res.swappiness),
            ("memory.disableOOMKiller", res.disable_oom_killer or None),
            ("cpu.realtimeRuntime", res.rt_runtime),
            ("cpu.realtimePeriod", res.rt_period),
            ("blockIO.leafWeight", res.blkio_leaf_weight),
            ("network.classID", res.net_classid),
            ("network.priorities", res.net_priorities or None),
        )
        if value is not None
    ]
    if ignored:
        _log().warning("not supported on cgroup v2, ignored: %s", ", ".join(ignored))
