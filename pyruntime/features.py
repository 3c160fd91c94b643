"""The runtime-spec `features` document, truthful to what pyruntime implements here.

Owns: assembling features.json from the constant tables, seccomp's own report and host facts.
Must not touch: containers or state.
"""

from __future__ import annotations

import os

from pyruntime.spec import constants as C

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def features() -> dict[str, Any]:
    """The document `pyruntime features` prints."""
    from pyruntime import seccomp
    from pyruntime.lsm import apparmor_enabled, selinux_enabled

    options = sorted(set(C.MOUNT_FLAGS) | set(C.PROPAGATION_OPTIONS) | set(C.RECURSIVE_ATTRS)
                     | {"idmap", "ridmap"})
    return {
        "ociVersionMin": C.OCI_VERSION_MIN,
        "ociVersionMax": C.OCI_VERSION_MAX,
        "hooks": list(C.HOOK_NAMES),
        "mountOptions": options,
        "linux": {
            "namespaces": sorted(C.NAMESPACES),
            "capabilities": list(C.CAPABILITIES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False,
                       "rdma": True},
            "seccomp": seccomp.features(),
            "apparmor": {"enabled": apparmor_enabled()},
            "selinux": {"enabled": selinux_enabled()},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": True}},
        },
        "annotations": {
            **seccomp.features_annotations(),
            "org.opencontainers.pyruntime.version": _version(),
            "org.opencontainers.pyruntime.host.cgroup2": str(
                os.path.exists("/sys/fs/cgroup/cgroup.controllers")).lower(),
        },
    }


def _version() -> str:
    from pyruntime import __version__

    return __version__
