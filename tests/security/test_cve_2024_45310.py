"""CVE-2024-45310: while creating missing mount destinations (directories and empty files)
inside a bind-mounted shared volume, the runtime can be raced into creating them on the
host, outside the volume, when a path component is swapped for a symlink.

A helper process swaps a directory of the volume with a symlink to a host directory (by
absolute path, and by a relative path that means something else on the host than in the
container) while containers whose mounts need new directories and files below that
component are created for a bounded time. pyruntime creates each component with mkdirat /
openat(O_NOFOLLOW) on a parent resolved with RESOLVE_IN_ROOT: nothing may appear on the host
outside the volume.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.security.conftest import HostGuard, race_runs, run_probed

pytestmark = pytest.mark.root


def setup_volume(tmp_path: Path, style: str) -> tuple[Path, Path]:
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    (host_dir / "HOST_FILE").write_text("host\n")
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "a").mkdir()
    os.symlink(str(host_dir) if style == "absolute" else "../host-dir", volume / "a-link")
    return volume, host_dir


def host_names(tmp_path: Path) -> list[str]:
    """What the test dir holds, less what the harness itself makes (state dir, probe)."""
    return sorted(set(os.listdir(tmp_path)) - {"state", "premount"})


def add_volume_mounts(bundle: Any, volume: Path, tmp_path: Path) -> None:
    src_file = tmp_path / "src-file"
    src_file.write_text("file\n")
    bundle.config["mounts"] += [
        {"destination": "/vol", "type": "bind", "source": str(volume), "options": ["rbind"]},
        {"destination": "/vol/a/made/dir", "type": "tmpfs", "source": "tmpfs",
         "options": ["size=1m"]},
        {"destination": "/vol/a/made-file", "type": "bind", "source": str(src_file),
         "options": ["bind"]},
    ]
    bundle.write()


@pytest.mark.parametrize("style", ["absolute", "relative"])
def test_symlinked_volume_component_nothing_created_on_host(cli: Any, make_bundle: Any,
                                                           tmp_path: Path, style: str) -> None:
    """No race: the component already is the symlink when the container is created."""
    volume, host_dir = setup_volume(tmp_path, style)
    os.rename(volume / "a-link", volume / "a-swap")
    (volume / "a").rmdir()
    os.rename(volume / "a-swap", volume / "a")
    b = make_bundle("true")
    add_volume_mounts(b, volume, tmp_path)
    guard = HostGuard(host_dir)
    top = host_names(tmp_path)
    res = run_probed(cli, b, tmp_path / "premount")
    if not res.ok:
        res.assert_refused_cleanly()
    assert res.outside == []
    guard.assert_untouched()
    assert host_names(tmp_path) == top


@pytest.mark.slow
@pytest.mark.parametrize("style", ["absolute", "relative"])
def test_volume_component_exchange_race_nothing_created_on_host(
        cli: Any, make_bundle: Any, tmp_path: Path, exchanger: Any, style: str) -> None:
    volume, host_dir = setup_volume(tmp_path, style)
    b = make_bundle("true")
    add_volume_mounts(b, volume, tmp_path)
    guard = HostGuard(host_dir)
    top = host_names(tmp_path)
    ex = exchanger(volume / "a", volume / "a-link")
    rounds, swaps, outcomes = race_runs(cli, b, tmp_path / "premount", ex, guard)
    assert host_names(tmp_path) == top
    assert rounds >= 10 and swaps > rounds, (rounds, swaps, outcomes)
