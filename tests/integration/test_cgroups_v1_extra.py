"""Real v1 tests for controllers this host compiles in but does not mount.

net_cls, net_prio, hugetlb and perf_event are mounted for the test only, on a tmpfs
inside a private mount namespace (``unshare -m``), so the host's mount table never
changes. The hierarchies disappear once unmounted and empty; every cgroup made here
is removed before that.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.cgroup_v1,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)"),
]

REPO = str(Path(__file__).resolve().parents[2])

SCRIPT = r"""
import json, os, secrets, subprocess, sys
root = sys.argv[1]
out = {"mounted": [], "files": {}, "cgroup": "", "stats_hugetlb": None}
subprocess.run(["mount", "-t", "tmpfs", "pyrt-test", root], check=True)
mounted = []
try:
    for ctrls in ("net_cls,net_prio", "hugetlb", "perf_event"):
        d = os.path.join(root, ctrls)
        os.mkdir(d)
        r = subprocess.run(["mount", "-t", "cgroup", "-o", ctrls, "cgroup", d],
                           capture_output=True)
        if r.returncode == 0:
            mounted.append(d)
            out["mounted"].append(ctrls)
        else:
            os.rmdir(d)
    from pyruntime.cgroups import open_manager
    name = "/pyrt-test-" + secrets.token_hex(4)
    mgr = open_manager(name, "x", root=root)
    mgr.create()
    res = {}
    if "net_cls,net_prio" in out["mounted"]:
        res["network"] = {"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]}
    if "hugetlb" in out["mounted"]:
        res["hugepageLimits"] = [{"pageSize": "2MB", "limit": 4194304}]
    p = subprocess.Popen(["sleep", "30"])
    try:
        mgr.update(res)
        mgr.apply(p.pid)
        for sub, d in mgr.joinable_paths().items():
            for f in ("net_cls.classid", "net_prio.ifpriomap", "hugetlb.2MB.limit_in_bytes"):
                if os.path.exists(os.path.join(d, f)):
                    out["files"][f] = open(os.path.join(d, f)).read()
        out["cgroup"] = open(f"/proc/{p.pid}/cgroup").read()
        out["stats_hugetlb"] = mgr.stats()["hugetlb"]
        out["path"] = mgr.path
    finally:
        p.kill()
        p.wait()
        mgr.destroy()
finally:
    for d in reversed(mounted):
        subprocess.run(["umount", d], check=True)
    subprocess.run(["umount", root], check=True)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def extra(tmp_path_factory):
    root = tmp_path_factory.mktemp("cgextra")
    env = dict(os.environ, PYTHONPATH=REPO)
    r = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-c", SCRIPT, str(root)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["still_bound"] = release_hierarchies(out["mounted"], root)
    return out


def bound(mounted: list[str]) -> list[str]:
    """Controllers of ``mounted`` still attached to a v1 hierarchy (/proc/cgroups)."""
    names = {c for m in mounted for c in m.split(",")}
    rows = [ln.split() for ln in Path("/proc/cgroups").read_text().splitlines()[1:]]
    return [r[0] for r in rows if r[0] in names and r[1] != "0"]


def release_hierarchies(mounted: list[str], root: Path) -> list[str]:
    """Make sure the test's hierarchies are gone; returns the ones that stay.

    A v1 hierarchy dies at umount only if no child cgroup is still being torn down;
    otherwise it lingers unmounted (keeping hugetlb away from cgroup2). Mounting and
    unmounting it again, with no children left, releases it.
    """
    for attempt in range(50):
        left = bound(mounted)
        if not left:
            return []
        time.sleep(0.05)
        if attempt % 10 == 9:
            cycle = "; ".join(
                f"mkdir -p {root}/{m} && mount -t cgroup -o {m} cgroup {root}/{m} && umount {root}/{m}"
                for m in mounted
            )
            subprocess.run(
                [
                    "unshare",
                    "-m",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    f"mount -t tmpfs pyrt-test {root} && {{ {cycle}; }}; umount {root}",
                ],
                check=False,
                capture_output=True,
                timeout=30,
            )
    return bound(mounted)


def test_v1_real_extra_hierarchies_released_after_test(extra):
    assert extra["still_bound"] == []


def test_v1_real_net_cls_classid_and_net_prio_ifpriomap(extra):
    if "net_cls,net_prio" not in extra["mounted"]:
        pytest.skip("net_cls/net_prio cannot be mounted here")
    assert extra["files"]["net_cls.classid"].strip() == "1048577"
    assert "lo 5" in extra["files"]["net_prio.ifpriomap"].splitlines()
    assert f"net_cls,net_prio:{extra['path']}" in extra["cgroup"]


def test_v1_real_hugetlb_limit_and_stats(extra):
    if "hugetlb" not in extra["mounted"]:
        pytest.skip("hugetlb is busy in cgroup2 or not available")
    assert extra["files"]["hugetlb.2MB.limit_in_bytes"].strip() == "4194304"
    assert "2MB" in extra["stats_hugetlb"] and "failcnt" in extra["stats_hugetlb"]["2MB"]


def test_v1_real_perf_event_joined(extra):
    if "perf_event" not in extra["mounted"]:
        pytest.skip("perf_event cannot be mounted here")
    assert f"perf_event:{extra['path']}" in extra["cgroup"]
