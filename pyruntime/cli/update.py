"""`pyruntime update [flags] <container-id>`: change a live container's resources."""

from __future__ import annotations

import sys

from pyruntime.cli.args import Flag, Parsed, UsageError
from pyruntime.cli.common import one_id, runtime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


SYNOPSIS = "[command options] <container-id>"
FLAGS = (
    Flag(("--resources", "-r"), "path to a LinuxResources JSON file, or - for stdin", "FILE"),
    Flag(("--blkio-weight",), "specifies per cgroup weight, range is from 10 to 1000", "N"),
    Flag(("--cpu-period",), "CPU CFS period to be used for hardcapping (in usecs)", "N"),
    Flag(("--cpu-quota",), "CPU CFS hardcap limit (in usecs)", "N"),
    Flag(("--cpu-share",), "CPU shares (relative weight vs. other containers)", "N"),
    Flag(("--cpu-rt-period",), "CPU realtime period to be used for hardcapping (in usecs)", "N"),
    Flag(("--cpu-rt-runtime",), "CPU realtime hardcap limit (in usecs)", "N"),
    Flag(("--cpuset-cpus",), "CPU(s) to use", "LIST"),
    Flag(("--cpuset-mems",), "memory node(s) to use", "LIST"),
    Flag(("--kernel-memory",), "kernel memory limit (ignored, as runc)", "BYTES"),
    Flag(("--kernel-memory-tcp",), "kernel memory limit for tcp buffer (ignored)", "BYTES"),
    Flag(("--memory",), "memory limit (in bytes)", "BYTES"),
    Flag(("--cpu-idle",), "set cgroup SCHED_IDLE or not, 0: default, 1: idle", "N"),
    Flag(("--memory-reservation",), "memory reservation or soft_limit (in bytes)", "BYTES"),
    Flag(("--memory-swap",), "total memory usage (memory + swap); -1 for unlimited", "BYTES"),
    Flag(("--pids-limit",), "maximum number of pids allowed in the container", "N"),
    Flag(("--l3-cache-schema",), "the string of Intel RDT/CAT L3 cache schema", "SCHEMA"),
    Flag(("--mem-bw-schema",), "the string of Intel RDT/MBA memory bandwidth schema", "SCHEMA"),
)

UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

# flag key -> (section, field, kind)
FIELDS = {
    "blkio_weight": ("blockIO", "weight", int),
    "cpu_period": ("cpu", "period", int),
    "cpu_quota": ("cpu", "quota", int),
    "cpu_share": ("cpu", "shares", int),
    "cpu_rt_period": ("cpu", "realtimePeriod", int),
    "cpu_rt_runtime": ("cpu", "realtimeRuntime", int),
    "cpuset_cpus": ("cpu", "cpus", str),
    "cpuset_mems": ("cpu", "mems", str),
    "cpu_idle": ("cpu", "idle", int),
    "memory": ("memory", "limit", "bytes"),
    "memory_reservation": ("memory", "reservation", "bytes"),
    "memory_swap": ("memory", "swap", "bytes"),
    "kernel_memory": ("memory", "kernel", "bytes"),
    "kernel_memory_tcp": ("memory", "kernelTCP", "bytes"),
    "pids_limit": ("pids", "limit", int),
}


def parse_bytes(text: str) -> int:
    """`64m` / `1g` / `1024` / `-1` -> bytes.

    Raises:
        UsageError: not a size.
    """
    t = text.strip().lower().removesuffix("b")
    mult = 1
    if t and t[-1] in UNITS:
        mult, t = UNITS[t[-1]], t[:-1]
    try:
        return int(float(t) * mult) if "." in t else int(t) * mult
    except ValueError:
        raise UsageError(f"invalid value for size: {text}") from None


def resources_from_flags(parsed: Parsed) -> dict[str, Any]:
    """A LinuxResources object with only the fields whose flags were given.

    Raises:
        UsageError: a malformed value.
    """
    res: dict[str, Any] = {}
    for key, (section, name, kind) in FIELDS.items():
        value = parsed.get(key)
        if value is None:
            continue
        if kind == "bytes":
            parsed_value: Any = parse_bytes(value)
        elif kind is int:
            try:
                parsed_value = int(value)
            except ValueError:
                raise UsageError(f"invalid value for {key.replace('_', '-')}: {value}") from None
        else:
            parsed_value = value
        res.setdefault(section, {})[name] = parsed_value
    return res


def run(parsed: Parsed, ctx: Any) -> int:
    """Apply the new resources."""
    from pyruntime.spec.load import parse_json

    cid = one_id(parsed)
    source = parsed.get("resources")
    if source:
        if source == "-":
            data = sys.stdin.buffer.read()
        else:
            try:
                with open(source, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise UsageError(f"open {source}: {e.strerror}") from None
        resources = parse_json(data, "resources")
        if not isinstance(resources, dict):
            raise UsageError("resources must be a JSON object")
    else:
        resources = resources_from_flags(parsed)
    if parsed.get("l3_cache_schema") or parsed.get("mem_bw_schema"):
        raise UsageError("Intel RDT is not supported on this host")
    runtime(ctx).update(cid, resources)
    return 0
