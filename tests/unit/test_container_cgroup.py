"""When create configures the container's cgroup (pyruntime.container.Runtime._configure_cgroup)."""

from __future__ import annotations

from typing import Any

import pytest

from pyruntime.container import Runtime
from pyruntime.errors import SpecError


class FakeManager:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def set_limits(self, res: Any, *, update: bool) -> None:
        self.calls.append(("limits", (res.pids_limit, update)))

    def prepare_devices(self, res: Any, linux_devices: Any) -> Any:
        self.calls.append(("rules", linux_devices))
        return lambda: self.calls.append(("devices", linux_devices))


def test_limits_now_device_rules_once_when_the_child_waits() -> None:
    """The limits go in and the device rules are computed while the child sets up its root;
    the rules are written only when the returned step runs (the child waiting before hooks or at READY), once: writing them
    under the child's mknod of /dev denied every device for a moment (runc's order too)."""
    mgr = FakeManager()
    nodes = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
    install = Runtime._configure_cgroup(mgr, {"resources": {"pids": {"limit": 3}},  # type: ignore[arg-type]
                                              "devices": nodes})
    assert mgr.calls == [("limits", (3, False)), ("rules", nodes)]  # computed meanwhile too
    install()
    install()  # at READY after the hooks' step: already done
    assert mgr.calls == [("limits", (3, False)), ("rules", nodes), ("devices", nodes)]


def test_no_cgroup_nothing_to_configure() -> None:
    Runtime._configure_cgroup(None, {"resources": {"pids": {"limit": 3}}})()


def test_malformed_resources_raise_before_any_write() -> None:
    mgr = FakeManager()
    with pytest.raises(SpecError):
        Runtime._configure_cgroup(mgr, {"resources": {"pids": {"limit": "three"}}})  # type: ignore[arg-type]
    assert mgr.calls == []
