"""CVE-2019-19921: with two containers sharing a volume, one makes the other's /proc a
symlink into the volume and races a directory swap there, so the runtime mounts procfs on
a path of the attacker's choice and its later procfs writes land in plain files.

The rootfs's /proc is a symlink into a shared volume (mounted before /proc); a helper
process swaps a directory of the volume with a symlink to a host directory dressed as
procfs. pyruntime resolves the destination inside the rootfs (through the volume's mount,
never through the host path) and does its procfs writes through the host's /proc, so every
round either refuses or mounts procfs inside the rootfs, and the fake host directory is
neither mounted on nor written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.security.conftest import HostGuard, make_fake_proc, race_runs, run_probed

pytestmark = pytest.mark.root

OOM = 321


def proc_in_volume_bundle(make_bundle: Any, volume: Path, *args: str) -> Any:
    b = make_bundle(*args)
    (b.rootfs / "proc").rmdir()
    os.symlink("/vol/x/proc", b.rootfs / "proc")
    b.config["mounts"].insert(0, {"destination": "/vol", "type": "bind",
                                  "source": str(volume), "options": ["rbind"]})
    b.config["process"]["oomScoreAdj"] = OOM
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    return b.write()


def test_proc_symlink_into_shared_volume_procfs_inside_rootfs(cli: Any, make_bundle: Any,
                                                              tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    (volume / "x" / "proc").mkdir(parents=True)
    b = proc_in_volume_bundle(make_bundle, volume, "sh", "-c",
                              "stat -f -c %T /proc/; cat /proc/self/oom_score_adj")
    res = run_probed(cli, b, tmp_path / "premount")
    assert res.outside == []
    if res.ok:
        assert res.out.split() == ["proc", str(OOM)]
    else:
        res.assert_refused_cleanly()
    assert os.listdir(volume / "x" / "proc") == []  # procfs was only ever in the container


@pytest.mark.slow
@pytest.mark.parametrize("style", ["absolute", "relative"])
def test_proc_in_volume_exchange_race_never_reaches_host_dir(
        cli: Any, make_bundle: Any, tmp_path: Path, exchanger: Any, style: str) -> None:
    fake = make_fake_proc(tmp_path / "fake" / "proc")
    volume = tmp_path / "volume"
    (volume / "x" / "proc").mkdir(parents=True)
    os.symlink(str(fake.parent) if style == "absolute" else "../fake", volume / "x-link")
    b = proc_in_volume_bundle(make_bundle, volume, "true")
    guard = HostGuard(fake.parent)
    ex = exchanger(volume / "x", volume / "x-link")
    rounds, swaps, outcomes = race_runs(cli, b, tmp_path / "premount", ex, guard)
    assert rounds >= 10 and swaps > rounds, (rounds, swaps, outcomes)
