"""The only importer of the compiled C shim: packs a ChildPlan and decodes child records.

Owns: the translation between Python data and the C structs of csrc/pyrt.h, the spawn call,
and turning a child's (step, errno, index) record into a ChildSetupError with a clear text.
Must not touch: policy (the plan decides), state or cgroups.
"""

from __future__ import annotations

import posix

from pyruntime import pathops
from pyruntime._shim import ffi, lib
from pyruntime.errors import ChildSetupError
from pyruntime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyruntime.plan import ChildPlan

OP_KINDS = {
    "MKDIR": lib.PYRT_OP_MKDIR, "MKFILE": lib.PYRT_OP_MKFILE, "MOUNT": lib.PYRT_OP_MOUNT,
    "BIND": lib.PYRT_OP_BIND, "REMOUNT": lib.PYRT_OP_REMOUNT,
    "PROPAGATE": lib.PYRT_OP_PROPAGATE, "SETATTR": lib.PYRT_OP_SETATTR,
    "MKNOD": lib.PYRT_OP_MKNOD, "SYMLINK": lib.PYRT_OP_SYMLINK, "MASK": lib.PYRT_OP_MASK,
    "READONLY": lib.PYRT_OP_READONLY, "SYSCTL": lib.PYRT_OP_SYSCTL, "CHMOD": lib.PYRT_OP_CHMOD,
    "IDMAP_BIND": lib.PYRT_OP_IDMAP_BIND,
}


class Step:
    """Mirror of enum pyrt_step (checked against the compiled values in tests)."""

    READY = 0
    HOOKS = 1
    SYNC = 2
    SETNS = 3
    UNSHARE = 4
    TIMENS = 5
    AFFINITY = 6
    OOM_SCORE = 7
    ROOT_PROPAGATION = 8
    ROOTFS = 9
    OP = 10
    FIFO = 11
    HOSTNAME = 12
    DOMAINNAME = 13
    PIVOT = 14
    ROOT_READONLY = 15
    CONSOLE = 16
    RLIMIT = 17
    PERSONALITY = 18
    SCHEDULER = 19
    IOPRIO = 20
    CAPBSET = 21
    SETGROUPS = 22
    SETGID = 23
    SETUID = 24
    CAPSET = 25
    AMBIENT = 26
    NO_NEW_PRIVS = 27
    CWD = 28
    EXEC_LOOKUP = 29
    SECCOMP = 30
    WAIT_START = 31
    FDS = 32
    EXEC = 33
    CLONE = 34
    CGROUP = 35
    LOOPBACK = 36
    LSM = 37


STEP_NAMES = {v: k for k, v in vars(Step).items() if k.isupper()}


def step_name(step: int) -> str:
    """The lower-case name of a step number ("op", "exec_lookup")."""
    return STEP_NAMES.get(step, "sync").lower()


class ChildRecord(Record):
    """One message from the child."""

    __slots__ = ("errno", "step", "index", "fd")
    _defaults = {"fd": -1}
    errno: int
    step: int
    index: int
    fd: int


class _Packer:
    """Holds every cffi allocation alive for as long as the plan struct is in use."""

    def __init__(self) -> None:
        self.keep: list[Any] = []

    def cstr(self, value: str | None) -> Any:
        if value is None:
            return ffi.NULL
        buf = ffi.new("char[]", pathops.fsencode(value))
        self.keep.append(buf)
        return buf

    def cbytes(self, value: bytes | None) -> Any:
        if value is None:
            return ffi.NULL
        buf = ffi.new("unsigned char[]", value)
        self.keep.append(buf)
        return buf

    def cstrv(self, values: tuple[str, ...]) -> Any:
        arr = ffi.new("char *[]", len(values) + 1)
        for i, v in enumerate(values):
            arr[i] = self.cstr(v)
        arr[len(values)] = ffi.NULL
        self.keep.append(arr)
        return arr


def pack_plan(plan: ChildPlan, sync_fd: int, join_fds: list[int], pidns_fd: int,
              seccomp: Any = None, console_socket: int = -1, cgroup_fd: int = -1,
              tasks_fds: list[int] | None = None,
              userns_fds: dict[int, int] | None = None) -> tuple[Any, _Packer]:
    """Build a `struct pyrt_plan`; userns_fds maps op index -> user namespace fd."""
    pk = _Packer()
    p = ffi.new("struct pyrt_plan *")
    p.clone_flags = plan.clone_flags
    p.unshare_flags = plan.unshare_flags
    for i, (fd, (kind, _path)) in enumerate(zip(join_fds, plan.join_namespaces, strict=False)):
        from pyruntime.plan import Flags
        from pyruntime.spec.constants import NAMESPACES

        p.join_fds[i] = fd
        p.join_types[i] = Flags.get(NAMESPACES[kind][0])
    p.n_join = len(join_fds)
    p.pidns_fd = pidns_fd
    p.timens_offsets = pk.cstr(plan.timens_offsets)
    p.sync_fd = sync_fd
    p.want_hooks = int(plan.want_hooks)
    p.rootfs = pk.cstr(plan.rootfs)
    p.rootfs_parent_mount = pk.cstr(plan.rootfs_parent_mount)
    p.root_propagation = plan.root_propagation
    p.rootfs_propagation = plan.rootfs_propagation
    p.root_readonly = int(plan.root_readonly)
    p.no_pivot = int(plan.no_pivot)
    ops = ffi.new("struct pyrt_op[]", max(len(plan.ops), 1))
    pk.keep.append(ops)
    for i, op in enumerate(plan.ops):
        o = ops[i]
        o.kind = OP_KINDS[op.kind]
        o.options = lib.PYRT_OPT_OPTIONAL if op.optional else 0
        o.path = pk.cstr(op.path)
        o.source = pk.cstr(op.source)
        o.fstype = pk.cstr(op.fstype)
        o.data = pk.cstr(op.data)
        o.mflags = op.mflags
        o.attr_set = op.attr_set
        o.attr_clr = op.attr_clr
        o.propagation = op.propagation
        o.mode = op.mode
        o.dev = op.dev
        o.uid = op.uid
        o.gid = op.gid
        o.userns_fd = (userns_fds or {}).get(i, -1)
    p.ops = ops
    p.n_ops = len(plan.ops)
    p.fifo_path = pk.cstr(plan.fifo_path)
    p.hostname = pk.cstr(plan.hostname)
    p.domainname = pk.cstr(plan.domainname)
    p.oom_score_adj = pk.cstr(None if plan.oom_score_adj is None else str(plan.oom_score_adj))
    p.cpu_initial = pk.cbytes(plan.cpu_initial)
    p.cpu_final = pk.cbytes(plan.cpu_final)
    p.cpu_set_size = len(plan.cpu_initial or plan.cpu_final or b"")
    rl = ffi.new("struct pyrt_rlimit[]", max(len(plan.rlimits), 1))
    pk.keep.append(rl)
    for i, (res, soft, hard) in enumerate(plan.rlimits):
        rl[i].resource = res
        rl[i].soft = soft
        rl[i].hard = hard
    p.rlimits = rl
    p.n_rlimits = len(plan.rlimits)
    p.personality = -1 if plan.personality is None else plan.personality
    p.sched_attr = pk.cbytes(plan.sched_attr)
    p.sched_attr_size = len(plan.sched_attr or b"")
    p.ioprio = -1 if plan.ioprio is None else plan.ioprio
    p.set_user = int(plan.set_user)
    p.uid = plan.uid
    p.gid = plan.gid
    groups = ffi.new("unsigned int[]", list(plan.groups) or [0])
    pk.keep.append(groups)
    p.groups = groups
    p.n_groups = len(plan.groups)
    p.set_groups = int(plan.set_groups)
    p.umask = plan.umask
    if plan.caps is not None:
        p.set_caps = 1
        p.cap_bounding = plan.caps.bounding
        p.cap_effective = plan.caps.effective
        p.cap_permitted = plan.caps.permitted
        p.cap_inheritable = plan.caps.inheritable
        p.cap_ambient = plan.caps.ambient
    p.last_cap = plan.last_cap
    p.no_new_privs = int(plan.no_new_privs)
    if seccomp is not None:
        p.seccomp_bpf = pk.cbytes(seccomp.bpf)
        p.seccomp_len = seccomp.length
        p.seccomp_flags = seccomp.flags
        p.seccomp_early = int(seccomp.before_privilege_drop)
    p.cwd = pk.cstr(plan.cwd)
    cands = ffi.new("const char *[]", len(plan.exec_candidates))
    for i, c in enumerate(plan.exec_candidates):
        cands[i] = pk.cstr(c)
    pk.keep.append(cands)
    p.exec_candidates = cands
    p.n_candidates = len(plan.exec_candidates)
    p.argv = pk.cstrv(plan.argv)
    p.envp = pk.cstrv(plan.env)
    p.keep_fds = plan.keep_fds
    p.console_socket = console_socket
    p.console_rows, p.console_cols = plan.console_size
    p.mount_console = int(plan.mount_console)
    p.join_only = int(plan.join_only)
    p.stdio = list(plan.stdio)
    p.become_root = int(plan.become_root)
    p.await_go = int(awaits_go(plan))
    p.cgroup_fd = cgroup_fd
    p.loopback_up = int(plan.loopback_up)
    p.nondumpable = int(posix.geteuid() == 0)
    attr = plan.lsm_attr
    p.lsm_attr_path = pk.cstr(attr[0] if attr else None)
    p.lsm_attr_value = pk.cstr(attr[1] if attr else None)
    tasks = ffi.new("int[]", list(tasks_fds or []) or [0])
    pk.keep.append(tasks)
    p.tasks_fds = tasks
    p.n_tasks_fds = len(tasks_fds or [])
    return p, pk


def spawn(packed: Any) -> tuple[int, int]:
    """Clone the container's init from a packed plan; returns (pid, pidfd).

    Raises:
        ChildSetupError: clone3 failed.
    """
    pidfd = ffi.new("int *", -1)
    pid = lib.pyrt_spawn(packed, pidfd)
    if pid < 0:
        raise ChildSetupError("clone", -pid, "", f"clone: {posix.strerror(-pid).lower()}")
    posix.set_inheritable(pidfd[0], False)
    return pid, pidfd[0]


def spawn_in_namespaces(pid: int, nstypes: int, path: str, argv: list[str], env: list[str],
                        stdin: int, stdout: int, stderr: int) -> tuple[int, int]:
    """Run a program in namespaces of `pid` (non-dumpable while it joins); returns (pid, pidfd).

    Raises:
        OSError: the clone or pidfd_open failed.
    """
    pk = _Packer()
    pidfd = ffi.new("int *", -1)
    child = lib.pyrt_spawn_in_ns(pid, nstypes, pk.cstr(path), pk.cstrv(tuple(argv)),
                                 pk.cstrv(tuple(env)), stdin, stdout, stderr, pidfd)
    if child < 0:
        raise OSError(-child, posix.strerror(-child))
    return child, pidfd[0]


def read_record(sock: int) -> ChildRecord | None:
    """Next record from the child, or None at EOF (the child exec'd or died).

    A record may carry an fd (READY with a seccomp listener): it is in `.fd`, else -1.
    """
    rec = ffi.new("struct pyrt_record *")
    fd = ffi.new("int *", -1)
    rc = lib.pyrt_recv_record(sock, rec, fd)
    if rc == 0:
        return None
    if rc < 0:
        raise ChildSetupError("sync", -rc, "", "sync: bad record from the container's init")
    abi, err, step, index = rec.abi, rec.err, rec.step, rec.index
    if abi != lib.PYRT_ABI:
        raise ChildSetupError("sync", 71, "", f"sync: child ABI {abi} != {lib.PYRT_ABI}")
    return ChildRecord(err, step if step in STEP_NAMES else Step.SYNC, index, fd[0])


def make_userns(uid_map: str, gid_map: str) -> int:
    """An fd of a new user namespace with these mappings (for idmapped mounts).

    Raises:
        OSError: the namespace could not be made or mapped.
    """
    rc = lib.pyrt_make_userns(uid_map.encode(), gid_map.encode())
    if rc < 0:
        raise OSError(-rc, f"user namespace for an idmapped mount: {posix.strerror(-rc)}")
    return int(rc)


def exchange(a: str, b: str) -> None:
    """Swap the files at paths a and b atomically (renameat2 RENAME_EXCHANGE).

    Raises:
        OSError: one of them is missing (ENOENT), or the filesystem cannot (EINVAL).
    """
    rc = lib.pyrt_rename_exchange(pathops.fsencode(a), pathops.fsencode(b))
    if rc < 0:
        raise OSError(-rc, posix.strerror(-rc), a)


def socketpair() -> tuple[int, int]:
    """(parent end, child end) of a close-on-exec SOCK_SEQPACKET pair.

    Raises:
        OSError: socketpair(2) failed.
    """
    fds = ffi.new("int[2]")
    rc = lib.pyrt_socketpair(fds)
    if rc < 0:
        raise OSError(-rc, posix.strerror(-rc))
    return fds[0], fds[1]


def awaits_go(plan: ChildPlan) -> bool:
    """Does the child wait for a GO after clone? Only while the parent writes its id maps:
    otherwise it sets up at once, in parallel with the parent (0.5-0.8 ms a create)."""
    return bool(plan.uid_mappings or plan.gid_mappings)


def send_go(sock: int) -> None:
    """Let the child go on to its next stage."""
    posix.write(sock, b"G")


def set_dumpable(on: bool) -> None:
    """prctl(PR_SET_DUMPABLE) for the calling process."""
    rc = lib.pyrt_set_dumpable(1 if on else 0)
    if rc < 0:
        raise OSError(-rc, posix.strerror(-rc))


BPF_STAGES = {1: "load", 2: "query", 3: "attach", 4: "detach old"}


def set_device_program(cgroup_dir: str, code: bytes) -> None:
    """Make the eBPF program `code` the only device filter of a cgroup v2 directory.

    The new program is attached before the old ones are detached: never a window without a
    filter.

    Raises:
        CgroupError: the directory cannot be opened, or the kernel refused a step (a
            rejected program's last verifier line is included).
    """
    from pyruntime.errors import CgroupError

    try:
        dirfd = posix.open(cgroup_dir, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
    except OSError as e:
        raise CgroupError(f"unable to open cgroup {cgroup_dir}: {e.strerror}") from e
    log = ffi.new("char[]", 65536)
    stage = ffi.new("int *")
    try:
        rc = lib.pyrt_bpf_set_device_program(dirfd, code, len(code) // 8, log, len(log), stage)
    finally:
        posix.close(dirfd)
    if rc < 0:
        lines = ffi.string(log).decode(errors="replace").strip().splitlines()
        detail = f" ({lines[-1]})" if lines and stage[0] == 1 else ""
        raise CgroupError(f"unable to {BPF_STAGES.get(stage[0], 'set')} the device BPF "
                          f"program of {cgroup_dir}: {posix.strerror(-rc)}{detail}")


def device_program_ids(dirfd: int) -> list[int]:
    """IDs of the device programs attached directly to the cgroup v2 directory `dirfd`.

    Raises:
        OSError: the query failed.
    """
    ids = ffi.new("uint32_t[]", 64)
    n = lib.pyrt_bpf_device_programs(dirfd, ids, 64)
    if n < 0:
        raise OSError(-n, posix.strerror(-n))
    return [int(ids[i]) for i in range(n)]
