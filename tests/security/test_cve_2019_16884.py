"""CVE-2019-16884: an image declares a volume over /proc (or makes /proc a symlink), so the
runtime's writes that should reach procfs (the AppArmor exec attribute, oom_score_adj,
sysctls) land in plain files, and the container runs unconfined.

pyruntime makes those writes through the host's /proc before pivot_root (sysctls checked to
be on procfs), never through the container's /proc; what a config mounts on /proc may fool
the container's own view, never the runtime. runc refuses non-procfs mounts inside /proc and
a symlinked /proc; pyruntime may accept them, as long as the writes are not redirected and
procfs never lands outside the rootfs. An LSM profile asked for on a host without that LSM
must be an error (the silent unconfined run is the advisory's outcome).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.security.conftest import HostGuard, detached, make_fake_proc, run_probed

pytestmark = pytest.mark.root

OOM = 321


def container_view(pid: int) -> tuple[int, str]:
    """(oom_score_adj, ip_forward) of the container, read from the host side."""
    oom = int(Path(f"/proc/{pid}/oom_score_adj").read_text())
    fwd = subprocess.run(["nsenter", "-t", str(pid), "-n", "cat", "/proc/sys/net/ipv4/ip_forward"],
                         capture_output=True, check=True, timeout=10).stdout.decode().strip()
    return oom, fwd


@pytest.mark.parametrize("where", ["over-proc", "instead-of-proc"])
def test_volume_on_proc_runtime_writes_not_redirected(cli: Any, make_bundle: Any,
                                                      tmp_path: Path, where: str) -> None:
    fake = make_fake_proc(tmp_path / "fake-proc")
    b = make_bundle("sleep", "30")
    volume = {"destination": "/proc", "type": "bind", "source": str(fake), "options": ["rbind"]}
    if where == "over-proc":
        b.config["mounts"].insert(1, volume)
    else:
        b.config["mounts"][0] = volume
    b.config["process"]["oomScoreAdj"] = OOM
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    b.write()
    guard = HostGuard(fake)
    cid = cli.new_id()
    code, err = detached(cli, "create", "-b", str(b.path), cid, check=False)
    if code == 0:
        assert container_view(cli.state(cid)["pid"]) == (OOM, "1")
    else:  # runc's answer: nothing but procfs may be mounted on /proc
        err = err.strip()
        assert "Traceback" not in err and len(err.splitlines()) == 1, err
    guard.assert_untouched()


@pytest.mark.parametrize("style", ["absolute", "relative"])
def test_proc_symlink_to_host_dir_procfs_stays_in_rootfs(cli: Any, make_bundle: Any,
                                                         tmp_path: Path, style: str) -> None:
    """rootfs /proc -> a host directory dressed as procfs: procfs is mounted inside the
    rootfs (or refused); the host directory is neither mounted on nor written."""
    fake = make_fake_proc(tmp_path / "fake-proc")
    b = make_bundle("sh", "-c", "stat -f -c %T /proc/; cat /proc/self/oom_score_adj")
    (b.rootfs / "proc").rmdir()
    os.symlink(str(fake) if style == "absolute" else "../" * 12 + str(fake).lstrip("/"),
               b.rootfs / "proc")
    (b.rootfs / str(fake).lstrip("/")).mkdir(parents=True)
    b.config["process"]["oomScoreAdj"] = OOM
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    b.write()
    guard = HostGuard(fake)
    res = run_probed(cli, b, tmp_path / "premount")
    assert res.outside == []
    if res.ok:
        assert res.out.split() == ["proc", str(OOM)]
    else:
        res.assert_refused_cleanly()
    guard.assert_untouched()


def lsm_enabled(name: str) -> bool:
    try:
        return name in Path("/sys/kernel/security/lsm").read_text().split(",")
    except OSError:
        return os.path.exists({"apparmor": "/sys/module/apparmor/parameters/enabled",
                               "selinux": "/sys/fs/selinux/enforce"}[name])


@pytest.mark.parametrize("key,value,lsm", [
    ("apparmorProfile", "docker-default", "apparmor"),
    ("selinuxLabel", "system_u:system_r:container_t:s0:c1,c2", "selinux"),
])
def test_lsm_label_without_lsm_fails_clearly(cli: Any, make_bundle: Any, key: str, value: str,
                                             lsm: str) -> None:
    if lsm_enabled(lsm):
        pytest.skip(f"{lsm} is enabled on this host")
    b = make_bundle("true")
    b.config["process"][key] = value
    b.write()
    proc = cli("run", "-b", str(b.path), cli.new_id())
    err = proc.stderr.decode().strip()
    assert proc.returncode != 0, "the container ran without the requested confinement"
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert lsm in err.lower(), err


def test_lsm_label_exec_without_lsm_fails_clearly_or_unsupported(cli: Any,
                                                                 make_bundle: Any) -> None:
    """`exec --apparmor` on a host without AppArmor: never a traceback."""
    if lsm_enabled("apparmor"):
        pytest.skip("apparmor is enabled on this host")
    b = make_bundle("sleep", "30")
    cid = cli.new_id()
    detached(cli, "run", "-d", "-b", str(b.path), cid)
    proc = cli("exec", "--apparmor", "docker-default", cid, "true")
    assert "Traceback" not in proc.stderr.decode()
