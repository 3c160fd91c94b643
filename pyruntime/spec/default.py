"""The starter config.json that `pyruntime spec` writes (the same defaults as `runc spec`).

Owns: the default configuration document, and its rootless variant.
Must not touch: files (the CLI writes it).
"""

from __future__ import annotations

import os

from pyruntime.spec.constants import OCI_VERSION

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


MASKED_PATHS = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
NOSUID_NOEXEC_NODEV = ["nosuid", "noexec", "nodev"]


def default_config(*, rootless: bool = False, uid: int | None = None,
                   gid: int | None = None) -> dict[str, Any]:
    """A fresh default config (a new dict every call)."""
    devpts = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    if not rootless:
        devpts.append("gid=5")
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": devpts},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": NOSUID_NOEXEC_NODEV + ["mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": list(NOSUID_NOEXEC_NODEV)},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": NOSUID_NOEXEC_NODEV + ["ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": NOSUID_NOEXEC_NODEV + ["relatime", "ro"]},
    ]
    linux: dict[str, Any] = {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        "maskedPaths": list(MASKED_PATHS),
        "readonlyPaths": list(READONLY_PATHS),
    }
    if rootless:
        host_uid = os.geteuid() if uid is None else uid
        host_gid = os.getegid() if gid is None else gid
        mounts[5] = {"destination": "/sys", "type": "none", "source": "/sys",
                     "options": ["rbind"] + NOSUID_NOEXEC_NODEV + ["ro"]}
        linux = {
            "uidMappings": [{"containerID": 0, "hostID": host_uid, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": host_gid, "size": 1}],
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "user")],
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        }
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS)
                             for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "pyruntime",
        "mounts": mounts,
        "linux": linux,
    }
