"""cgroup v1 resource limits (V1Manager.set_limits): memory and swap, cpu, pids, blkio,
hugetlb, net_cls/net_prio, rdma, cpuset.

Apart from v1.py so that delete, kill --all and pause, which never set limits, do not load
them. The ordering rules are v1.py's (runc's).

Owns: the v1 controller files that limits are written to.
Must not touch: creating or removing cgroups (v1.py), device rules, state, the CLI.
"""

from __future__ import annotations

from pyruntime import pathops
from pyruntime.cgroups import fsio
from pyruntime.errors import CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.cgroups.resources import Resources
    from pyruntime.cgroups.v1 import V1Manager


def set_limits(mgr: V1Manager, res: Resources, *, update: bool) -> None:
    """V1Manager.set_limits: every resource but the device rules, in runc's order."""
    from pyruntime.cgroups.resources import rdma_lines

    if res.unified:
        raise CgroupError("invalid configuration: cannot use unified on cgroup v1")
    if res.cpus is not None or res.mems is not None:
        d = mgr.controller_dir("cpuset", "cpuset")
        if res.cpus is not None:
            fsio.write_checked(d, "cpuset.cpus", res.cpus)
        if res.mems is not None:
            fsio.write_checked(d, "cpuset.mems", res.mems)
    _set_memory(mgr, res, update)
    _set_cpu(mgr, res)
    if res.pids_limit is not None:
        value = "max" if res.pids_limit < 0 else str(res.pids_limit)
        fsio.write_checked(mgr.controller_dir("pids", "pids limit"), "pids.max", value)
    _set_blkio(mgr, res)
    if res.hugepages:
        d = mgr.controller_dir("hugetlb", "hugetlb limit")
        fsio.write_hugetlb_limits(d, res.hugepages, "limit_in_bytes")
    if res.net_classid is not None:
        d = mgr.controller_dir("net_cls", "network class id")
        fsio.write_checked(d, "net_cls.classid", str(res.net_classid))
    if res.net_priorities:
        d = mgr.controller_dir("net_prio", "network priorities")
        for name, prio in res.net_priorities:
            fsio.write_checked(d, "net_prio.ifpriomap", f"{name} {prio}")
    if res.rdma:
        d = mgr.controller_dir("rdma", "rdma limit")
        for line in rdma_lines(res.rdma):
            fsio.write_checked(d, "rdma.max", line)


def _set_memory(mgr: V1Manager, res: Resources, update: bool) -> None:
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
    d = mgr.controller_dir("memory", "memory limit")
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
    _set_memory_and_swap(d, res.memory_limit, res.memory_swap)
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


def _set_memory_and_swap(d: str, memory: int | None, swap: int | None) -> None:
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
            _write_memory_limit(d, memory)
            return
    if memory is not None:
        _write_memory_limit(d, memory)
    if swap is not None:
        fsio.write_checked(d, memsw, str(swap))


def _write_memory_limit(d: str, value: int) -> None:
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


def _set_cpu(mgr: V1Manager, res: Resources) -> None:
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
    d = mgr.controller_dir("cpu", "cpu limits")
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


def _set_blkio(mgr: V1Manager, res: Resources) -> None:
    wants = res.io_set() or res.blkio_leaf_weight is not None
    if not wants:
        return
    d = mgr.controller_dir("blkio", "blkio limits")
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
