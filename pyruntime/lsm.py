"""Linux security modules: AppArmor profiles and SELinux labels for the container process.

Owns: detecting whether the host has AppArmor or SELinux enabled, and turning
process.apparmorProfile / process.selinuxLabel into the /proc/self/attr write the child makes
(through the host's procfs, before it joins anything the container controls: runc
CVE-2019-16884). Asking for a profile the host cannot apply is a clear error.
Must not touch: the kernel beyond reading /sys.
"""

from __future__ import annotations

from pyruntime import log, pathops
from pyruntime.errors import ContainerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


def apparmor_enabled() -> bool:
    """AppArmor is built in, enabled and its securityfs is there."""
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y" and pathops.isdir("/sys/kernel/security/apparmor")
    except OSError:
        return False


def selinux_enabled() -> bool:
    """selinuxfs is mounted (SELinux is active)."""
    return pathops.exists("/sys/fs/selinux/enforce")


def exec_attr(process: Mapping[str, Any], linux: Mapping[str, Any]) -> tuple[str, str] | None:
    """(path under /proc/self, value) to write before exec, or None.

    Raises:
        ContainerError: a profile or label is asked for and the host lacks that LSM.
    """
    profile = process.get("apparmorProfile")
    label = process.get("selinuxLabel")
    if linux.get("mountLabel") and not selinux_enabled():
        log.warning("linux.mountLabel ignored: SELinux is not enabled on this host")
    if profile:
        if not apparmor_enabled():
            raise ContainerError(f"apparmor profile {profile!r} requested, but AppArmor is "
                                 "not enabled on this host")
        path = ("/proc/self/attr/apparmor/exec" if pathops.exists("/proc/self/attr/apparmor")
                else "/proc/self/attr/exec")
        return path, f"exec {profile}"
    if label:
        if not selinux_enabled():
            raise ContainerError(f"SELinux label {label!r} requested, but SELinux is not "
                                 "enabled on this host")
        return "/proc/self/attr/exec", str(label)
    return None
