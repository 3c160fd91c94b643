"""CVE-2021-30465: a symlink-exchange race on mount destinations. A process with access to a
shared volume keeps swapping a directory of the volume with a symlink to a host path while
the runtime mounts onto that directory; a runtime that checks the path and then mounts by
name can be made to mount onto the host path.

Here a helper process (standing in for the other container) swaps them with
renameat2(RENAME_EXCHANGE) while containers are created for a bounded time. pyruntime
resolves each destination once with openat2(RESOLVE_IN_ROOT) and mounts on that fd: a round
either succeeds with every mount inside the rootfs or is refused; the host path never gets
a mount and never changes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.security.conftest import HostGuard, race_runs

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.mark.parametrize("style", ["absolute", "relative"])
def test_mount_destination_exchange_race_never_mounts_on_host(
        cli: Any, make_bundle: Any, tmp_path: Path, exchanger: Any, style: str) -> None:
    host_target = tmp_path / "host-target"
    host_target.mkdir()
    (host_target / "HOST_FILE").write_text("host\n")
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "dst").mkdir()
    link = str(host_target) if style == "absolute" else "../host-target"
    os.symlink(link, volume / "swap")
    other = tmp_path / "other-volume"
    other.mkdir()
    (other / "OTHER").write_text("other\n")

    b = make_bundle("true")
    b.config["mounts"] += [
        {"destination": "/vol", "type": "bind", "source": str(volume), "options": ["rbind"]},
        {"destination": "/vol/dst", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
        {"destination": "/vol/dst/inner", "type": "bind", "source": str(other),
         "options": ["rbind"]},
    ]
    b.write()
    guard = HostGuard(host_target, other)
    ex = exchanger(volume / "dst", volume / "swap")
    rounds, swaps, outcomes = race_runs(cli, b, tmp_path / "premount", ex, guard)
    assert rounds >= 10 and swaps > rounds, (rounds, swaps, outcomes)
