"""Tables from the runtime-spec and the kernel that drive validation, planning and `features`.

Owns: names and numbers (namespaces, mount options, capabilities, rlimits, signals, statuses).
Must not touch: I/O. Kernel flag values that differ by architecture come from the shim.
"""

from __future__ import annotations

OCI_VERSION = "1.3.0"
OCI_VERSION_MIN = "1.0.0"
OCI_VERSION_MAX = "1.3.0"

STATUSES = ("creating", "created", "running", "stopped", "paused")

# config namespace type -> (clone flag name, /proc/PID/ns file name)
NAMESPACES: dict[str, tuple[str, str]] = {
    "pid": ("CLONE_NEWPID", "pid"),
    "network": ("CLONE_NEWNET", "net"),
    "mount": ("CLONE_NEWNS", "mnt"),
    "ipc": ("CLONE_NEWIPC", "ipc"),
    "uts": ("CLONE_NEWUTS", "uts"),
    "user": ("CLONE_NEWUSER", "user"),
    "cgroup": ("CLONE_NEWCGROUP", "cgroup"),
    "time": ("CLONE_NEWTIME", "time"),
}

# Mount options: name -> (clear?, flag name). "clear" options remove the flag.
MOUNT_FLAGS: dict[str, tuple[bool, str]] = {
    "ro": (False, "MS_RDONLY"),
    "rw": (True, "MS_RDONLY"),
    "suid": (True, "MS_NOSUID"),
    "nosuid": (False, "MS_NOSUID"),
    "dev": (True, "MS_NODEV"),
    "nodev": (False, "MS_NODEV"),
    "exec": (True, "MS_NOEXEC"),
    "noexec": (False, "MS_NOEXEC"),
    "sync": (False, "MS_SYNCHRONOUS"),
    "async": (True, "MS_SYNCHRONOUS"),
    "dirsync": (False, "MS_DIRSYNC"),
    "remount": (False, "MS_REMOUNT"),
    "mand": (False, "MS_MANDLOCK"),
    "nomand": (True, "MS_MANDLOCK"),
    "atime": (True, "MS_NOATIME"),
    "noatime": (False, "MS_NOATIME"),
    "diratime": (True, "MS_NODIRATIME"),
    "nodiratime": (False, "MS_NODIRATIME"),
    "relatime": (False, "MS_RELATIME"),
    "norelatime": (True, "MS_RELATIME"),
    "strictatime": (False, "MS_STRICTATIME"),
    "nostrictatime": (True, "MS_STRICTATIME"),
    "lazytime": (False, "MS_LAZYTIME"),
    "nolazytime": (True, "MS_LAZYTIME"),
    "nosymfollow": (False, "MS_NOSYMFOLLOW"),
    "symfollow": (True, "MS_NOSYMFOLLOW"),
    "iversion": (False, "MS_I_VERSION"),
    "noiversion": (True, "MS_I_VERSION"),
    "silent": (False, "MS_SILENT"),
    "loud": (True, "MS_SILENT"),
    "defaults": (False, ""),
    "bind": (False, "MS_BIND"),
    "rbind": (False, "MS_BIND|MS_REC"),
}

PROPAGATION_OPTIONS: dict[str, str] = {
    "private": "MS_PRIVATE",
    "rprivate": "MS_PRIVATE|MS_REC",
    "shared": "MS_SHARED",
    "rshared": "MS_SHARED|MS_REC",
    "slave": "MS_SLAVE",
    "rslave": "MS_SLAVE|MS_REC",
    "unbindable": "MS_UNBINDABLE",
    "runbindable": "MS_UNBINDABLE|MS_REC",
}

# The access-time attributes are one field (MOUNT_ATTR__ATIME), not independent bits.
ATIME_ATTRS = frozenset({"rnoatime", "ratime", "rrelatime", "rnorelatime", "rstrictatime",
                         "rnostrictatime"})

# Recursive attributes applied with mount_setattr(AT_RECURSIVE): name -> (clear?, attr name)
RECURSIVE_ATTRS: dict[str, tuple[bool, str]] = {
    "rro": (False, "MOUNT_ATTR_RDONLY"),
    "rrw": (True, "MOUNT_ATTR_RDONLY"),
    "rnosuid": (False, "MOUNT_ATTR_NOSUID"),
    "rsuid": (True, "MOUNT_ATTR_NOSUID"),
    "rnodev": (False, "MOUNT_ATTR_NODEV"),
    "rdev": (True, "MOUNT_ATTR_NODEV"),
    "rnoexec": (False, "MOUNT_ATTR_NOEXEC"),
    "rexec": (True, "MOUNT_ATTR_NOEXEC"),
    "rnodiratime": (False, "MOUNT_ATTR_NODIRATIME"),
    "rdiratime": (True, "MOUNT_ATTR_NODIRATIME"),
    "rrelatime": (False, "MOUNT_ATTR_RELATIME"),
    "rnorelatime": (True, "MOUNT_ATTR_RELATIME"),
    "rnoatime": (False, "MOUNT_ATTR_NOATIME"),
    "ratime": (True, "MOUNT_ATTR_NOATIME"),
    "rstrictatime": (False, "MOUNT_ATTR_STRICTATIME"),
    "rnostrictatime": (True, "MOUNT_ATTR_STRICTATIME"),
    "rnosymfollow": (False, "MOUNT_ATTR_NOSYMFOLLOW"),
    "rsymfollow": (True, "MOUNT_ATTR_NOSYMFOLLOW"),
}

# Options accepted but handled elsewhere (or meaningless for the kernel flags).
EXTRA_MOUNT_OPTIONS = ("tmpcopyup", "idmap", "ridmap")

CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
CAP_NUMBERS = {name: i for i, name in enumerate(CAPABILITIES)}

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

SCHED_POLICIES = {
    "SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_ISO": 4,
    "SCHED_IDLE": 5, "SCHED_DEADLINE": 6,
}
SCHED_FLAGS = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02, "SCHED_FLAG_DL_OVERRUN": 0x04,
    "SCHED_FLAG_KEEP_POLICY": 0x08, "SCHED_FLAG_KEEP_PARAMS": 0x10,
    "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20, "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}

HOOK_NAMES = (
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
)

# The /dev nodes every container gets (runc's list), as (name, major, minor).
DEFAULT_DEVICES = (
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
)
DEFAULT_DEV_SYMLINKS = (
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/ptmx", "pts/ptmx"),
)


# Linux signal numbers of the generic ABI (x86, arm, arm64, riscv, s390, ppc): a table instead
# of the `signal` module, whose import (enum, functools) costs more than a `kill` should.
SIGNALS = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGIOT": 6,
    "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12,
    "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCLD": 17,
    "SIGCONT": 18, "SIGSTOP": 19, "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23,
    "SIGXCPU": 24, "SIGXFSZ": 25, "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29,
    "SIGPOLL": 29, "SIGPWR": 30, "SIGSYS": 31,
}
SIGRTMIN = 34  # as glibc reports it (32 and 33 are the C library's own)
SIGRTMAX = 64


def signal_number(name: str) -> int:
    """Parse a signal as runc does: a number, `KILL`, or `SIGKILL` (also SIGRTMIN+N).

    Raises:
        ValueError: the name is not a known signal.
    """
    text = name
    if not text.isascii() or text != text.strip():
        raise ValueError(f"invalid signal: {name!r}")
    if text.isdigit():
        num = int(text)
        if 0 < num <= SIGRTMAX:
            return num
        raise ValueError(f"invalid signal: {name}")
    upper = text.upper()
    if not upper.startswith("SIG"):
        upper = "SIG" + upper
    for base, value in (("SIGRTMIN", SIGRTMIN), ("SIGRTMAX", SIGRTMAX)):
        if upper.startswith(base):
            rest = upper[len(base):]
            if rest and not (rest[0] in "+-" and rest[1:].isdigit()):
                raise ValueError(f"invalid signal: {name}")
            num = value + (int(rest) if rest else 0)
            if SIGRTMIN <= num <= SIGRTMAX:
                return num
            raise ValueError(f"invalid signal: {name}")
    if upper not in SIGNALS:
        raise ValueError(f"invalid signal: {name}")
    return SIGNALS[upper]
