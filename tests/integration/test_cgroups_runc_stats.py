"""Side by side with runc: our stats() has the field names ``runc events --stats`` prints.

Runs only where runc and a static busybox are installed. runc creates a container in
a cgroup under a unique test prefix; both tools then read the same cgroup.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pyruntime.cgroups import open_manager, paths

RUNC = shutil.which("runc")
BUSYBOX = shutil.which("busybox")

pytestmark = [
    pytest.mark.root,
    pytest.mark.cgroup_v1,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(RUNC is None or BUSYBOX is None, reason="needs runc and busybox"),
    pytest.mark.skipif(paths.is_cgroup2_root("/sys/fs/cgroup"), reason="v1 host comparison"),
]


def shape(v: Any) -> Any:
    """Keys (recursively) and value kinds; list items by the shape of their first entry."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    return type(v).__name__


@pytest.fixture
def runc_container(tmp_path):
    bundle = tmp_path / "bundle"
    rootfs = bundle / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, rootfs / "bin" / "busybox")
    for tool in ("sh", "sleep"):
        os.symlink("busybox", rootfs / "bin" / tool)
    subprocess.run([RUNC, "spec"], cwd=bundle, check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    prefix = f"/pyrt-test-{secrets.token_hex(4)}"
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["/bin/sleep", "60"]
    cfg["linux"]["cgroupsPath"] = f"{prefix}/runc"
    cfg["linux"]["resources"] = {
        "devices": [{"allow": False, "access": "rwm"}],
        "memory": {"limit": 67108864},
        "pids": {"limit": 50},
    }
    (bundle / "config.json").write_text(json.dumps(cfg))
    state = tmp_path / "state"
    cid = "pyrt-stats-" + secrets.token_hex(3)
    run = lambda *a: subprocess.run(
        [RUNC, "--root", str(state), *a],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    try:
        # The container inherits create's stdio: no pipes there, or reading never ends.
        with open(tmp_path / "create.err", "w+") as err:
            created = subprocess.run(
                [RUNC, "--root", str(state), "create", "--bundle", str(bundle), cid],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                check=False,
                timeout=60,
            )
            err.seek(0)
            if created.returncode != 0:
                pytest.skip(f"runc create failed here: {err.read().strip()}")
        run("start", cid)
        yield run, cid, f"{prefix}/runc"
    finally:
        run("delete", "--force", cid)
        for mount in set(paths.discover_v1("/sys/fs/cgroup").values()):
            d = Path(mount + prefix)
            if d.is_dir():
                for sub in sorted(
                    (p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(str(p))
                ):
                    sub.rmdir()
                d.rmdir()


def test_stats_same_field_names_as_runc_events(runc_container):
    run, cid, cgpath = runc_container
    out = run("events", "--stats", cid)
    assert out.returncode == 0, out.stderr
    event = json.loads(out.stdout)
    assert event["type"] == "stats"
    theirs = event["data"]
    ours = open_manager(cgpath, cid).stats()
    assert set(ours) == set(theirs)
    for section in ("cpu", "cpuset", "pids", "blkio", "hugetlb", "intel_rdt"):
        assert shape(ours[section]) == shape(theirs[section]), section
    # memory.raw has the same keys; numbers move between the two reads.
    mine, ref = ours["memory"], theirs["memory"]
    assert set(mine) == set(ref)
    assert set(mine["raw"]) == set(ref["raw"])
    for entry in ("usage", "swap", "kernel", "kernelTCP"):
        assert set(mine[entry]) == set(ref[entry]), entry
        assert mine[entry]["limit"] == ref[entry]["limit"], entry
    assert ours["pids"] == theirs["pids"]


def test_pids_match_runc_ps(runc_container):
    run, cid, cgpath = runc_container
    out = run("ps", "--format", "json", cid)
    assert out.returncode == 0, out.stderr
    assert sorted(json.loads(out.stdout)) == sorted(open_manager(cgpath, cid).pids())


def test_frozen_matches_runc_pause(runc_container):
    run, cid, cgpath = runc_container
    mgr = open_manager(cgpath, cid)
    assert run("pause", cid).returncode == 0
    assert mgr.frozen()
    assert run("resume", cid).returncode == 0
    assert not mgr.frozen()
    mgr.freeze()
    assert json.loads(run("state", cid).stdout)["status"] == "paused"
    mgr.thaw()
    assert json.loads(run("state", cid).stdout)["status"] == "running"
