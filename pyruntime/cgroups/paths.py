"""Where a container's cgroup lives: cgroupsPath parsing, systemd names, mount discovery.

Owns: turning ``linux.cgroupsPath`` (plus the container id and the --systemd-cgroup
flag) into a path inside the cgroup hierarchies, finding the v1 hierarchies or the v2
mount under a cgroup root, and reading a process's own cgroups.
Must not touch: cgroup files (no writes), the state directory.
"""

from __future__ import annotations

import posix

from pyruntime import pathops
from pyruntime.errors import CgroupError, SpecError

# runc's v1 subsystem order: Set() walks them in this order (cpuset before a task
# joins, devices early, freezer last). "name=systemd" and "misc" are only joined.
V1_SUBSYSTEMS: tuple[str, ...] = (
    "cpuset",
    "devices",
    "memory",
    "cpu",
    "cpuacct",
    "pids",
    "blkio",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "freezer",
    "rdma",
    "name=systemd",
    "misc",
)

# Key of the cgroup2 directory in hybrid mode (runc uses "" too).
UNIFIED = ""

SYSTEMD_RUNNING_DIR = "/run/systemd/system"


class Target:
    """A parsed cgroupsPath: ``inner`` is absolute ("/a/b") or relative ("a/b")."""

    __slots__ = ("inner",)

    def __init__(self, inner: str) -> None:
        self.inner = inner

    @property
    def relative(self) -> bool:
        return not self.inner.startswith("/")


def clean_path(path: str) -> str:
    """Lexically clean ``path`` the way runc does, never escaping the root.

    Absolute paths stay absolute; relative ones stay relative ("../x" -> "x").
    """
    if not path:
        return ""
    if path.startswith("/"):
        return pathops.normpath(path).replace("//", "/")
    cleaned = pathops.normpath("/" + path).lstrip("/")
    return cleaned


def expand_slice(slice_name: str) -> str:
    """systemd's path for a slice: "a-b.slice" -> "/a.slice/a-b.slice"; "-.slice" -> "/".

    Raises:
        SpecError: not a valid slice name.
    """
    suffix = ".slice"
    bad = SpecError("linux.cgroupsPath", f"invalid slice name: {slice_name}")
    if len(slice_name) < len(suffix) or not slice_name.endswith(suffix) or "/" in slice_name:
        raise bad
    stem = slice_name[: -len(suffix)]
    if stem == "-":
        return "/"
    out = ""
    prefix = ""
    for part in stem.split("-"):
        if not part:
            raise bad
        out += "/" + prefix + part + suffix
        prefix += part + "-"
    return out


def systemd_unit_name(prefix: str, name: str) -> str:
    """The unit runc's systemd driver creates: a scope unless ``name`` is a slice."""
    if name.endswith(".slice"):
        return name
    return f"{prefix}-{name}.scope"


def systemd_running() -> bool:
    """True when systemd is PID 1 (sd_booted: /run/systemd/system is a directory)."""
    return pathops.isdir(SYSTEMD_RUNNING_DIR)


def parse_target(cgroups_path: str | None, container_id: str, systemd: bool) -> Target:
    """Resolve cgroupsPath to a Target the way runc's cgroupfs/systemd drivers name it.

    Raises:
        SpecError: the systemd form is not "slice:prefix:name" or the slice is invalid.
    """
    if systemd:
        if not cgroups_path:
            slice_path, unit = "/system.slice", systemd_unit_name("runc", container_id)
        else:
            parts = cgroups_path.split(":")
            if len(parts) != 3:
                raise SpecError(
                    "linux.cgroupsPath",
                    'expected cgroupsPath to be of format "slice:prefix:name" for systemd '
                    f"cgroups, got {cgroups_path!r} instead",
                )
            parent, prefix, name = parts
            if not name or "/" in name or "/" in prefix:
                raise SpecError(
                    "linux.cgroupsPath", f"invalid systemd unit name in {cgroups_path!r}"
                )
            slice_path = expand_slice(parent) if parent else "/system.slice"
            unit = systemd_unit_name(prefix, name)
        inner = pathops.join(slice_path, unit)
        if not systemd_running():
            import logging  # only on this rare path; keeps `state`/`kill` imports light

            logging.getLogger(__name__).warning(
                "systemd is not running: creating cgroup %s through cgroupfs instead of a "
                "systemd unit",
                inner,
            )
        return Target(inner)
    if not cgroups_path:
        # runc's default: the id as a relative path, i.e. a cgroup of its own under the
        # caller's cgroup (per v1 hierarchy), so a container stays within the caller's limits
        return Target(container_id)
    inner = clean_path(cgroups_path)
    if inner in ("", "."):
        raise SpecError("linux.cgroupsPath", f"invalid cgroups path {cgroups_path!r}")
    return Target(inner)


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """Parse /proc/PID/cgroup into {subsystem: path}; the v2 entry has key ""."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            out[UNIFIED] = path
            continue
        for c in controllers.split(","):
            out[c] = path
    return out


def own_cgroups(proc_file: str = "/proc/self/cgroup") -> dict[str, str]:
    """The calling process's cgroups, {subsystem: path}.

    Raises:
        CgroupError: the file cannot be read.
    """
    try:
        with open(proc_file, encoding="utf-8") as f:
            return parse_proc_cgroup(f.read())
    except OSError as e:
        raise CgroupError(f"unable to read {proc_file}: {e.strerror}") from e


def is_cgroup2_root(root: str) -> bool:
    """True when ``root`` is a cgroup2 mount (it has cgroup.controllers)."""
    return pathops.isfile(pathops.join(root, "cgroup.controllers"))


def discover_v1(root: str) -> dict[str, str]:
    """Map each mounted v1 subsystem (and "" for a hybrid cgroup2) to its mount dir.

    Works on the usual layout (one directory per hierarchy under ``root``, named after
    its controllers, co-mounts like "cpu,cpuacct" with symlinks) and on a test tree.
    """
    mounts: dict[str, str] = {}
    try:
        entries = sorted(posix.scandir(root), key=lambda e: e.name)
    except OSError as e:
        raise CgroupError(f"unable to list cgroup root {root}: {e.strerror}") from e
    for entry in entries:
        if entry.is_symlink() or not entry.is_dir():
            continue
        if not pathops.exists(pathops.join(entry.path, "cgroup.procs")):
            continue
        if entry.name == "unified" or is_cgroup2_root(entry.path):
            mounts[UNIFIED] = entry.path
            continue
        if entry.name == "systemd":
            mounts["name=systemd"] = entry.path
            continue
        for subsystem in entry.name.split(","):
            mounts.setdefault(subsystem, entry.path)
    return mounts


def host_dir(mount: str, inner: str) -> str:
    """Join a hierarchy mount and an absolute inner path ("/" stays the mount)."""
    rel = inner.lstrip("/")
    return pathops.join(mount, rel) if rel else mount
