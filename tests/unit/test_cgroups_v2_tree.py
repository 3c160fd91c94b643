"""V2Manager against a temporary directory tree: exact v2 file names and values.

This host's cgroup2 mount offers no cpu/memory/io/pids controllers, so these files
are pinned here; test_cgroups_v2.py covers the core files on the real mount.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyruntime.cgroups import bpfprog, fsio, open_manager
from pyruntime.cgroups.v2 import V2Manager
from pyruntime.errors import CgroupError

LEAF_FILES = {
    "cgroup.procs": "",
    "cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma\n",
    "cgroup.subtree_control": "",
    "cgroup.freeze": "0\n",
    "cgroup.events": "populated 0\nfrozen 0\n",
    "cgroup.kill": "",
    "cpu.weight": "100\n",
    "cpu.max": "max 100000\n",
    "cpu.max.burst": "0\n",
    "cpu.idle": "0\n",
    "cpu.stat": "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\n"
    "throttled_usec 30\n",
    "cpuset.cpus": "",
    "cpuset.mems": "",
    "cpuset.cpus.effective": "0-1\n",
    "cpuset.mems.effective": "0\n",
    "memory.max": "max\n",
    "memory.low": "0\n",
    "memory.high": "max\n",
    "memory.swap.max": "max\n",
    "memory.current": "8192\n",
    "memory.peak": "16384\n",
    "memory.swap.current": "0\n",
    "memory.events": "low 0\nhigh 0\nmax 2\noom 0\noom_kill 0\n",
    "memory.stat": "anon 4096\nfile 4096\n",
    "io.weight": "default 100\n",
    "io.max": "",
    "io.stat": "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
    "pids.max": "max\n",
    "pids.current": "1\n",
    "hugetlb.2MB.max": "max\n",
    "hugetlb.2MB.rsvd.max": "max\n",
    "hugetlb.2MB.current": "0\n",
    "hugetlb.2MB.events": "max 0\n",
    "rdma.max": "",
}


@pytest.fixture
def loaded(monkeypatch):
    """Capture device programs instead of calling bpf(2)."""
    calls: list[tuple[str, bytes]] = []
    monkeypatch.setattr(
        V2Manager, "device_loader", staticmethod(lambda d, code: calls.append((d, code)))
    )
    return calls


def build_tree(tmp_path: Path, leaf: str = "c1") -> Path:
    root = tmp_path / "cg2"
    root.mkdir()
    for name, content in (
        ("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma\n"),
        ("cgroup.subtree_control", ""),
        ("cgroup.procs", ""),
    ):
        (root / name).write_text(content)
    d = root / leaf
    d.mkdir(parents=True)
    for name, content in LEAF_FILES.items():
        (d / name).write_text(content)
    return root


def rel(log, root):
    return [(os.path.relpath(p, root), v) for p, v in log]


@pytest.fixture
def tree(tmp_path):
    return build_tree(tmp_path)


def test_v2_create_enables_controllers_in_every_ancestor(tmp_path):
    root = build_tree(tmp_path, leaf="a/b")
    (root / "a" / "cgroup.subtree_control").write_text("")
    mgr = open_manager("/a/b/c", "c", root=str(root))
    orig = fsio.mkdir_p

    def mkdir_seeded(path, on_new=None):
        orig(path, on_new)
        sub = Path(path) / "cgroup.subtree_control"
        if not sub.exists():
            sub.write_text("")

    fsio.mkdir_p = mkdir_seeded  # type: ignore[assignment]
    try:
        with fsio.record_writes() as log:
            mgr.create()
    finally:
        fsio.mkdir_p = orig  # type: ignore[assignment]
    ctl = "+cpuset +cpu +io +memory +hugetlb +pids +rdma"
    assert rel(log, root) == [
        ("cgroup.subtree_control", ctl),
        ("a/cgroup.subtree_control", ctl),
        ("a/b/cgroup.subtree_control", ctl),
    ]
    assert (root / "a/b/c").is_dir()


def test_v2_create_skips_enabled_controllers(tmp_path):
    root = build_tree(tmp_path)
    (root / "cgroup.subtree_control").write_text("cpuset cpu io memory hugetlb pids rdma\n")
    with fsio.record_writes() as log:
        open_manager("/c1", "c1", root=str(root)).create()
    assert log == []


def test_v2_set_full_resources_exact_writes(tree, loaded):
    mgr = open_manager("/c1", "c1", root=str(tree))
    res = {
        "memory": {"limit": 33554432, "reservation": 1048576, "swap": 67108864},
        "cpu": {
            "shares": 512,
            "quota": 50000,
            "period": 200000,
            "burst": 1000,
            "cpus": "0",
            "mems": "0",
            "idle": 1,
        },
        "pids": {"limit": 10},
        "blockIO": {
            "weight": 500,
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
            "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2000}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 30}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 40}],
        },
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
        "unified": {"memory.high": "30000000", "io.max": "8:16 rbps=1\n8:32 wbps=2"},
        "devices": [{"allow": False, "access": "rwm"}],
    }
    with fsio.record_writes() as log:
        mgr.set(res)
    assert rel(log, tree) == [
        ("c1/pids.max", "10"),
        ("c1/memory.swap.max", "33554432"),  # 64M total - 32M memory
        ("c1/memory.max", "33554432"),
        ("c1/memory.low", "1048576"),
        ("c1/io.weight", "4950"),  # blkio 500 -> io.weight
        ("c1/io.max", "8:0 rbps=1000"),
        ("c1/io.max", "8:0 wbps=2000"),
        ("c1/io.max", "8:0 riops=30"),
        ("c1/io.max", "8:0 wiops=40"),
        ("c1/cpu.idle", "1"),
        ("c1/cpu.weight", "59"),  # shares 512 -> weight
        ("c1/cpu.max.burst", "1000"),
        ("c1/cpu.max", "50000 200000"),
        ("c1/cpuset.cpus", "0"),
        ("c1/cpuset.mems", "0"),
        ("c1/hugetlb.2MB.max", "4194304"),
        ("c1/hugetlb.2MB.rsvd.max", "4194304"),
        ("c1/rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"),
        ("c1/memory.high", "30000000"),
        ("c1/io.max", "8:16 rbps=1"),
        ("c1/io.max", "8:32 wbps=2"),
    ]
    [(d, code)] = loaded
    assert d == str(tree / "c1")
    assert not bpfprog.run_program(code, "c", 10, 229, "r")
    assert bpfprog.run_program(code, "c", 1, 3, "rw")  # runc default list


def test_v2_set_bfq_weight_used_when_present(tree, loaded):
    (tree / "c1/io.bfq.weight").write_text("default 100\n")
    mgr = open_manager("/c1", "c1", root=str(tree))
    with fsio.record_writes() as log:
        mgr.update(
            {"blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 50}]}}
        )
    assert rel(log, tree) == [("c1/io.bfq.weight", "300"), ("c1/io.bfq.weight", "8:0 50")]


def test_v2_update_quota_only_keeps_period(tree):
    (tree / "c1/cpu.max").write_text("max 250000\n")
    mgr = open_manager("/c1", "c1", root=str(tree))
    with fsio.record_writes() as log:
        mgr.update({"cpu": {"shares": 0, "quota": 150000, "period": 0}})
    assert rel(log, tree) == [("c1/cpu.max", "150000 250000")]


def test_v2_update_period_only_keeps_quota(tree):
    (tree / "c1/cpu.max").write_text("20000 100000\n")
    mgr = open_manager("/c1", "c1", root=str(tree))
    with fsio.record_writes() as log:
        mgr.update({"cpu": {"period": 50000}})
    assert rel(log, tree) == [("c1/cpu.max", "20000 50000")]


def test_v2_update_negative_quota_is_max(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    with fsio.record_writes() as log:
        mgr.update({"cpu": {"quota": -1}})
    assert rel(log, tree) == [("c1/cpu.max", "max 100000")]


def test_v2_update_swap_only_uses_current_memory_max(tree):
    (tree / "c1/memory.max").write_text("1000\n")
    mgr = open_manager("/c1", "c1", root=str(tree))
    with fsio.record_writes() as log:
        mgr.update({"memory": {"swap": 3000}})
    assert rel(log, tree) == [("c1/memory.swap.max", "2000")]


def test_v2_memory_unlimited_sets_swap_max(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    with fsio.record_writes() as log:
        mgr.update({"memory": {"limit": -1}})
    assert rel(log, tree) == [("c1/memory.swap.max", "max"), ("c1/memory.max", "max")]


def test_v2_swap_without_accounting_zero_is_fine(tree):
    os.unlink(tree / "c1/memory.swap.max")
    mgr = open_manager("/c1", "c1", root=str(tree))
    mgr.update({"memory": {"limit": 1000, "swap": 1000}})
    assert (tree / "c1/memory.max").read_text() == "1000"


def test_v2_swap_lower_than_memory_raises(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    with pytest.raises(CgroupError, match="memory\\+swap limit should be >= memory limit"):
        mgr.update({"memory": {"limit": 1000, "swap": 500}})


def test_v2_update_does_not_touch_devices(tree, loaded):
    mgr = open_manager("/c1", "c1", root=str(tree))
    mgr.update({"pids": {"limit": 3}, "devices": [{"allow": False, "access": "rwm"}]})
    assert loaded == []
    assert (tree / "c1/pids.max").read_text() == "3"


def test_v2_v1_only_fields_warn_and_write_nothing(tree, caplog):
    mgr = open_manager("/c1", "c1", root=str(tree))
    with fsio.record_writes() as log:
        mgr.update(
            {
                "memory": {"swappiness": 10, "kernel": 5},
                "cpu": {"realtimeRuntime": 5},
                "network": {"classID": 3},
            }
        )
    assert log == []
    assert "not supported on cgroup v2" in caplog.text and "memory.swappiness" in caplog.text


@pytest.mark.parametrize(
    "key, msg",
    [
        ("../x", "must be a file name"),
        ("nodot", "must be in the form CONTROLLER.PARAMETER"),
        ("misc.max", "controller 'misc' not available"),
    ],
)
def test_v2_unified_bad_key_clear_error(tree, key, msg):
    mgr = open_manager("/c1", "c1", root=str(tree))
    with pytest.raises(CgroupError, match=msg):
        mgr.update({"unified": {key: "1"}})


def test_v2_freeze_thaw_frozen(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    (tree / "c1/cgroup.events").write_text("populated 1\nfrozen 1\n")
    mgr.freeze()
    assert mgr.frozen()
    mgr.thaw()
    assert not mgr.frozen()


def test_v2_signal_all_sigkill_uses_cgroup_kill(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    with fsio.record_writes() as log:
        mgr.signal_all(9)
    assert rel(log, tree) == [("c1/cgroup.kill", "1")]


def test_v2_stats_shape_and_values(tree, tmp_path):
    hp = tmp_path / "hugepages"
    (hp / "hugepages-2048kB").mkdir(parents=True)
    from pyruntime.cgroups.stats import v2_stats

    st = v2_stats(str(tree / "c1"), hugepages_dir=str(hp))
    assert st["cpu"] == {
        "usage": {"total": 2000000, "kernel": 500000, "user": 1500000},
        "throttling": {"periods": 4, "throttledPeriods": 1, "throttledTime": 30000},
    }
    assert st["memory"]["usage"] == {"limit": 2**64 - 1, "usage": 8192, "max": 16384, "failcnt": 2}
    assert st["memory"]["cache"] == 4096
    assert st["pids"] == {"current": 1}
    assert st["cpuset"]["cpus"] == [0, 1]
    assert st["blkio"] == {
        "ioServiceBytesRecursive": [
            {"major": 8, "op": "Read", "value": 4096},
            {"major": 8, "op": "Write"},
        ],
        "ioServicedRecursive": [
            {"major": 8, "op": "Read", "value": 1},
            {"major": 8, "op": "Write"},
        ],
    }
    assert st["hugetlb"] == {"2MB": {"failcnt": 0}}


def test_v2_joinable_paths_and_destroy(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    assert mgr.joinable_paths() == {"": str(tree / "c1")}
    mgr.destroy()
    assert not mgr.exists()
    assert tree.is_dir()


def test_v2_oom_watcher_counts_oom_kill_and_gone(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    (tree / "c1/cgroup.events").write_text("populated 1\nfrozen 0\n")
    w = mgr.oom_events()
    try:
        assert w.wait(0.05) is False
        (tree / "c1/memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
        assert w.wait(0.05) is True
        assert w.wait(0.05) is False  # the same kill is reported once
        assert not w.gone
        (tree / "c1/cgroup.events").write_text("populated 0\nfrozen 0\n")
        assert w.wait(0.05) is False and w.gone  # the last process left
    finally:
        w.close()


def test_v2_oom_watcher_reports_gone_when_cgroup_removed(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    (tree / "c1/cgroup.events").write_text("populated 1\nfrozen 0\n")
    w = mgr.oom_events()
    try:
        mgr.destroy()
        assert w.wait(1) is False and w.gone
    finally:
        w.close()
