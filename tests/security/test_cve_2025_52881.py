"""CVE-2025-52881: the runtime's writes to procfs (sysctls, oom_score_adj, LSM attributes)
are redirected to other files, or other procfs files, by mounts or symlinks the container
controls on its /proc.

pyruntime writes oom_score_adj before any container mount and sysctls through the host's
/proc before pivot_root, opened O_NOFOLLOW and checked to be on procfs (else EXDEV). So
mounts the config places over the container's /proc/sys or /proc/self do not redirect
anything, and a non-procfs file in the runtime's own /proc is refused. (It makes no LSM
attribute writes; test_cve_2019_16884 covers profiles asked for without an LSM.)
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.security.conftest import HostGuard, detached, run_ok

pytestmark = pytest.mark.root

OOM = 456


def ns_read(pid: int, flag: str, path: str) -> str:
    """Read a /proc/sys file as seen from one namespace of the container."""
    return subprocess.run(["nsenter", "-t", str(pid), flag, "cat", path], capture_output=True,
                          check=True, timeout=10).stdout.decode().strip()


def host_read(path: str) -> str:
    with open(path) as f:
        return f.read()


@pytest.mark.parametrize("cover", ["file-on-sysctl", "tmpfs-on-net", "dir-with-symlink-on-net",
                                   "procfs-file-on-sysctl", "file-on-proc-self-oom"])
def test_container_mounts_on_proc_do_not_redirect_runtime_writes(
        cli: Any, make_bundle: Any, tmp_path: Path, cover: str) -> None:
    canary_dir = tmp_path / "canary"
    (canary_dir / "ipv4").mkdir(parents=True)
    canary = canary_dir / "ipv4" / "ip_forward"
    canary.write_text("0\n")
    b = make_bundle("sleep", "30")
    mounts = {
        "file-on-sysctl": ("/proc/sys/net/ipv4/ip_forward", "bind", str(canary)),
        "tmpfs-on-net": ("/proc/sys/net", "tmpfs", "tmpfs"),
        "dir-with-symlink-on-net": ("/proc/sys/net", "bind", str(tmp_path / "linkdir")),
        # another procfs file, writable and harmless: the container's own domainname
        "procfs-file-on-sysctl": ("/proc/sys/net/ipv4/ip_forward", "bind",
                                  "/proc/sys/kernel/domainname"),
        "file-on-proc-self-oom": ("/proc/self/oom_score_adj", "bind", str(canary)),
    }
    dest, kind, source = mounts[cover]
    if cover == "dir-with-symlink-on-net":
        (tmp_path / "linkdir" / "ipv4").mkdir(parents=True)
        os.symlink("../../kernel/domainname", tmp_path / "linkdir" / "ipv4" / "ip_forward")
    b.config["mounts"].insert(1, {"destination": dest, "type": kind, "source": source,
                                  "options": ["rbind"] if kind == "bind" else []})
    b.config["process"]["oomScoreAdj"] = OOM
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    b.write()
    guard = HostGuard(canary_dir)
    host_fwd = host_read("/proc/sys/net/ipv4/ip_forward")
    host_domain = host_read("/proc/sys/kernel/domainname")
    cid = cli.new_id()
    detached(cli, "create", "-b", str(b.path), cid)
    pid = cli.state(cid)["pid"]
    assert ns_read(pid, "-n", "/proc/sys/net/ipv4/ip_forward") == "1"
    assert ns_read(pid, "-u", "/proc/sys/kernel/domainname") == "(none)"
    assert int(Path(f"/proc/{pid}/oom_score_adj").read_text()) == OOM
    guard.assert_untouched()
    assert host_read("/proc/sys/net/ipv4/ip_forward") == host_fwd
    assert host_read("/proc/sys/kernel/domainname") == host_domain


def in_private_ns(cli: Any, setup: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the runtime in a private mount namespace prepared by `setup` (a shell snippet);
    after it, print what the snippet's files hold."""
    script = f'{setup} && {{ "$@"; rc=$?; echo "--"; cat /proc/sys/net/ipv4/ip_forward; exit $rc; }}'
    cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *cli.base,
           "--root", str(cli.root), *args]
    return subprocess.run(cmd, capture_output=True, timeout=30)


def test_runtime_proc_sysctl_not_procfs_refused(cli: Any, make_bundle: Any) -> None:
    """The runtime's own /proc/sys/net is a tmpfs (in a private mount namespace): the sysctl
    must not be written into that plain file."""
    b = make_bundle("true")
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    b.write()
    setup = ("mount -t tmpfs -o size=1m fake /proc/sys/net && mkdir /proc/sys/net/ipv4 && "
             "echo 0 > /proc/sys/net/ipv4/ip_forward")
    proc = in_private_ns(cli, setup, "run", "-b", str(b.path), cli.new_id())
    out = proc.stdout.decode()
    assert out.split("--")[-1].strip() == "0", out
    assert proc.returncode != 0, "the sysctl was written into a tmpfs file"
    err = proc.stderr.decode().strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err


def test_runtime_proc_sysctl_symlink_refused_or_real(cli: Any, make_bundle: Any) -> None:
    """The runtime's /proc/sys/net/ipv4/ip_forward is a symlink to a plain file (private mount
    namespace): O_NOFOLLOW refuses it; the file is not written."""
    b = make_bundle("true")
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    b.write()
    setup = ("mount -t tmpfs -o size=1m fake /proc/sys/net && mkdir /proc/sys/net/ipv4 && "
             "echo 0 > /proc/sys/net/plain && ln -s ../plain /proc/sys/net/ipv4/ip_forward")
    proc = in_private_ns(cli, setup, "run", "-b", str(b.path), cli.new_id())
    assert proc.stdout.decode().split("--")[-1].strip() == "0"
    assert proc.returncode != 0


def test_default_config_sysctl_reaches_container_netns_only(cli: Any, make_bundle: Any) -> None:
    """Control: without tricks the sysctl is applied in the container's network namespace."""
    b = make_bundle("cat", "/proc/sys/net/ipv4/ip_forward")
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    b.write()
    before = host_read("/proc/sys/net/ipv4/ip_forward")
    assert run_ok(cli, b).strip() == "1"
    assert host_read("/proc/sys/net/ipv4/ip_forward") == before
