"""Turn a validated config.json and the call's options into the child's launch plan.

Owns: every decision about what the container's init does between clone and execve: which
namespaces, the ordered filesystem operations, identity, capabilities, limits, the program.
Must not touch: the kernel. It reads nothing but its arguments (host facts are gathered by
`host.py` and passed in), so unit tests run it without root.
"""

from __future__ import annotations

import posix

from pyruntime import log, pathops
from pyruntime.errors import SpecError
from pyruntime.record import Record
from pyruntime.spec import constants as C

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_SET_BYTES = 128

# Sysctls that live in a namespace, and which one (runc's rules).
IPC_SYSCTLS = frozenset({
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
})
UTS_SYSCTLS = frozenset({"kernel.domainname", "kernel.hostname"})


class Flags:
    """Kernel flag values, read from the compiled shim on first use."""

    _lib: Any = None

    @classmethod
    def get(cls, expr: str) -> int:
        """Value of `MS_BIND|MS_REC`-style expressions of kernel constant names."""
        if cls._lib is None:
            from pyruntime._shim import lib

            cls._lib = lib
        value = 0
        for name in expr.split("|"):
            if name:
                value |= int(getattr(cls._lib, name))
        return value


class Op(Record):
    """One filesystem operation of the child; `label` names it in error messages.

    A plan makes dozens of these: the explicit constructor takes 0.6 µs where Record's
    generic one takes 6 (0.4 ms a create).
    """

    __slots__ = (
        "kind", "path", "source", "fstype", "data", "mflags", "attr_set", "attr_clr", "propagation",
        "mode", "dev", "uid", "gid", "optional", "label", "idmap"
    )

    def __init__(self, kind: str, path: str, source: str | None = None,
                 fstype: str | None = None, data: str | None = None, mflags: int = 0,
                 attr_set: int = 0, attr_clr: int = 0, propagation: int = 0, mode: int = 0,
                 dev: int = 0, uid: int = 0, gid: int = 0, optional: bool = False,
                 label: str = "", idmap: tuple[str, str] | None = None) -> None:
        self.kind = kind
        self.path = path
        self.source = source
        self.fstype = fstype
        self.data = data
        self.mflags = mflags
        self.attr_set = attr_set
        self.attr_clr = attr_clr
        self.propagation = propagation
        self.mode = mode
        self.dev = dev
        self.uid = uid
        self.gid = gid
        self.optional = optional
        self.label = label
        self.idmap = idmap

    kind: str
    path: str
    source: str | None
    fstype: str | None
    data: str | None
    mflags: int
    attr_set: int
    attr_clr: int
    propagation: int
    mode: int
    dev: int
    uid: int
    gid: int
    optional: bool
    label: str
    idmap: tuple[str, str] | None  # (uid_map, gid_map) text of an idmapped bind mount


class IdMapping(Record):
    """One line of uid_map/gid_map."""

    __slots__ = ("container_id", "host_id", "size")
    container_id: int
    host_id: int
    size: int


class Capabilities(Record):
    """The five capability sets as bit masks."""

    __slots__ = ("bounding", "effective", "permitted", "inheritable", "ambient")
    _defaults = {"bounding": 0, "effective": 0, "permitted": 0, "inheritable": 0, "ambient": 0}
    bounding: int
    effective: int
    permitted: int
    inheritable: int
    ambient: int


class HostFacts(Record):
    """What the planner needs to know about the host (gathered by host.py)."""

    __slots__ = ("rootfs_parent_mount", "last_cap", "has_kcore", "cgroup_mounts", "cgroup_v2_dir")
    _defaults = {
        "rootfs_parent_mount": None, "last_cap": 40, "has_kcore": True, "cgroup_mounts": {},
        "cgroup_v2_dir": None
    }
    rootfs_parent_mount: str | None
    last_cap: int
    has_kcore: bool
    cgroup_mounts: Mapping[str, str]  # v1 name -> host dir
    cgroup_v2_dir: str | None


class LaunchOptions(Record):
    """Per-call options from the CLI or the API."""

    __slots__ = ("fifo_path", "no_pivot", "preserve_fds", "console", "stdio", "lsm_attr")
    _defaults = {
        "fifo_path": None, "no_pivot": False, "preserve_fds": 0, "console": False,
        "stdio": (-1, -1, -1), "lsm_attr": None,
    }
    fifo_path: str | None
    no_pivot: bool
    preserve_fds: int
    console: bool  # a console socket is given: create a pty inside the container
    stdio: tuple[int, int, int]  # fds for the container's 0, 1, 2; -1 keeps ours (the API)
    lsm_attr: tuple[str, str] | None  # from lsm.exec_attr (host facts: which LSM is on)


class ChildPlan(Record):
    """Everything the container's init does, as plain data (see csrc/pyrt.h)."""

    __slots__ = (
        "clone_flags", "unshare_flags", "join_namespaces", "pidns_path", "timens_offsets",
        "uid_mappings", "gid_mappings", "rootfs", "rootfs_parent_mount", "root_propagation",
        "rootfs_propagation", "root_readonly", "no_pivot", "ops", "fifo_path", "hostname",
        "domainname", "oom_score_adj", "cpu_initial", "cpu_final", "rlimits", "personality",
        "sched_attr", "ioprio", "set_user", "uid", "gid", "groups", "set_groups", "umask", "caps",
        "last_cap", "no_new_privs", "cwd", "exec_candidates", "argv", "env", "keep_fds",
        "want_hooks", "console", "console_size", "stdio", "mount_console", "join_only",
        "become_root", "loopback_up", "lsm_attr",
    )
    _defaults = {"join_only": False, "become_root": False, "loopback_up": False,
                 "lsm_attr": None}
    clone_flags: int
    unshare_flags: int
    join_namespaces: tuple[tuple[str, str], ...]  # (type, path), in setns order
    pidns_path: str | None
    timens_offsets: str | None
    uid_mappings: tuple[IdMapping, ...]
    gid_mappings: tuple[IdMapping, ...]
    rootfs: str
    rootfs_parent_mount: str | None
    root_propagation: int
    rootfs_propagation: int
    root_readonly: bool
    no_pivot: bool
    ops: tuple[Op, ...]
    fifo_path: str | None
    hostname: str | None
    domainname: str | None
    oom_score_adj: int | None
    cpu_initial: bytes | None
    cpu_final: bytes | None
    rlimits: tuple[tuple[int, int, int], ...]
    personality: int | None
    sched_attr: bytes | None
    ioprio: int | None
    set_user: bool
    uid: int
    gid: int
    groups: tuple[int, ...]
    set_groups: bool
    umask: int
    caps: Capabilities | None
    last_cap: int
    no_new_privs: bool
    cwd: str
    exec_candidates: tuple[str, ...]
    argv: tuple[str, ...]
    env: tuple[str, ...]
    keep_fds: int
    want_hooks: bool
    console: bool
    console_size: tuple[int, int]
    stdio: tuple[int, int, int]
    mount_console: bool
    join_only: bool
    become_root: bool
    loopback_up: bool
    lsm_attr: tuple[str, str] | None  # (/proc/self/attr path, value) for the next execve


# ---------------------------------------------------------------------------- helpers


def _get(doc: Mapping[str, Any], key: str, default: Any = None) -> Any:
    value = doc.get(key, default)
    return default if value is None else value


def parse_cpu_list(text: str, where: str) -> bytes:
    """`0-3,7` -> a cpu_set_t bitmap.

    Raises:
        SpecError: malformed list or a CPU number past the bitmap.
    """
    mask = bytearray(CPU_SET_BYTES)
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo_s, _, hi_s = part.partition("-")
        try:
            lo = int(lo_s)
            hi = int(hi_s) if hi_s else lo
        except ValueError:
            raise SpecError(where, f"invalid CPU list {text!r}") from None
        if lo < 0 or hi < lo or hi >= CPU_SET_BYTES * 8:
            raise SpecError(where, f"invalid CPU list {text!r}")
        for cpu in range(lo, hi + 1):
            mask[cpu // 8] |= 1 << (cpu % 8)
    return bytes(mask)


def parse_mount_options(options: Sequence[str]) -> tuple[int, int, int, int, int, list[str]]:
    """Split OCI mount options into (flags, cleared, propagation, attr_set, attr_clr, data)."""
    flags = cleared = propagation = attr_set = attr_clr = 0
    data: list[str] = []
    for opt in options:
        if opt in C.MOUNT_FLAGS:
            clear, names = C.MOUNT_FLAGS[opt]
            value = Flags.get(names)
            if clear:
                flags &= ~value
                cleared |= value
            else:
                flags |= value
        elif opt in C.PROPAGATION_OPTIONS:
            propagation |= Flags.get(C.PROPAGATION_OPTIONS[opt])
        elif opt in C.ATIME_ATTRS:
            # one field: clear it all, then set the chosen mode (clearing = relatime)
            clear, name = C.RECURSIVE_ATTRS[opt]
            attr_clr |= Flags.get("MOUNT_ATTR__ATIME")
            attr_set &= ~Flags.get("MOUNT_ATTR__ATIME")
            if not clear:
                attr_set |= Flags.get(name)
        elif opt in C.RECURSIVE_ATTRS:
            clear, name = C.RECURSIVE_ATTRS[opt]
            if clear:
                attr_clr |= Flags.get(name)
            else:
                attr_set |= Flags.get(name)
        elif opt in C.EXTRA_MOUNT_OPTIONS:
            continue
        else:
            data.append(opt)
    return flags, cleared, propagation, attr_set, attr_clr, data


def _clean_dest(dest: str, where: str) -> str:
    if not dest.startswith("/"):
        # runc accepts relative destinations as relative to "/" (spec 1.0 allowed it)
        dest = "/" + dest
    norm = pathops.normpath(dest)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    if ".." in norm.split("/"):
        raise SpecError(where, f"mount destination {dest} escapes the root")
    return norm


# ---------------------------------------------------------------------------- namespaces


def plan_namespaces(
    linux: Mapping[str, Any],
) -> tuple[int, int, tuple[tuple[str, str], ...], str | None]:
    """Return (clone_flags, unshare_flags, joins, pidns_path) for linux.namespaces.

    Raises:
        SpecError: duplicate types, no mount namespace, or an impossible combination.
    """
    new: list[str] = []
    joins: dict[str, str] = {}
    for i, ns in enumerate(_get(linux, "namespaces", [])):
        kind = ns.get("type")
        if kind not in C.NAMESPACES:
            raise SpecError(f"linux.namespaces[{i}].type", f"unknown namespace type {kind!r}")
        if kind in new or kind in joins:
            raise SpecError(f"linux.namespaces[{i}].type", f"duplicate namespace {kind}")
        path = ns.get("path")
        if path:
            joins[kind] = path
        else:
            new.append(kind)
    if "mount" not in new and "mount" not in joins:
        # Mounting in the host's mount namespace would change the host: refuse.
        raise SpecError("linux.namespaces", "a mount namespace is required")
    late = {"cgroup", "time"}  # need the cgroup join / offsets first: unshare in the child
    if "user" in joins:
        late |= set(new)
        if "pid" in new:
            raise SpecError(
                "linux.namespaces",
                "a new pid namespace with a joined user namespace is not supported",
            )
    clone = 0
    unshare = 0
    for kind in new:
        flag = Flags.get(C.NAMESPACES[kind][0])
        if kind in late:
            unshare |= flag
        else:
            clone |= flag
    order = ["user", "ipc", "uts", "network", "cgroup", "time", "mount"]
    ordered = tuple((k, joins[k]) for k in order if k in joins)
    return clone, unshare, ordered, joins.get("pid")


def plan_time_offsets(linux: Mapping[str, Any]) -> str | None:
    """linux.timeOffsets -> the text written to /proc/self/timens_offsets."""
    offsets = _get(linux, "timeOffsets", {})
    if not offsets:
        return None
    lines = []
    for clock, value in offsets.items():
        if clock not in ("monotonic", "boottime"):
            raise SpecError(f"linux.timeOffsets.{clock}", "must be monotonic or boottime")
        lines.append(f"{clock} {int(_get(value, 'secs', 0))} {int(_get(value, 'nanosecs', 0))}")
    return "\n".join(lines) + "\n"


def plan_id_mappings(linux: Mapping[str, Any], key: str) -> tuple[IdMapping, ...]:
    """linux.uidMappings / gidMappings."""
    return tuple(
        IdMapping(int(m["containerID"]), int(m["hostID"]), int(m["size"]))
        for m in _get(linux, key, [])
    )


# ---------------------------------------------------------------------------- filesystem


def map_text(mappings: Any) -> str:
    """uid_map/gid_map file text for OCI mappings."""
    return "".join(f"{int(m['containerID'])} {int(m['hostID'])} {int(m['size'])}\n"
                   for m in mappings)


def plan_mount(index: int, mount: Mapping[str, Any], bundle: str, facts: HostFacts,
               linux: Mapping[str, Any] | None = None) -> list[Op]:
    """Ops for one entry of config `mounts`.

    Raises:
        SpecError: a bind source that does not exist, or an unusable destination.
    """
    where = f"mounts[{index}]"
    dest = _clean_dest(str(mount.get("destination", "")), f"{where}.destination")
    fstype = mount.get("type") or ""
    options = list(_get(mount, "options", []))
    source = mount.get("source") or ""
    flags, _cleared, propagation, attr_set, attr_clr, data = parse_mount_options(options)
    bind = Flags.get("MS_BIND")
    label = f"mount {source or fstype} to {dest}"
    ops: list[Op] = []

    if fstype == "cgroup":
        return plan_cgroup_mount(dest, flags, facts, label)

    if fstype == "bind" or flags & bind:
        if not source:
            raise SpecError(f"{where}.source", "bind mount needs a source")
        if not pathops.isabs(source):
            source = pathops.join(bundle, source)
        try:
            is_dir = pathops.isdir(source)
            posix.stat(source)
        except OSError as e:
            reason = posix.strerror(e.errno or 2).lower()
            raise SpecError(f"{where}.source", f"{source}: {reason}") from e
        ops.append(Op("MKDIR" if is_dir else "MKFILE", dest, mode=0o755 if is_dir else 0o644,
                      label=label))
        rec = flags & Flags.get("MS_REC")
        idmap = plan_idmap(mount, options, linux or {}, where)
        if idmap is not None:
            rec |= Flags.get("MS_REC") if "ridmap" in options else 0
            ops.append(Op("IDMAP_BIND", dest, source=source, mflags=bind | rec, idmap=idmap,
                          label=label))
        else:
            ops.append(Op("BIND", dest, source=source, mflags=bind | rec, label=label))
        extra = flags & ~(bind | rec)
        if extra:
            ops.append(Op("REMOUNT", dest, mflags=bind | extra, label=label))
    else:
        ops.append(Op("MKDIR", dest, mode=0o755, label=label))
        ops.append(Op("MOUNT", dest, source=source or fstype, fstype=fstype, mflags=flags,
                      data=",".join(data) or None, label=label))
    if propagation:
        ops.append(Op("PROPAGATE", dest, mflags=propagation, label=label))
    if attr_set or attr_clr:
        ops.append(Op("SETATTR", dest, attr_set=attr_set, attr_clr=attr_clr, label=label))
    return ops


def plan_idmap(mount: Mapping[str, Any], options: list[str], linux: Mapping[str, Any],
               where: str) -> tuple[str, str] | None:
    """(uid_map, gid_map) for an idmapped bind mount, or None.

    The mount's own mappings, else (for the idmap/ridmap options) the container's.

    Raises:
        SpecError: idmap asked for without any mappings to use.
    """
    uids, gids = mount.get("uidMappings"), mount.get("gidMappings")
    if not uids and "idmap" not in options and "ridmap" not in options:
        return None
    if not uids:
        uids, gids = linux.get("uidMappings"), linux.get("gidMappings")
    if not uids or not gids:
        raise SpecError(f"{where}.options", "idmap needs mappings or a user namespace")
    return map_text(uids), map_text(gids)


def plan_cgroup_mount(dest: str, flags: int, facts: HostFacts, label: str) -> list[Op]:
    """A `cgroup` mount: on v2 the cgroup2 fs; on v1 a tmpfs with one bind per hierarchy.

    The binds show the container's own cgroup directories (runc does the same without a
    cgroup namespace), read-only when the mount is.
    """
    ro = flags & Flags.get("MS_RDONLY")
    base = flags & ~Flags.get("MS_RDONLY")
    if facts.cgroup_v2_dir is not None and not facts.cgroup_mounts:
        return [Op("MKDIR", dest, mode=0o755, label=label),
                Op("MOUNT", dest, source="cgroup", fstype="cgroup2", mflags=flags, label=label)]
    ops = [Op("MKDIR", dest, mode=0o755, label=label),
           Op("MOUNT", dest, source="tmpfs", fstype="tmpfs", mflags=base, data="mode=755",
              label=label)]
    bind = Flags.get("MS_BIND")
    for name, host_dir in sorted(facts.cgroup_mounts.items()):
        sub = f"{dest}/{name}"
        ops.append(Op("MKDIR", sub, mode=0o755, label=label))
        ops.append(Op("BIND", sub, source=host_dir, mflags=bind, label=label))
        if ro:
            ops.append(Op("REMOUNT", sub, mflags=bind | flags, label=label))
    if ro:
        ops.append(Op("REMOUNT", dest, mflags=flags, label=label))
    return ops


def plan_devices(linux: Mapping[str, Any], userns: bool, facts: HostFacts) -> list[Op]:
    """/dev nodes (defaults + linux.devices) and the standard symlinks."""
    ops: list[Op] = []
    configured = list(_get(linux, "devices", []))
    paths = {d.get("path") for d in configured}
    for path, major, minor in C.DEFAULT_DEVICES:
        if path in paths:
            continue
        ops.extend(_device_ops(path, "c", major, minor, 0o666, 0, 0, userns))
    for i, dev in enumerate(configured):
        kind = dev.get("type")
        if kind not in ("c", "b", "u", "p"):
            raise SpecError(f"linux.devices[{i}].type", f"unknown device type {kind!r}")
        mode = dev.get("fileMode")
        ops.extend(_device_ops(
            _clean_dest(str(dev.get("path", "")), f"linux.devices[{i}].path"), kind,
            int(_get(dev, "major", 0)), int(_get(dev, "minor", 0)),
            0o666 if mode is None else int(mode), int(_get(dev, "uid", 0)),
            int(_get(dev, "gid", 0)), userns))
    links = list(C.DEFAULT_DEV_SYMLINKS)
    if facts.has_kcore:
        links.append(("/dev/core", "/proc/kcore"))
    for path, target in links:
        ops.append(Op("SYMLINK", path, source=target, label=f"symlink {path}"))
    return ops


def _device_ops(path: str, kind: str, major: int, minor: int, mode: int, uid: int, gid: int,
                userns: bool) -> list[Op]:
    label = f"create device {path}"
    if userns:
        # mknod is not allowed in a user namespace: bind the host's node instead (runc).
        return [Op("MKFILE", path, mode=0o644, label=label),
                Op("BIND", path, source=path, mflags=Flags.get("MS_BIND"), label=label)]
    type_bits = {"c": "S_IFCHR", "u": "S_IFCHR", "b": "S_IFBLK", "p": "S_IFIFO"}[kind]
    dev = posix.makedev(major, minor) if kind != "p" else 0
    return [Op("MKNOD", path, mode=Flags.get(type_bits) | (mode & 0o7777), dev=dev, uid=uid,
               gid=gid, label=label)]


def plan_sysctls(linux: Mapping[str, Any], namespaces: set[str]) -> list[Op]:
    """linux.sysctl: checked against the namespaces (runc's rules), written via host /proc.

    Raises:
        SpecError: a sysctl that would change the host.
    """
    ops = []
    for key, value in _get(linux, "sysctl", {}).items():
        if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
            needed = "ipc"
        elif key in UTS_SYSCTLS:
            needed = "uts"
        elif key.startswith("net."):
            needed = "network"
        else:
            raise SpecError(f"linux.sysctl.{key}", "sysctl is not in a separate kernel namespace")
        if needed not in namespaces:
            raise SpecError(f"linux.sysctl.{key}",
                            f"sysctl is not allowed without a {needed} namespace")
        if "/" in key or ".." in key.split("."):
            raise SpecError(f"linux.sysctl.{key}", "invalid sysctl name")
        path = "/proc/sys/" + key.replace(".", "/")
        ops.append(Op("SYSCTL", path, source=str(value), label=f"write sysctl {key}"))
    return ops


def plan_filesystem(config: Mapping[str, Any], bundle: str, facts: HostFacts,
                    userns: bool, namespaces: set[str], cwd: str) -> list[Op]:
    """Every filesystem op, in the order runc does them."""
    linux = _get(config, "linux", {})
    ops: list[Op] = []
    mounts = list(_get(config, "mounts", []))
    for i, mount in enumerate(mounts):
        ops.extend(plan_mount(i, mount, bundle, facts, linux))
    dev_bound = any(
        _clean_dest(str(m.get("destination", "")), "") == "/dev"
        and ("bind" in _get(m, "options", []) or "rbind" in _get(m, "options", [])
             or m.get("type") == "bind")
        for m in mounts)
    if not dev_bound:
        ops.extend(plan_devices(linux, userns, facts))
    for path in _get(linux, "maskedPaths", []):
        ops.append(Op("MASK", _clean_dest(path, "linux.maskedPaths"), optional=True,
                      label=f"mask {path}"))
    for path in _get(linux, "readonlyPaths", []):
        ops.append(Op("READONLY", _clean_dest(path, "linux.readonlyPaths"), optional=True,
                      label=f"make {path} read-only"))
    ops.extend(plan_sysctls(linux, namespaces))
    ops.append(Op("MKDIR", cwd, mode=0o755, label=f"create cwd {cwd}"))
    return ops


def plan_root_propagation(linux: Mapping[str, Any]) -> tuple[int, int]:
    """(flags for "/" before any mount, flags for the new root after pivot_root)."""
    slave = Flags.get("MS_SLAVE|MS_REC")
    name = linux.get("rootfsPropagation")
    if not name:
        return slave, 0
    if name not in C.PROPAGATION_OPTIONS:
        raise SpecError("linux.rootfsPropagation", f"unknown propagation {name!r}")
    value = Flags.get(C.PROPAGATION_OPTIONS[name])
    # Only an explicit shared propagation may reach the host; everything else starts slave.
    first = value | Flags.get("MS_REC") if name in ("shared", "rshared") else slave
    return first, value


# ---------------------------------------------------------------------------- process


def plan_capabilities(process: Mapping[str, Any], last_cap: int) -> Capabilities | None:
    """process.capabilities -> bit masks; unknown names are warned about and skipped (runc)."""
    caps = process.get("capabilities")
    if caps is None:
        return None
    masks: dict[str, int] = {}
    for key in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        mask = 0
        for name in _get(caps, key, []):
            num = C.CAP_NUMBERS.get(name)
            if num is None or num > last_cap:
                log.warning(f"capability {name} is not known to this kernel and was ignored")
                continue
            mask |= 1 << num
        masks[key] = mask
    return Capabilities(**masks)


def plan_rlimits(process: Mapping[str, Any]) -> tuple[tuple[int, int, int], ...]:
    """process.rlimits -> (resource, soft, hard).

    Raises:
        SpecError: unknown type, or soft above hard.
    """
    out = []
    for i, rl in enumerate(_get(process, "rlimits", [])):
        name = rl.get("type")
        if name not in C.RLIMITS:
            raise SpecError(f"process.rlimits[{i}].type", f"unknown rlimit {name!r}")
        soft, hard = int(rl.get("soft", 0)), int(rl.get("hard", 0))
        if soft > hard:
            raise SpecError(f"process.rlimits[{i}]", "soft limit is greater than hard limit")
        out.append((C.RLIMITS[name], soft, hard))
    return tuple(out)


def plan_scheduler(process: Mapping[str, Any]) -> bytes | None:
    """process.scheduler -> struct sched_attr (VER0, 48 bytes)."""
    sched = process.get("scheduler")
    if not sched:
        return None
    policy = sched.get("policy")
    if policy not in C.SCHED_POLICIES:
        raise SpecError("process.scheduler.policy", f"unknown policy {policy!r}")
    flags = 0
    for name in _get(sched, "flags", []):
        if name not in C.SCHED_FLAGS:
            raise SpecError("process.scheduler.flags", f"unknown flag {name!r}")
        flags |= C.SCHED_FLAGS[name]
    import struct  # rare: only containers with a scheduler policy

    return struct.pack(
        "=IIQiIQQQ", 48, C.SCHED_POLICIES[policy], flags, int(_get(sched, "nice", 0)),
        int(_get(sched, "priority", 0)), int(_get(sched, "runtime", 0)),
        int(_get(sched, "deadline", 0)), int(_get(sched, "period", 0)))


def plan_ioprio(process: Mapping[str, Any]) -> int | None:
    """process.ioPriority -> the ioprio_set value."""
    prio = process.get("ioPriority")
    if not prio:
        return None
    cls = prio.get("class")
    if cls not in C.IOPRIO_CLASSES:
        raise SpecError("process.ioPriority.class", f"unknown class {cls!r}")
    level = int(_get(prio, "priority", 0))
    if not 0 <= level <= 7:
        raise SpecError("process.ioPriority.priority", "must be between 0 and 7")
    return (C.IOPRIO_CLASSES[cls] << 13) | level


def plan_personality(linux: Mapping[str, Any]) -> int | None:
    """linux.personality -> personality(2) value."""
    pers = linux.get("personality")
    if not pers:
        return None
    domain = pers.get("domain")
    if domain not in C.PERSONALITY_DOMAINS:
        raise SpecError("linux.personality.domain", f"unknown domain {domain!r}")
    if pers.get("flags"):
        raise SpecError("linux.personality.flags", "personality flags are not supported")
    return C.PERSONALITY_DOMAINS[domain]


def env_value(env: Sequence[str], name: str) -> str | None:
    """The value of NAME in a KEY=VALUE list (last one wins, as execve's users see it)."""
    prefix = name + "="
    value = None
    for item in env:
        if item.startswith(prefix):
            value = item[len(prefix):]
    return value


def exec_candidates(arg0: str, env: Sequence[str], cwd: str) -> tuple[str, ...]:
    """Paths inside the container to try for args[0] (exec.LookPath over the container's PATH)."""
    if "/" in arg0:
        return (arg0 if arg0.startswith("/") else pathops.normpath(pathops.join(cwd, arg0)),)
    path = env_value(env, "PATH")
    if path is None:
        path = DEFAULT_PATH
    out = []
    for d in path.split(":"):
        d = d or "."
        full = pathops.normpath(pathops.join(cwd, d, arg0))
        if full not in out:
            out.append(full)
    return tuple(out)


# ---------------------------------------------------------------------------- the plan


def process_fields(process: Mapping[str, Any], facts: HostFacts,
                   opts: LaunchOptions) -> dict[str, Any]:
    """The ChildPlan fields that come from a process object (config's, or exec's).

    Raises:
        SpecError: bad args, cwd, rlimits, scheduler, capabilities...
    """
    args = list(_get(process, "args", []))
    if not args:
        raise SpecError("process.args", "must not be empty")
    cwd = str(_get(process, "cwd", "/"))
    if not cwd.startswith("/"):
        raise SpecError("process.cwd", "must be an absolute path")
    env = [str(e) for e in _get(process, "env", [])]
    user = _get(process, "user", {})
    exec_cpus = process.get("execCPUAffinity") or {}
    oom = process.get("oomScoreAdj")
    return dict(
        oom_score_adj=None if oom is None else int(oom),
        cpu_initial=parse_cpu_list(exec_cpus["initial"], "process.execCPUAffinity.initial")
        if exec_cpus.get("initial") else None,
        cpu_final=parse_cpu_list(exec_cpus["final"], "process.execCPUAffinity.final")
        if exec_cpus.get("final") else None,
        rlimits=plan_rlimits(process),
        sched_attr=plan_scheduler(process),
        ioprio=plan_ioprio(process),
        set_user=True,
        uid=int(_get(user, "uid", 0)),
        gid=int(_get(user, "gid", 0)),
        groups=tuple(int(g) for g in _get(user, "additionalGids", [])),
        set_groups=posix.geteuid() == 0,  # rootless: setgroups is denied in our user namespace
        umask=int(_get(user, "umask", 0o022)),
        caps=plan_capabilities(process, facts.last_cap),
        last_cap=facts.last_cap,
        no_new_privs=bool(process.get("noNewPrivileges", False)),
        cwd=cwd,
        exec_candidates=exec_candidates(args[0], env, cwd),
        argv=tuple(str(a) for a in args),
        env=tuple(env),
        keep_fds=3 + opts.preserve_fds,
        console=opts.console,
        console_size=console_size(process),
        stdio=opts.stdio,
    )


def build_plan(config: Mapping[str, Any], bundle: str, rootfs: str, opts: LaunchOptions,
               facts: HostFacts, process: Mapping[str, Any] | None = None) -> ChildPlan:
    """Build the ChildPlan for `create`/`run`.

    Raises:
        SpecError: the config asks for something impossible or unsafe.
    """
    linux = _get(config, "linux", {})
    process = process if process is not None else _get(config, "process", {})
    fields = process_fields(process, facts, opts)
    clone, unshare, joins, pidns = plan_namespaces(linux)
    all_ns = {k for k, _ in joins} | {
        t for t, (flag, _) in C.NAMESPACES.items() if (clone | unshare) & Flags.get(flag)}
    if pidns:
        all_ns.add("pid")
    userns = "user" in all_ns
    root_first, root_after = plan_root_propagation(linux)
    uid_maps = plan_id_mappings(linux, "uidMappings")
    gid_maps = plan_id_mappings(linux, "gidMappings")
    if "user" in {t for t, (f, _) in C.NAMESPACES.items() if clone & Flags.get(f)}:
        if not uid_maps or not gid_maps:
            raise SpecError("linux.uidMappings", "a new user namespace needs uid and gid mappings")
    for key in ("hostname", "domainname"):
        if config.get(key) and "uts" not in all_ns:
            raise SpecError(key, f"unable to set {key} without a private UTS namespace")
    hooks = _get(config, "hooks", {})
    return ChildPlan(
        clone_flags=clone,
        unshare_flags=unshare,
        join_namespaces=joins,
        pidns_path=pidns,
        timens_offsets=plan_time_offsets(linux),
        uid_mappings=uid_maps,
        gid_mappings=gid_maps,
        rootfs=rootfs,
        rootfs_parent_mount=facts.rootfs_parent_mount,
        root_propagation=root_first,
        rootfs_propagation=root_after,
        root_readonly=bool(_get(_get(config, "root", {}), "readonly", False)),
        no_pivot=opts.no_pivot,
        ops=tuple(plan_filesystem(config, bundle, facts, userns, all_ns, fields["cwd"])),
        fifo_path=opts.fifo_path,
        hostname=config.get("hostname") if "uts" in all_ns else None,
        domainname=config.get("domainname") if "uts" in all_ns else None,
        personality=plan_personality(linux),
        want_hooks=any(hooks.get(k) for k in ("prestart", "createRuntime", "createContainer")),
        mount_console=opts.console,
        become_root=userns,
        loopback_up=bool((clone | unshare) & Flags.get("CLONE_NEWNET")),
        lsm_attr=opts.lsm_attr,
        **fields,
    )


def build_exec_plan(init_pid: int, namespaces: Sequence[Mapping[str, Any]],
                    process: Mapping[str, Any], opts: LaunchOptions,
                    facts: HostFacts) -> ChildPlan:
    """The plan of `exec`: join every namespace of the running init, then the process setup.

    Raises:
        SpecError: a bad process object.
    """
    fields = process_fields(process, facts, opts)
    kinds = {str(ns.get("type")) for ns in namespaces if ns.get("type") in C.NAMESPACES}
    order = ["user", "ipc", "uts", "network", "cgroup", "time", "mount"]
    joins = tuple((k, f"/proc/{init_pid}/ns/{C.NAMESPACES[k][1]}") for k in order if k in kinds)
    return ChildPlan(
        clone_flags=0, unshare_flags=0, join_namespaces=joins,
        pidns_path=f"/proc/{init_pid}/ns/pid" if "pid" in kinds else None,
        timens_offsets=None, uid_mappings=(), gid_mappings=(), rootfs="",
        rootfs_parent_mount=None, root_propagation=0, rootfs_propagation=0,
        root_readonly=False, no_pivot=False, ops=(), fifo_path=None, hostname=None,
        domainname=None, personality=None, want_hooks=False, mount_console=False,
        join_only=True, become_root="user" in kinds, lsm_attr=opts.lsm_attr, **fields)


def console_size(process: Mapping[str, Any]) -> tuple[int, int]:
    """(rows, cols) from process.consoleSize, (0, 0) when unset."""
    size = process.get("consoleSize") or {}
    return int(_get(size, "height", 0)), int(_get(size, "width", 0))
