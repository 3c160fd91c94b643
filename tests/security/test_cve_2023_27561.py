"""CVE-2023-27561 (a regression of CVE-2019-19921): a mount destination in the image is a
symlink to a host path, and the runtime mounts onto the host path instead of into the
rootfs.

pyruntime resolves every destination with openat2(RESOLVE_IN_ROOT) and mounts on the
resulting fd, so the link is followed as if the rootfs were "/": the mount lands inside the
rootfs, or creation is refused. The createContainer probe sees the container's mount
namespace before pivot_root, so a mount on a host path would show there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.security.conftest import HostGuard, run_probed

pytestmark = pytest.mark.root


@pytest.fixture
def host_target(tmp_path: Path) -> Path:
    d = tmp_path / "host-target"
    d.mkdir()
    (d / "HOST_FILE").write_text("host\n")
    return d


def add_mount(bundle: Any, dest: str, kind: str, volume: Path) -> None:
    if kind == "tmpfs":
        m = {"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}
    else:
        m = {"destination": dest, "type": "bind", "source": str(volume), "options": ["rbind"]}
    bundle.config["mounts"].append(m)
    bundle.write()


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    v = tmp_path / "volume"
    v.mkdir()
    (v / "VOLUME").write_text("volume\n")
    return v


def link_target(host_target: Path, style: str) -> str:
    if style == "absolute":
        return str(host_target)
    return "../" * 12 + str(host_target).lstrip("/")


@pytest.mark.parametrize("kind", ["tmpfs", "bind"])
@pytest.mark.parametrize("style", ["absolute", "relative"])
def test_destination_symlink_to_host_path_mount_inside_rootfs(
        cli: Any, make_bundle: Any, tmp_path: Path, host_target: Path, volume: Path,
        kind: str, style: str) -> None:
    """/data -> <host path>, and the same path exists inside the rootfs: the mount lands on
    the rootfs copy, which the container sees through /data."""
    b = make_bundle("sh", "-c", "ls -a /data/; grep -c ' /data' /proc/self/mountinfo; true")
    inside = b.rootfs / str(host_target).lstrip("/")
    inside.mkdir(parents=True)
    (inside / "ROOTFS_COPY").write_text("rootfs\n")
    os.symlink(link_target(host_target, style), b.rootfs / "data")
    add_mount(b, "/data", kind, volume)
    guard = HostGuard(host_target, volume)
    res = run_probed(cli, b, tmp_path / "premount")
    assert res.ok, res.proc.stderr
    assert res.outside == []
    assert "HOST_FILE" not in res.out and "ROOTFS_COPY" not in res.out
    if kind == "bind":
        assert "VOLUME" in res.out
    guard.assert_untouched()
    assert (inside / "ROOTFS_COPY").exists()


@pytest.mark.parametrize("kind", ["tmpfs", "bind"])
@pytest.mark.parametrize("style", ["absolute", "relative"])
def test_destination_symlink_to_missing_path_refused_or_inside(
        cli: Any, make_bundle: Any, tmp_path: Path, host_target: Path, volume: Path,
        kind: str, style: str) -> None:
    """/data -> <host path> that does not exist in the rootfs: nothing is made or mounted on
    the host path (refusing is fine; runc would create it inside the rootfs)."""
    b = make_bundle("sh", "-c", "ls -a /data/")
    os.symlink(link_target(host_target, style), b.rootfs / "data")
    add_mount(b, "/data", kind, volume)
    guard = HostGuard(host_target, volume)
    res = run_probed(cli, b, tmp_path / "premount")
    if not res.ok:
        res.assert_refused_cleanly()
    assert res.outside == []
    assert "HOST_FILE" not in res.out
    guard.assert_untouched()


def test_destination_below_symlinked_dir_stays_inside(cli: Any, make_bundle: Any,
                                                      tmp_path: Path, host_target: Path,
                                                      volume: Path) -> None:
    """/data -> <host path>; the mount goes to /data/sub/deeper: the missing directories are
    created inside the rootfs copy (or refused), never under the host path."""
    b = make_bundle("sh", "-c", "ls -a /data/sub/deeper/")
    inside = b.rootfs / str(host_target).lstrip("/")
    inside.mkdir(parents=True)
    os.symlink(str(host_target), b.rootfs / "data")
    add_mount(b, "/data/sub/deeper", "bind", volume)
    guard = HostGuard(host_target, volume)
    res = run_probed(cli, b, tmp_path / "premount")
    if res.ok:
        assert "VOLUME" in res.out
        assert (inside / "sub" / "deeper").is_dir()
    else:
        res.assert_refused_cleanly()
    assert res.outside == []
    guard.assert_untouched()
    assert not (host_target / "sub").exists()
