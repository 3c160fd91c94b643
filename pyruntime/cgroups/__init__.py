"""cgroups v1 and v2 behind one interface: ``open_manager`` returns a CgroupManager.

Owns: choosing v1 or v2 from what is mounted at the cgroup root and resolving the
container's cgroup directories. The managers (v1.py, v2.py) do the work; all file
I/O goes through fsio.py.
Must not touch: state, the CLI, container lifecycle.

Cheap to import and to call on hot paths (``state``, ``kill``): no ctypes, no
statistics code until they are needed.

Example::

    mgr = open_manager(spec_cgroups_path, cid, systemd=opts.systemd_cgroup)
    mgr.create(); mgr.set(resources, linux_devices); mgr.apply(child_pid)
    state["cgroup_paths"] = mgr.joinable_paths()      # exact reopen later
    open_manager(mgr.path, cid, paths=state["cgroup_paths"]).destroy()
"""

from __future__ import annotations

from pyruntime import pathops
from pyruntime.cgroups import paths as _paths
from pyruntime.cgroups.manager import CgroupManager
from pyruntime.errors import CgroupError

__all__ = ["CgroupError", "CgroupManager", "detect_version", "open_manager"]

DEFAULT_ROOT = "/sys/fs/cgroup"


def detect_version(root: str = DEFAULT_ROOT) -> int:
    """2 when ``root`` is a cgroup2 mount, else 1 (a tmpfs of v1 hierarchies)."""
    return 2 if _paths.is_cgroup2_root(root) else 1


def open_manager(
    cgroups_path: str | None,
    container_id: str,
    *,
    systemd: bool = False,
    root: str = DEFAULT_ROOT,
    paths: dict[str, str] | None = None,
    mounts: dict[str, str] | None = None,
    proc_cgroup: str = "/proc/self/cgroup",
) -> CgroupManager:
    """Return the manager of a container's cgroup (nothing is created yet).

    ``cgroups_path`` is ``linux.cgroupsPath``: None means "/<container_id>"; an
    absolute path is used as is (so ``open_manager(mgr.path, id)`` reopens the same
    cgroup); a relative one is resolved under the caller's own cgroup as runc does
    (v1: per hierarchy; v2: next to the caller's cgroup). With ``systemd=True`` the
    "slice:prefix:name" form becomes runc's unit path (system.slice/prefix-name.scope),
    created through cgroupfs (a warning says so when systemd is not running).
    ``paths`` (a previous ``joinable_paths()``) pins every directory exactly, and with
    ``mounts`` (that manager's ``mounts``) the v1 hierarchies are not looked for again.

    Raises:
        SpecError: cgroupsPath is malformed.
        CgroupError: no cgroup hierarchy is mounted at ``root``.
    """
    if _paths.is_cgroup2_root(root):
        from pyruntime.cgroups.v2 import V2Manager

        if paths and "" in paths:
            directory = paths[""]
            inner = pathops.normpath("/" + pathops.relpath(directory, root))
            return V2Manager(inner, directory, root)
        target = _paths.parse_target(cgroups_path, container_id, systemd)
        inner = target.inner
        if target.relative:
            own_v2 = _paths.own_cgroups(proc_cgroup).get(_paths.UNIFIED, "/")
            inner = pathops.join(pathops.dirname(own_v2) or "/", inner)
        return V2Manager(inner, _paths.host_dir(root, inner), root)

    from pyruntime.cgroups.v1 import V1Manager

    if paths and mounts:
        mounts = dict(mounts)
    else:
        mounts = _paths.discover_v1(root)
    if not mounts:
        raise CgroupError(f"no cgroup hierarchies are mounted under {root}")
    dirs: dict[str, str]
    if paths:
        dirs = {k: v for k, v in paths.items() if k in mounts}
        inners = {
            pathops.normpath("/" + pathops.relpath(v, mounts[k])) for k, v in dirs.items()
        }
        path = next(iter(inners)) if len(inners) == 1 else _primary(dirs, mounts)
        return V1Manager(path, dirs, mounts)
    target = _paths.parse_target(cgroups_path, container_id, systemd)
    own = _paths.own_cgroups(proc_cgroup) if target.relative else {}
    dirs = {}
    inner_of: dict[str, str] = {}
    for name, mount in mounts.items():
        inner = target.inner
        if target.relative:
            inner = pathops.join(own.get(name, "/"), inner)
        inner_of[name] = inner
        dirs[name] = _paths.host_dir(mount, inner)
    values = set(inner_of.values())
    path = next(iter(values)) if len(values) == 1 else _primary_inner(inner_of)
    return V1Manager(path, dirs, mounts)


def _primary_inner(inner_of: dict[str, str]) -> str:
    """The path reported for a v1 container whose hierarchies disagree (relative path)."""
    for name in ("devices", "freezer", "pids", "cpu", "memory"):
        if name in inner_of:
            return inner_of[name]
    return next(iter(inner_of.values()))


def _primary(dirs: dict[str, str], mounts: dict[str, str]) -> str:
    inner_of = {
        k: pathops.normpath("/" + pathops.relpath(v, mounts[k])) for k, v in dirs.items()
    }
    return _primary_inner(inner_of)
