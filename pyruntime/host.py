"""Facts about the host that create needs: what the planner is told, and uid/gid maps.

Owns: reading /proc (mountinfo, cap_last_cap) and the rootfs's passwd for the plan, writing
uid/gid maps. (Process identity, for every verb, is pyruntime/procs.py.)
Must not touch: container state or policy.
"""

from __future__ import annotations

import posix

from pyruntime import pathops

TYPE_CHECKING = False


if TYPE_CHECKING:
    from collections.abc import Iterable

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

    mounts = mountinfo_mountpoints(pathops.read_bytes("/proc/self/mountinfo").decode())
    try:
        last_cap = int(pathops.read_bytes("/proc/sys/kernel/cap_last_cap"))
    except OSError:
        last_cap = 40
    return HostFacts(
        rootfs_parent_mount=mount_point_of(rootfs, mounts),
        last_cap=last_cap,
        has_kcore=pathops.exists("/proc/kcore"),
        cgroup_mounts=cgroup_dirs or {},
        cgroup_v2_dir=cgroup_v2_dir,
    )


def container_home(rootfs: str, uid: int) -> str:
    """The home directory of uid in the container's /etc/passwd ("/" when unknown).

    The file is read only if it resolves inside the rootfs (a symlink out of it is ignored).
    """
    path = pathops.join(rootfs, "etc", "passwd")
    real = pathops.realpath(path)
    if not real.startswith(pathops.realpath(rootfs).rstrip("/") + "/"):
        return "/"
    try:
        with open(real, "rb") as f:
            data = f.read(1 << 20).decode(errors="replace")
    except OSError:
        return "/"
    for line in data.splitlines():
        fields = line.split(":")
        if len(fields) >= 6 and fields[2].strip() == str(uid):
            return fields[5] or "/"
    return "/"


def with_home(process: dict[str, object], rootfs: str) -> dict[str, object]:
    """process with HOME added to env when it has none (runc sets it from /etc/passwd)."""
    env = [str(e) for e in process.get("env") or []]  # type: ignore[attr-defined]
    if any(e.startswith("HOME=") for e in env):
        return process
    user = process.get("user") or {}
    uid = int(user.get("uid", 0)) if isinstance(user, dict) else 0
    return {**process, "env": env + [f"HOME={container_home(rootfs, uid)}"]}


def write_id_maps(pid: int, uid_maps: tuple[IdMapping, ...],
                  gid_maps: tuple[IdMapping, ...]) -> None:
    """Write /proc/PID/{gid,uid}_map (as root: no newuidmap needed).

    A rootless caller may map only its own ids, and only after denying setgroups(2).
    """
    if posix.geteuid() != 0 and gid_maps:
        fd = posix.open(f"/proc/{pid}/setgroups", posix.O_WRONLY | posix.O_CLOEXEC)
        try:
            posix.write(fd, b"deny")
        finally:
            posix.close(fd)
    for name, maps in (("gid_map", gid_maps), ("uid_map", uid_maps)):
        if not maps:
            continue
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        fd = posix.open(f"/proc/{pid}/{name}", posix.O_WRONLY | posix.O_CLOEXEC)
        try:
            posix.write(fd, text.encode())
        finally:
            posix.close(fd)
