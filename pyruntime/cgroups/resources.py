"""OCI ``linux.resources`` as typed values, and runc's v1 -> v2 conversions.

Owns: parsing and checking the resources JSON object (config.json or ``update -r``),
the "zero means unset" rule runc applies, and pure conversions (cpu shares -> weight,
blkio weight -> io.weight, memory+swap -> swap).
Must not touch: files, the kernel. Everything here is pure.
"""

from __future__ import annotations

from pyruntime.errors import CgroupError, SpecError
from pyruntime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


PREFIX = "linux.resources"


class WeightDevice(Record):
    __slots__ = ("major", "minor", "weight", "leaf_weight")
    major: int
    minor: int
    weight: int | None
    leaf_weight: int | None


class ThrottleDevice(Record):
    __slots__ = ("major", "minor", "rate")
    major: int
    minor: int
    rate: int


class DeviceRule(Record):
    """One device cgroup rule; major/minor -1 is the wildcard '*'."""

    __slots__ = ("allow", "type", "major", "minor", "access")
    allow: bool
    type: str  # "a", "b" or "c"
    major: int
    minor: int
    access: str  # subset of "rwm"


class Resources(Record):
    """Parsed resources. ``None`` (or an empty list/dict) means "not set, leave as is"."""

    __slots__ = (
        "memory_limit", "memory_reservation", "memory_swap", "kernel", "kernel_tcp", "swappiness",
        "disable_oom_killer", "use_hierarchy", "check_before_update", "cpu_shares", "cpu_quota",
        "cpu_period", "cpu_burst", "rt_runtime", "rt_period", "cpus", "mems", "cpu_idle",
        "pids_limit", "blkio_weight", "blkio_leaf_weight", "weight_devices", "throttle_read_bps",
        "throttle_write_bps", "throttle_read_iops", "throttle_write_iops", "hugepages",
        "net_classid", "net_priorities", "rdma", "unified", "devices"
    )
    _defaults = {
        "memory_limit": None, "memory_reservation": None, "memory_swap": None, "kernel": None,
        "kernel_tcp": None, "swappiness": None, "disable_oom_killer": None, "use_hierarchy": None,
        "check_before_update": False, "cpu_shares": None, "cpu_quota": None, "cpu_period": None,
        "cpu_burst": None, "rt_runtime": None, "rt_period": None, "cpus": None, "mems": None,
        "cpu_idle": None, "pids_limit": None, "blkio_weight": None, "blkio_leaf_weight": None,
        "weight_devices": [], "throttle_read_bps": [], "throttle_write_bps": [],
        "throttle_read_iops": [], "throttle_write_iops": [], "hugepages": [], "net_classid": None,
        "net_priorities": [], "rdma": {}, "unified": {}, "devices": None
    }
    memory_limit: int | None
    memory_reservation: int | None
    memory_swap: int | None
    kernel: int | None
    kernel_tcp: int | None
    swappiness: int | None
    disable_oom_killer: bool | None
    use_hierarchy: bool | None
    check_before_update: bool
    cpu_shares: int | None
    cpu_quota: int | None
    cpu_period: int | None
    cpu_burst: int | None
    rt_runtime: int | None
    rt_period: int | None
    cpus: str | None
    mems: str | None
    cpu_idle: int | None
    pids_limit: int | None
    blkio_weight: int | None
    blkio_leaf_weight: int | None
    weight_devices: list[WeightDevice]
    throttle_read_bps: list[ThrottleDevice]
    throttle_write_bps: list[ThrottleDevice]
    throttle_read_iops: list[ThrottleDevice]
    throttle_write_iops: list[ThrottleDevice]
    hugepages: list[tuple[str, int]]
    net_classid: int | None
    net_priorities: list[tuple[str, int]]
    rdma: dict[str, tuple[int | None, int | None]]
    unified: dict[str, str]
    devices: list[DeviceRule] | None

    def memory_set(self) -> bool:
        return any(
            v is not None for v in (self.memory_limit, self.memory_reservation, self.memory_swap)
        )

    def cpu_set(self) -> bool:
        return any(
            v is not None
            for v in (
                self.cpu_shares,
                self.cpu_quota,
                self.cpu_period,
                self.cpu_burst,
                self.cpu_idle,
            )
        )

    def io_set(self) -> bool:
        return bool(
            self.blkio_weight is not None
            or self.weight_devices
            or self.throttle_read_bps
            or self.throttle_write_bps
            or self.throttle_read_iops
            or self.throttle_write_iops
        )


# --- parsing ---------------------------------------------------------------------


def _obj(d: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, dict):
        raise SpecError(f"{where}.{key}", "must be an object")
    return v


def _int(d: dict[str, Any], key: str, where: str, *, lo: int | None = None) -> int | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(f"{where}.{key}", f"must be an integer, got {v!r}")
    if lo is not None and v < lo:
        raise SpecError(f"{where}.{key}", f"must be >= {lo}, got {v}")
    return v


def _nonzero(v: int | None) -> int | None:
    """runc treats 0 as "unset" for most numeric fields (and docker sends zeros)."""
    return None if v == 0 else v


def _bool(d: dict[str, Any], key: str, where: str) -> bool | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, bool):
        raise SpecError(f"{where}.{key}", f"must be a boolean, got {v!r}")
    return v


def _str(d: dict[str, Any], key: str, where: str) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise SpecError(f"{where}.{key}", f"must be a string, got {v!r}")
    return v


def _list(d: dict[str, Any], key: str, where: str) -> list[Any]:
    v = d.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise SpecError(f"{where}.{key}", "must be an array")
    return v


def parse_device_rules(rules: Any, where: str = f"{PREFIX}.devices") -> list[DeviceRule]:
    """Parse ``linux.resources.devices`` entries into DeviceRules.

    Raises:
        SpecError: a rule is malformed.
    """
    if not isinstance(rules, list):
        raise SpecError(where, "must be an array")
    out: list[DeviceRule] = []
    for i, r in enumerate(rules):
        w = f"{where}[{i}]"
        if not isinstance(r, dict):
            raise SpecError(w, "must be an object")
        allow = _bool(r, "allow", w)
        if allow is None:
            raise SpecError(f"{w}.allow", "is required")
        typ = _str(r, "type", w) or "a"
        if typ not in ("a", "b", "c"):
            raise SpecError(f"{w}.type", f"invalid cgroup device type {typ!r}")
        major = _int(r, "major", w)
        minor = _int(r, "minor", w)
        access = _str(r, "access", w)
        if not access:
            raise SpecError(f"{w}.access", f"device access at {i} field cannot be empty")
        if any(c not in "rwm" for c in access):
            raise SpecError(f"{w}.access", f"invalid device access {access!r}")
        out.append(
            DeviceRule(
                allow,
                typ,
                -1 if major is None else major,
                -1 if minor is None else minor,
                normalize_access(access),
            )
        )
    return out


def normalize_access(access: str) -> str:
    """Access letters deduplicated, in "rwm" order."""
    return "".join(c for c in "rwm" if c in access)


def _throttles(b: dict[str, Any], key: str, where: str) -> list[ThrottleDevice]:
    out = []
    for i, t in enumerate(_list(b, key, where)):
        w = f"{where}.{key}[{i}]"
        if not isinstance(t, dict):
            raise SpecError(w, "must be an object")
        major, minor, rate = _int(t, "major", w), _int(t, "minor", w), _int(t, "rate", w, lo=0)
        if major is None or minor is None or rate is None:
            raise SpecError(w, "major, minor and rate are required")
        out.append(ThrottleDevice(major, minor, rate))
    return out


def parse_resources(res: dict[str, Any] | None, where: str = PREFIX, *,
                    for_update: bool = False) -> Resources:
    """Parse an OCI LinuxResources object. Zero numeric values mean "unset" (runc).

    Except pids.limit at create time: the spec says 0 is a valid limit (config-linux.md);
    in `update` a zero still means "unchanged", as Docker sends it.

    Raises:
        SpecError: a field has the wrong type or an impossible value.
    """
    r = Resources()
    if res is None:
        return r
    if not isinstance(res, dict):
        raise SpecError(where, "must be an object")
    m = _obj(res, "memory", where)
    if m is not None:
        w = f"{where}.memory"
        r.memory_limit = _nonzero(_int(m, "limit", w))
        r.memory_reservation = _nonzero(_int(m, "reservation", w))
        r.memory_swap = _nonzero(_int(m, "swap", w))
        r.kernel = _nonzero(_int(m, "kernel", w))
        r.kernel_tcp = _nonzero(_int(m, "kernelTCP", w))
        sw = _int(m, "swappiness", w)
        # -1 (and the uint64 image of it docker may send) means "kernel default".
        if sw is not None and sw != -1 and sw < 2**63:
            if not 0 <= sw <= 100:
                raise SpecError(
                    f"{w}.swappiness",
                    f"invalid memory swappiness value: {sw} (valid range is 0-100)",
                )
            r.swappiness = sw
        r.disable_oom_killer = _bool(m, "disableOOMKiller", w)
        r.use_hierarchy = _bool(m, "useHierarchy", w)
        r.check_before_update = bool(_bool(m, "checkBeforeUpdate", w))
    c = _obj(res, "cpu", where)
    if c is not None:
        w = f"{where}.cpu"
        r.cpu_shares = _nonzero(_int(c, "shares", w, lo=0))
        r.cpu_quota = _nonzero(_int(c, "quota", w))
        r.cpu_period = _nonzero(_int(c, "period", w, lo=0))
        r.cpu_burst = _int(c, "burst", w, lo=0)
        r.rt_runtime = _nonzero(_int(c, "realtimeRuntime", w))
        r.rt_period = _nonzero(_int(c, "realtimePeriod", w, lo=0))
        r.cpus = _str(c, "cpus", w) or None
        r.mems = _str(c, "mems", w) or None
        r.cpu_idle = _int(c, "idle", w)
    p = _obj(res, "pids", where)
    if p is not None:
        limit = _int(p, "limit", f"{where}.pids")
        r.pids_limit = _nonzero(limit) if for_update else limit
    b = _obj(res, "blockIO", where)
    if b is not None:
        w = f"{where}.blockIO"
        r.blkio_weight = _nonzero(_int(b, "weight", w, lo=0))
        r.blkio_leaf_weight = _nonzero(_int(b, "leafWeight", w, lo=0))
        for i, wd in enumerate(_list(b, "weightDevice", w)):
            ww = f"{w}.weightDevice[{i}]"
            if not isinstance(wd, dict):
                raise SpecError(ww, "must be an object")
            major, minor = _int(wd, "major", ww), _int(wd, "minor", ww)
            if major is None or minor is None:
                raise SpecError(ww, "major and minor are required")
            r.weight_devices.append(
                WeightDevice(
                    major,
                    minor,
                    _nonzero(_int(wd, "weight", ww, lo=0)),
                    _nonzero(_int(wd, "leafWeight", ww, lo=0)),
                )
            )
        r.throttle_read_bps = _throttles(b, "throttleReadBpsDevice", w)
        r.throttle_write_bps = _throttles(b, "throttleWriteBpsDevice", w)
        r.throttle_read_iops = _throttles(b, "throttleReadIOPSDevice", w)
        r.throttle_write_iops = _throttles(b, "throttleWriteIOPSDevice", w)
    for i, h in enumerate(_list(res, "hugepageLimits", where)):
        w = f"{where}.hugepageLimits[{i}]"
        if not isinstance(h, dict):
            raise SpecError(w, "must be an object")
        size, limit = _str(h, "pageSize", w), _int(h, "limit", w, lo=0)
        if not size or limit is None or "/" in size:
            raise SpecError(w, "pageSize and limit are required")
        r.hugepages.append((size, limit))
    n = _obj(res, "network", where)
    if n is not None:
        w = f"{where}.network"
        r.net_classid = _nonzero(_int(n, "classID", w, lo=0))
        for i, pr in enumerate(_list(n, "priorities", w)):
            ww = f"{w}.priorities[{i}]"
            if not isinstance(pr, dict):
                raise SpecError(ww, "must be an object")
            name, prio = _str(pr, "name", ww), _int(pr, "priority", ww, lo=0)
            if not name or prio is None:
                raise SpecError(ww, "name and priority are required")
            r.net_priorities.append((name, prio))
    rd = _obj(res, "rdma", where)
    if rd is not None:
        for dev, lim in rd.items():
            ww = f"{where}.rdma.{dev}"
            if not isinstance(lim, dict):
                raise SpecError(ww, "must be an object")
            r.rdma[dev] = (_int(lim, "hcaHandles", ww, lo=0), _int(lim, "hcaObjects", ww, lo=0))
    u = _obj(res, "unified", where)
    if u is not None:
        for k, v in u.items():
            if not isinstance(v, str):
                raise SpecError(f"{where}.unified.{k}", "must be a string")
            r.unified[k] = v
    if res.get("devices") is not None:
        r.devices = parse_device_rules(res["devices"], f"{where}.devices")
    return r


# --- runc's v1 -> v2 conversions -----------------------------------------------------


def shares_to_weight(shares: int) -> int:
    """cpu.shares [2..262144] -> cpu.weight [1..10000], runc's log-quadratic fit.

    It maps 2 -> 1, 1024 -> 100 (both defaults) and 262144 -> 10000.
    """
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    import math  # cgroup v2 only

    lg = math.log2(shares)
    exponent = (lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0
    return math.ceil(math.pow(10, exponent))


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight [10..1000] -> io.weight [1..10000], linear (runc)."""
    return 1 + (weight - 10) * 9999 // 990


def swap_to_v2(swap: int | None, memory: int | None) -> int | None:
    """OCI memory+swap total -> cgroup v2 memory.swap.max (swap only).

    Returns None for "leave unchanged" and -1 for "max".

    Raises:
        CgroupError: the combination cannot be expressed (runc's messages).
    """
    if memory == -1 and swap is None:
        # Unlimited memory with swap unset means both unlimited (v1 compatibility).
        return -1
    if swap is None or swap == -1:
        return swap
    if memory == -1:
        return swap
    if memory is None:
        raise CgroupError("unable to set swap limit without memory limit")
    if memory < 0:
        raise CgroupError(f"invalid memory value: {memory}")
    if swap < memory:
        raise CgroupError("memory+swap limit should be >= memory limit")
    return swap - memory


# --- helpers shared by the v1 and v2 writers -----------------------------------------


def check_usage(res: Resources, usage: int) -> None:
    """checkBeforeUpdate: refuse limits at or below the current usage.

    Raises:
        CgroupError: a new limit would be <= usage.
    """
    if res.memory_swap is not None and res.memory_swap > 0 and res.memory_swap <= usage:
        raise CgroupError(f"rejecting memory+swap limit {res.memory_swap} <= usage {usage}")
    if res.memory_limit is not None and res.memory_limit > 0 and res.memory_limit <= usage:
        raise CgroupError(f"rejecting memory limit {res.memory_limit} <= usage {usage}")


def rdma_lines(rdma: dict[str, tuple[int | None, int | None]]) -> list[str]:
    """rdma.max lines: "mlx4_0 hca_handle=2 hca_object=2000" (unset parts left out)."""
    out = []
    for dev in sorted(rdma):
        handles, objects = rdma[dev]
        parts = [dev]
        if handles is not None:
            parts.append(f"hca_handle={handles}")
        if objects is not None:
            parts.append(f"hca_object={objects}")
        if len(parts) > 1:
            out.append(" ".join(parts))
    return out
