"""Cgroup statistics in the shape of runc's ``events --stats`` "data" object.

Owns: parsing the v1 and v2 statistics files and building the JSON-ready dict with
runc's field names (types/events.go: cpu, cpuset, memory, pids, blkio, hugetlb,
intel_rdt, network_interfaces) and its omitempty rules: zero numbers and empty lists
are left out where runc leaves them out, structs are always present.
Must not touch: writes of any kind.
"""

from __future__ import annotations

import os

from pyruntime.cgroups import fsio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Reader = Callable[[str], "str | None"]


NS_PER_SEC = 1_000_000_000
MAX_U64 = 2**64 - 1
HUGEPAGES_DIR = "/sys/kernel/mm/hugepages"


def _u64(text: str | None) -> int:
    """Parse a cgroup number; "max" and out-of-range values become 2**64-1."""
    if text is None:
        return 0
    t = text.strip()
    if not t:
        return 0
    if t == "max":
        return MAX_U64
    try:
        v = int(t)
    except ValueError:
        return 0
    return MAX_U64 if v < 0 or v > MAX_U64 else v


def _kv(text: str | None) -> dict[str, int]:
    """Parse "key value" lines (memory.stat, cpu.stat, memory.events)."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def _omit(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Drop ``keys`` whose value is zero/empty (Go's omitempty)."""
    for k in keys:
        if not d.get(k):
            d.pop(k, None)
    return d


def memory_entry(limit: int, usage: int, max_usage: int, failcnt: int) -> dict[str, Any]:
    return _omit(
        {"limit": limit, "usage": usage, "max": max_usage, "failcnt": failcnt}, "usage", "max"
    )


def empty_stats() -> dict[str, Any]:
    """The object runc prints when no controller reports anything."""
    return {
        "cpu": {"usage": {"kernel": 0, "user": 0}, "throttling": {}},
        "cpuset": _cpuset_defaults(),
        "memory": {
            "usage": memory_entry(0, 0, 0, 0),
            "swap": memory_entry(0, 0, 0, 0),
            "kernel": memory_entry(0, 0, 0, 0),
            "kernelTCP": memory_entry(0, 0, 0, 0),
        },
        "pids": {},
        "blkio": {},
        "hugetlb": {},
        "intel_rdt": {},
        "network_interfaces": None,
    }


def _cpuset_defaults() -> dict[str, Any]:
    return {
        "cpu_exclusive": 0,
        "mem_hardwall": 0,
        "mem_exclusive": 0,
        "memory_migrate": 0,
        "memory_spread_page": 0,
        "memory_spread_slab": 0,
        "memory_pressure": 0,
        "sched_load_balance": 0,
        "sched_relax_domain_level": 0,
    }


def parse_cpu_list(text: str | None) -> list[int]:
    """ "0-2,4" -> [0, 1, 2, 4]."""
    out: list[int] = []
    for part in (text or "").strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            if hi:
                out.extend(range(int(lo), int(hi) + 1))
            else:
                out.append(int(lo))
        except ValueError:
            continue
    return out


def hugepage_sizes(directory: str = HUGEPAGES_DIR) -> list[str]:
    """Page sizes the kernel supports, named as cgroup files do ("2MB", "1GB")."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    sizes: list[tuple[int, str]] = []
    for n in names:
        if not (n.startswith("hugepages-") and n.endswith("kB")):
            continue
        try:
            kb = int(n[len("hugepages-") : -2])
        except ValueError:
            continue
        sizes.append((kb, _size_name(kb * 1024)))
    return [name for _, name in sorted(sizes)]


def _size_name(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size < 1024 or size % 1024:
            return f"{size}{unit}"
        size //= 1024
    return f"{size}EB"


def blkio_entries(text: str | None) -> list[dict[str, Any]]:
    """Parse v1 blkio stat lines ("8:0 Read 4096" or "8:0 4096"); "Total" is skipped."""
    out: list[dict[str, Any]] = []
    for line in (text or "").splitlines():
        fields = line.replace(":", " ").split()
        if len(fields) < 3:
            continue
        try:
            major, minor = int(fields[0]), int(fields[1])
            if len(fields) == 4:
                op, value = fields[2], int(fields[3])
            else:
                op, value = "", int(fields[2])
        except ValueError:
            continue
        out.append(
            _omit(
                {"major": major, "minor": minor, "op": op, "value": value},
                "major",
                "minor",
                "op",
                "value",
            )
        )
    return out


# Groups of v1 blkio files, tried in runc's order: the first group whose first file
# has content wins. Keys are runc's JSON names.
_BLKIO_GROUPS: tuple[tuple[tuple[str, str], ...], ...] = (
    (
        ("blkio.bfq.sectors_recursive", "sectorsRecursive"),
        ("blkio.bfq.io_service_time_recursive", "ioServiceTimeRecursive"),
        ("blkio.bfq.io_wait_time_recursive", "ioWaitTimeRecursive"),
        ("blkio.bfq.io_merged_recursive", "ioMergedRecursive"),
        ("blkio.bfq.io_queued_recursive", "ioQueueRecursive"),
        ("blkio.bfq.time_recursive", "ioTimeRecursive"),
        ("blkio.bfq.io_serviced_recursive", "ioServicedRecursive"),
        ("blkio.bfq.io_service_bytes_recursive", "ioServiceBytesRecursive"),
    ),
    (
        ("blkio.bfq.io_serviced_recursive", "ioServicedRecursive"),
        ("blkio.bfq.io_service_bytes_recursive", "ioServiceBytesRecursive"),
    ),
    (
        ("blkio.sectors_recursive", "sectorsRecursive"),
        ("blkio.io_service_time_recursive", "ioServiceTimeRecursive"),
        ("blkio.io_wait_time_recursive", "ioWaitTimeRecursive"),
        ("blkio.io_merged_recursive", "ioMergedRecursive"),
        ("blkio.io_queued_recursive", "ioQueueRecursive"),
        ("blkio.time_recursive", "ioTimeRecursive"),
        ("blkio.io_serviced_recursive", "ioServicedRecursive"),
        ("blkio.io_service_bytes_recursive", "ioServiceBytesRecursive"),
    ),
    (
        ("blkio.throttle.io_serviced_recursive", "ioServicedRecursive"),
        ("blkio.throttle.io_service_bytes_recursive", "ioServiceBytesRecursive"),
    ),
    (
        ("blkio.throttle.io_serviced", "ioServicedRecursive"),
        ("blkio.throttle.io_service_bytes", "ioServiceBytesRecursive"),
    ),
)


def _reader(directory: str | None) -> Reader:
    def read(name: str) -> str | None:
        if directory is None:
            return None
        return fsio.read_optional(directory, name)

    return read


# --- cgroup v1 ----------------------------------------------------------------------


def v1_stats(paths: dict[str, str], hugepages_dir: str = HUGEPAGES_DIR) -> dict[str, Any]:
    """Build the stats object from v1 hierarchies ({subsystem: dir})."""
    st = empty_stats()
    _v1_cpu(st, _reader(paths.get("cpu")), _reader(paths.get("cpuacct")), "cpuacct" in paths)
    if "cpuset" in paths:
        _v1_cpuset(st, _reader(paths["cpuset"]))
    if "memory" in paths:
        _v1_memory(st, _reader(paths["memory"]))
    if "pids" in paths:
        rd = _reader(paths["pids"])
        limit = _u64(rd("pids.max"))
        st["pids"] = _omit(
            {"current": _u64(rd("pids.current")), "limit": 0 if limit == MAX_U64 else limit},
            "current",
            "limit",
        )
    if "blkio" in paths:
        st["blkio"] = _v1_blkio(_reader(paths["blkio"]))
    if "hugetlb" in paths:
        rd = _reader(paths["hugetlb"])
        for size in hugepage_sizes(hugepages_dir):
            pre = f"hugetlb.{size}"
            # runc reports the reservation counters when the kernel has them.
            rsvd = pre + ".rsvd" if rd(pre + ".rsvd.usage_in_bytes") is not None else pre
            st["hugetlb"][size] = _omit(
                {
                    "usage": _u64(rd(rsvd + ".usage_in_bytes")),
                    "max": _u64(rd(rsvd + ".max_usage_in_bytes")),
                    "failcnt": _u64(rd(rsvd + ".failcnt")),
                },
                "usage",
                "max",
            )
    return st


def _v1_cpu(st: dict[str, Any], cpu: Reader, acct: Reader, has_acct: bool) -> None:
    usage: dict[str, Any] = {"kernel": 0, "user": 0}
    if has_acct:
        ticks = os.sysconf("SC_CLK_TCK") or 100
        times = _kv(acct("cpuacct.stat"))
        usage["total"] = _u64(acct("cpuacct.usage"))
        usage["percpu"] = [int(x) for x in (acct("cpuacct.usage_percpu") or "").split()]
        kern: list[int] = []
        user: list[int] = []
        lines = (acct("cpuacct.usage_all") or "").splitlines()
        for line in lines[1:]:
            f = line.split()
            if len(f) >= 3:
                user.append(int(f[1]))
                kern.append(int(f[2]))
        usage["percpu_kernel"] = kern
        usage["percpu_user"] = user
        usage["kernel"] = times.get("system", 0) * NS_PER_SEC // ticks
        usage["user"] = times.get("user", 0) * NS_PER_SEC // ticks
    usage = _omit(usage, "total", "percpu", "percpu_kernel", "percpu_user")
    # Keep runc's key order: total, percpu, percpu_kernel, percpu_user, kernel, user.
    order = ("total", "percpu", "percpu_kernel", "percpu_user", "kernel", "user")
    st["cpu"]["usage"] = {k: usage[k] for k in order if k in usage}
    c = _kv(cpu("cpu.stat"))
    st["cpu"]["throttling"] = _omit(
        {
            "periods": c.get("nr_periods", 0),
            "throttledPeriods": c.get("nr_throttled", 0),
            "throttledTime": c.get("throttled_time", 0),
        },
        "periods",
        "throttledPeriods",
        "throttledTime",
    )


def _v1_cpuset(st: dict[str, Any], rd: Reader) -> None:
    cs: dict[str, Any] = {}
    cpus = parse_cpu_list(rd("cpuset.cpus"))
    if cpus:
        cs["cpus"] = cpus
    cs["cpu_exclusive"] = _u64(rd("cpuset.cpu_exclusive"))
    mems = parse_cpu_list(rd("cpuset.mems"))
    if mems:
        cs["mems"] = mems
    for key in (
        "mem_hardwall",
        "mem_exclusive",
        "memory_migrate",
        "memory_spread_page",
        "memory_spread_slab",
        "memory_pressure",
        "sched_load_balance",
    ):
        cs[key] = _u64(rd("cpuset." + key))
    level = (rd("cpuset.sched_relax_domain_level") or "0").strip()
    cs["sched_relax_domain_level"] = int(level) if level.lstrip("-").isdigit() else 0
    st["cpuset"] = cs


def _v1_mem_entry(rd: Reader, prefix: str) -> dict[str, Any]:
    return memory_entry(
        _u64(rd(prefix + ".limit_in_bytes")),
        _u64(rd(prefix + ".usage_in_bytes")),
        _u64(rd(prefix + ".max_usage_in_bytes")),
        _u64(rd(prefix + ".failcnt")),
    )


def _v1_memory(st: dict[str, Any], rd: Reader) -> None:
    raw = _kv(rd("memory.stat"))
    mem: dict[str, Any] = {"cache": raw.get("cache", 0)}
    mem["usage"] = _v1_mem_entry(rd, "memory")
    mem["swap"] = _v1_mem_entry(rd, "memory.memsw")
    mem["kernel"] = _v1_mem_entry(rd, "memory.kmem")
    mem["kernelTCP"] = _v1_mem_entry(rd, "memory.kmem.tcp")
    mem["raw"] = raw
    st["memory"] = _omit(mem, "cache", "raw")


def _v1_blkio(rd: Reader) -> dict[str, Any]:
    for group in _BLKIO_GROUPS:
        first = blkio_entries(rd(group[0][0]))
        if not first:
            continue
        out: dict[str, Any] = {}
        for name, key in group:
            entries = blkio_entries(rd(name))
            if entries:
                out[key] = entries
        return out
    return {}


# --- cgroup v2 ----------------------------------------------------------------------


def _v2_mem_entry(rd: Reader, prefix: str) -> tuple[int, int, int]:
    return _u64(rd(prefix + ".current")), _u64(rd(prefix + ".max")), _u64(rd(prefix + ".peak"))


def v2_stats(directory: str, hugepages_dir: str = HUGEPAGES_DIR) -> dict[str, Any]:
    """Build the stats object from one cgroup v2 directory."""
    rd = _reader(directory)
    st = empty_stats()
    c = _kv(rd("cpu.stat"))
    usage = _omit({"total": c.get("usage_usec", 0) * 1000}, "total")
    usage["kernel"] = c.get("system_usec", 0) * 1000
    usage["user"] = c.get("user_usec", 0) * 1000
    st["cpu"]["usage"] = usage
    st["cpu"]["throttling"] = _omit(
        {
            "periods": c.get("nr_periods", 0),
            "throttledPeriods": c.get("nr_throttled", 0),
            "throttledTime": c.get("throttled_usec", 0) * 1000,
        },
        "periods",
        "throttledPeriods",
        "throttledTime",
    )
    cpus = parse_cpu_list(rd("cpuset.cpus.effective"))
    mems = parse_cpu_list(rd("cpuset.mems.effective"))
    if cpus:
        st["cpuset"]["cpus"] = cpus
    if mems:
        st["cpuset"]["mems"] = mems
    raw = _kv(rd("memory.stat"))
    if rd("memory.current") is not None:
        usage_cur, usage_max, usage_peak = _v2_mem_entry(rd, "memory")
        swap_cur, swap_max, _ = _v2_mem_entry(rd, "memory.swap")
        events = _kv(rd("memory.events"))
        swap_limit = (
            swap_max if swap_max == MAX_U64 or usage_max == MAX_U64 else swap_max + usage_max
        )
        mem: dict[str, Any] = {"cache": raw.get("file", 0)}
        mem["usage"] = memory_entry(usage_max, usage_cur, usage_peak, events.get("max", 0))
        # v1 semantics for "swap": memory+swap, as runc computes it.
        mem["swap"] = memory_entry(swap_limit, swap_cur + usage_cur, 0, 0)
        mem["kernel"] = memory_entry(0, 0, 0, 0)
        mem["kernelTCP"] = memory_entry(0, 0, 0, 0)
        mem["raw"] = raw
        st["memory"] = _omit(mem, "cache", "raw")
    pids_cur = rd("pids.current")
    if pids_cur is not None:
        limit = _u64(rd("pids.max"))
        st["pids"] = _omit(
            {"current": _u64(pids_cur), "limit": 0 if limit == MAX_U64 else limit},
            "current",
            "limit",
        )
    else:
        procs = rd("cgroup.procs") or ""
        st["pids"] = _omit({"current": len(procs.splitlines())}, "current")
    st["blkio"] = _v2_io(rd("io.stat"))
    for size in hugepage_sizes(hugepages_dir):
        pre = f"hugetlb.{size}"
        cur = rd(pre + ".rsvd.current")
        if cur is None:
            cur = rd(pre + ".current")
        if cur is None:
            continue
        ev = _kv(rd(pre + ".events"))
        st["hugetlb"][size] = _omit({"usage": _u64(cur), "failcnt": ev.get("max", 0)}, "usage")
    return st


def _v2_io(text: str | None) -> dict[str, Any]:
    ops = {
        "rbytes": ("ioServiceBytesRecursive", "Read"),
        "wbytes": ("ioServiceBytesRecursive", "Write"),
        "rios": ("ioServicedRecursive", "Read"),
        "wios": ("ioServicedRecursive", "Write"),
    }
    out: dict[str, list[dict[str, Any]]] = {}
    for line in (text or "").splitlines():
        fields = line.split()
        if not fields or ":" not in fields[0]:
            continue
        maj, _, mnr = fields[0].partition(":")
        try:
            major, minor = int(maj), int(mnr)
        except ValueError:
            continue
        for item in fields[1:]:
            key, _, val = item.partition("=")
            if key not in ops or not val.isdigit():
                continue
            table, op = ops[key]
            out.setdefault(table, []).append(
                _omit(
                    {"major": major, "minor": minor, "op": op, "value": int(val)},
                    "major",
                    "minor",
                    "op",
                    "value",
                )
            )
    return out
