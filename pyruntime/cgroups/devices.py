"""Device cgroup rules: runc's default allow list, v1 file lines, and a v1 emulator.

Owns: the final ordered rule list a container gets (its ``linux.resources.devices``
followed by runc's default allowed devices), the ``devices.allow``/``devices.deny``
lines for cgroup v1, and an emulation of the v1 kernel's rule semantics that the v2
BPF program generator uses so both versions allow exactly the same accesses.
Must not touch: files, BPF syscalls.
"""

from __future__ import annotations

from pyruntime.cgroups.resources import DeviceRule
from pyruntime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


# (path or None, rule): runc's AllowedDevices, appended after the config's rules. A
# default with a path is dropped when linux.devices has a node at that path (the
# config's entry takes priority there, as in runc).
DEFAULT_DEVICES: tuple[tuple[str | None, DeviceRule], ...] = (
    (None, DeviceRule(True, "c", -1, -1, "m")),  # mknod of any char device
    (None, DeviceRule(True, "b", -1, -1, "m")),  # mknod of any block device
    ("/dev/null", DeviceRule(True, "c", 1, 3, "rwm")),
    ("/dev/random", DeviceRule(True, "c", 1, 8, "rwm")),
    ("/dev/full", DeviceRule(True, "c", 1, 7, "rwm")),
    ("/dev/tty", DeviceRule(True, "c", 5, 0, "rwm")),
    ("/dev/zero", DeviceRule(True, "c", 1, 5, "rwm")),
    ("/dev/urandom", DeviceRule(True, "c", 1, 9, "rwm")),
    (None, DeviceRule(True, "c", 136, -1, "rwm")),  # /dev/pts/*
    (None, DeviceRule(True, "c", 5, 2, "rwm")),  # /dev/ptmx
    (None, DeviceRule(True, "c", 10, 200, "rwm")),  # /dev/net/tun (kept by runc for compat)
)


def container_rules(
    rules: list[DeviceRule] | None, linux_devices: list[dict[str, Any]] | None
) -> list[DeviceRule]:
    """The rule list runc applies: config rules, then the deduplicated defaults.

    ``linux_devices`` (the nodes the runtime creates) only removes defaults with the
    same path; like runc, the nodes themselves are not added to the allow list.
    """
    node_paths = {d.get("path") for d in (linux_devices or []) if isinstance(d, dict)}
    out = list(rules or [])
    out.extend(rule for path, rule in DEFAULT_DEVICES if path is None or path not in node_paths)
    return out


def _num(n: int) -> str:
    return "*" if n < 0 else str(n)


def v1_line(rule: DeviceRule) -> str:
    """The text written to devices.allow/devices.deny ("c 1:3 rwm", or "a")."""
    if rule.type == "a":
        return "a"
    return f"{rule.type} {_num(rule.major)}:{_num(rule.minor)} {rule.access}"


def v1_writes(rules: list[DeviceRule]) -> list[tuple[str, str]]:
    """(file, line) pairs to write, in order, to reach ``rules`` on cgroup v1."""
    return [("devices.allow" if r.allow else "devices.deny", v1_line(r)) for r in rules]


class Emulator(Record):
    """The v1 kernel's device cgroup state machine (security/device_cgroup.c).

    ``default_allow`` is the behaviour for unlisted devices; ``exceptions`` maps
    (type, major, minor) to the access letters that get the opposite answer.
    """

    __slots__ = ("default_allow", "exceptions")
    _defaults = {"default_allow": True, "exceptions": {}}
    default_allow: bool
    exceptions: dict[tuple[str, int, int], str]

    def apply(self, rule: DeviceRule) -> None:
        if rule.type == "a":
            # "a" resets the cgroup to allow-all or deny-all and drops exceptions.
            self.default_allow = rule.allow
            self.exceptions.clear()
            return
        key = (rule.type, rule.major, rule.minor)
        if rule.allow != self.default_allow:
            # Rule opposite to the default: add (merge) an exception.
            have = self.exceptions.get(key, "")
            self.exceptions[key] = normalize(have + rule.access)
        else:
            # Same as the default: strip those accesses from the exact exception.
            current = self.exceptions.get(key)
            if current is None:
                return
            left = "".join(c for c in current if c not in rule.access)
            if left:
                self.exceptions[key] = left
            else:
                del self.exceptions[key]

    def allows(self, typ: str, major: int, minor: int, access: str) -> bool:
        """Would the kernel allow ``access`` to this device? (Used by tests.)"""
        for (t, ma, mi), acc in self.exceptions.items():
            if t != typ:
                continue
            if ma >= 0 and ma != major:
                continue
            if mi >= 0 and mi != minor:
                continue
            if self.default_allow:
                # Deny-list mode: an exception sharing any requested bit denies.
                if any(c in acc for c in access):
                    return False
            elif all(c in acc for c in access):
                # Allow-list mode: one exception must grant every requested bit.
                return True
        return self.default_allow


def normalize(access: str) -> str:
    return "".join(c for c in "rwm" if c in access)


def emulate(rules: list[DeviceRule]) -> Emulator:
    """Run ``rules`` through a fresh emulator (cgroups start allow-all)."""
    emu = Emulator()
    for r in rules:
        emu.apply(r)
    return emu
