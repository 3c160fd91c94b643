"""Facts about the host and small process/proc helpers.

Owns: reading /proc (mountinfo, stat, cap_last_cap), pid liveness with start-time checks,
writing uid/gid maps, signalling through pidfds.
Must not touch: container state or policy.
"""

from __future__ import annotations

import os
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Iterable

    from pyruntime.plan import HostFacts, IdMapping


def mountinfo_mountpoints(text: str) -> list[tuple[str, str]]:
    """(mount point, fstype) of every line of a mountinfo text."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10:
            continue
        try:
            sep = fields.index("-")
        except ValueError:
            continue
        point = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        out.append((point, fields[sep + 1]))
    return out


def mount_point_of(path: str, mounts: Iterable[tuple[str, str]]) -> str | None:
    """The longest mount point that contains path."""
    best = None
    for point, _ in mounts:
        if path == point or path.startswith(point.rstrip("/") + "/") or point == "/":
            if best is None or len(point) > len(best):
                best = point
    return best


def gather_facts(rootfs: str, cgroup_dirs: dict[str, str] | None = None,
                 cgroup_v2_dir: str | None = None) -> HostFacts:
    """HostFacts for planning a container whose rootfs is `rootfs` (an absolute real path)."""
    from pyruntime.plan import HostFacts

    with open("/proc/self/mountinfo") as f:
        mounts = mountinfo_mountpoints(f.read())
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last_cap = int(f.read())
    except OSError:
        last_cap = 40
    return HostFacts(
        rootfs_parent_mount=mount_point_of(rootfs, mounts),
        last_cap=last_cap,
        has_kcore=os.path.exists("/proc/kcore"),
        cgroup_mounts=cgroup_dirs or {},
        cgroup_v2_dir=cgroup_v2_dir,
    )


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks), None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2:].split()
    if rest[0] in (b"Z", b"X"):
        return None
    return int(rest[19])


def is_alive(pid: int, start_time: int | None) -> bool:
    """pid exists, is not a zombie and (if known) started at start_time: no PID reuse."""
    if pid <= 0:
        return False
    now = process_start_time(pid)
    return now is not None and (start_time is None or now == start_time)


def open_pidfd(pid: int, start_time: int | None) -> int | None:
    """A pidfd for pid if it is still the same process, else None."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return None
    if not is_alive(pid, start_time):
        os.close(fd)
        return None
    return fd


def signal_pid(pid: int, start_time: int | None, sig: int) -> bool:
    """Send sig through a pidfd (never to a reused pid); False if the process is gone."""
    fd = open_pidfd(pid, start_time)
    if fd is None:
        return False
    from pyruntime.shim import pidfd_send_signal

    try:
        pidfd_send_signal(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)


def write_id_maps(pid: int, uid_maps: tuple[IdMapping, ...], gid_maps: tuple[IdMapping, ...]) -> None:
    """Write /proc/PID/{gid,uid}_map (as root: no newuidmap needed)."""
    for name, maps in (("gid_map", gid_maps), ("uid_map", uid_maps)):
        if not maps:
            continue
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
