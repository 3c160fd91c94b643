"""V1Manager against a temporary directory tree: pins the exact files and values written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyruntime.cgroups import fsio, open_manager
from pyruntime.errors import CgroupError, SpecError

# Files of a v1 cgroup directory per hierarchy, with the values a fresh child shows.
FILES: dict[str, dict[str, str]] = {
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": "", "cpuset.cpu_exclusive": "0"},
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm\n"},
    "memory": {
        "memory.limit_in_bytes": "9223372036854771712\n",
        "memory.memsw.limit_in_bytes": "9223372036854771712\n",
        "memory.soft_limit_in_bytes": "9223372036854771712\n",
        "memory.kmem.limit_in_bytes": "9223372036854771712\n",
        "memory.kmem.tcp.limit_in_bytes": "9223372036854771712\n",
        "memory.usage_in_bytes": "4096\n",
        "memory.max_usage_in_bytes": "8192\n",
        "memory.swappiness": "60\n",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        "memory.use_hierarchy": "1\n",
        "cgroup.event_control": "",
    },
    "cpu,cpuacct": {
        "cpu.shares": "1024\n",
        "cpu.cfs_period_us": "100000\n",
        "cpu.cfs_quota_us": "-1\n",
        "cpu.cfs_burst_us": "0\n",
        "cpu.rt_period_us": "1000000\n",
        "cpu.rt_runtime_us": "0\n",
        "cpu.idle": "0\n",
        "cpu.stat": "nr_periods 5\nnr_throttled 2\nthrottled_time 777\n",
        "cpuacct.usage": "123456\n",
        "cpuacct.usage_percpu": "100000 23456 \n",
        "cpuacct.usage_all": "cpu user system\n0 90000 10000\n1 20000 3456\n",
        "cpuacct.stat": "user 3\nsystem 1\n",
    },
    "pids": {"pids.max": "max\n", "pids.current": "2\n"},
    "blkio": {
        "blkio.bfq.weight": "100\n",
        "blkio.bfq.weight_device": "",
        "blkio.leaf_weight": "",
        "blkio.leaf_weight_device": "",
        "blkio.throttle.read_bps_device": "",
        "blkio.throttle.write_bps_device": "",
        "blkio.throttle.read_iops_device": "",
        "blkio.throttle.write_iops_device": "",
    },
    "hugetlb": {
        "hugetlb.2MB.limit_in_bytes": "",
        "hugetlb.1GB.limit_in_bytes": "",
        "hugetlb.2MB.rsvd.limit_in_bytes": "",
        "hugetlb.1GB.rsvd.limit_in_bytes": "",
    },
    "net_cls,net_prio": {"net_cls.classid": "0\n", "net_prio.ifpriomap": ""},
    "rdma": {"rdma.max": ""},
    "freezer": {"freezer.state": "THAWED\n", "freezer.self_freezing": "0\n"},
    "systemd": {},
}


def build_tree(
    tmp_path: Path, leaf: str = "c1", hierarchies: tuple[str, ...] = tuple(FILES)
) -> Path:
    root = tmp_path / "cg"
    for h in hierarchies:
        mount = root / h
        for d in (mount, mount / leaf):
            d.mkdir(parents=True, exist_ok=True)
            (d / "cgroup.procs").write_text("")
            for name, content in FILES[h].items():
                (d / name).write_text(content)
        if h == "cpuset":
            (mount / "cpuset.cpus").write_text("0-3\n")
            (mount / "cpuset.mems").write_text("0\n")
    return root


def writes_under(log: list[tuple[str, str]], root: Path) -> list[tuple[str, str]]:
    return [(os.path.relpath(p, root), v) for p, v in log]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return build_tree(tmp_path)


def test_v1_create_copies_cpuset_from_parent_at_every_level(tmp_path):
    root = build_tree(tmp_path, leaf="x")
    mgr = open_manager("/a/b", "b", root=str(root))
    with fsio.record_writes() as log:
        # A fake tree's new directories have no files: seed what cgroupfs would show.
        orig = fsio.mkdir_p

        def mkdir_with_files(path, on_new=None):
            orig(path, on_new)
            for n in ("cpuset.cpus", "cpuset.mems", "cgroup.procs"):
                p = os.path.join(path, n)
                if "cpuset" in path and not os.path.exists(p):
                    Path(p).write_text("")

        fsio.mkdir_p = mkdir_with_files  # type: ignore[assignment]
        try:
            mgr.create()
        finally:
            fsio.mkdir_p = orig  # type: ignore[assignment]
    assert writes_under(log, root) == [
        ("cpuset/a/cpuset.cpus", "0-3"),
        ("cpuset/a/cpuset.mems", "0"),
        ("cpuset/a/b/cpuset.cpus", "0-3"),
        ("cpuset/a/b/cpuset.mems", "0"),
    ]
    for h in ("memory", "devices", "cpu,cpuacct", "systemd", "freezer"):
        assert (root / h / "a" / "b").is_dir()


def test_v1_set_full_resources_exact_writes(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    res = {
        "memory": {
            "limit": 33554432,
            "reservation": 1048576,
            "swap": 67108864,
            "kernel": 1 << 30,
            "kernelTCP": 1 << 29,
            "swappiness": 10,
            "disableOOMKiller": True,
            "useHierarchy": True,
        },
        "cpu": {
            "shares": 512,
            "quota": 50000,
            "period": 100000,
            "burst": 1000,
            "realtimeRuntime": 950,
            "realtimePeriod": 1000,
            "cpus": "0-1",
            "mems": "0",
            "idle": 0,
        },
        "pids": {"limit": 10},
        "blockIO": {
            "weight": 300,
            "leafWeight": 200,
            "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 50}],
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
            "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2000}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 30}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 40}],
        },
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 2}]},
        "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
        "devices": [
            {"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
        ],
    }
    with fsio.record_writes() as log:
        mgr.set(res, [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3}])
    w = writes_under(log, tree)
    assert w == [
        ("cpuset/c1/cpuset.cpus", "0-1"),
        ("cpuset/c1/cpuset.mems", "0"),
        ("memory/c1/memory.kmem.limit_in_bytes", str(1 << 30)),
        ("memory/c1/memory.kmem.tcp.limit_in_bytes", str(1 << 29)),
        # current limit (huge) >= new swap: memory first, then memsw.
        ("memory/c1/memory.limit_in_bytes", "33554432"),
        ("memory/c1/memory.memsw.limit_in_bytes", "67108864"),
        ("memory/c1/memory.soft_limit_in_bytes", "1048576"),
        ("memory/c1/memory.oom_control", "1"),
        ("memory/c1/memory.swappiness", "10"),
        ("cpu,cpuacct/c1/cpu.rt_period_us", "1000"),
        ("cpu,cpuacct/c1/cpu.rt_runtime_us", "950"),
        ("cpu,cpuacct/c1/cpu.shares", "512"),
        ("cpu,cpuacct/c1/cpu.cfs_period_us", "100000"),
        ("cpu,cpuacct/c1/cpu.cfs_quota_us", "50000"),
        ("cpu,cpuacct/c1/cpu.cfs_burst_us", "1000"),
        ("cpu,cpuacct/c1/cpu.idle", "0"),
        ("pids/c1/pids.max", "10"),
        ("blkio/c1/blkio.bfq.weight", "300"),
        ("blkio/c1/blkio.leaf_weight", "200"),
        ("blkio/c1/blkio.bfq.weight_device", "8:0 500"),
        ("blkio/c1/blkio.leaf_weight_device", "8:0 50"),
        ("blkio/c1/blkio.throttle.read_bps_device", "8:0 1000"),
        ("blkio/c1/blkio.throttle.write_bps_device", "8:0 2000"),
        ("blkio/c1/blkio.throttle.read_iops_device", "8:0 30"),
        ("blkio/c1/blkio.throttle.write_iops_device", "8:0 40"),
        ("hugetlb/c1/hugetlb.2MB.limit_in_bytes", "4194304"),
        ("hugetlb/c1/hugetlb.2MB.rsvd.limit_in_bytes", "4194304"),
        ("net_cls,net_prio/c1/net_cls.classid", "1048577"),
        ("net_cls,net_prio/c1/net_prio.ifpriomap", "lo 2"),
        ("rdma/c1/rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"),
        # the device rules last (set_parsed: set_limits, then prepare_devices' step)
        ("devices/c1/devices.deny", "a"),
        ("devices/c1/devices.allow", "c 10:229 rw"),
        ("devices/c1/devices.allow", "c *:* m"),
        ("devices/c1/devices.allow", "b *:* m"),
        # c 1:3 (/dev/null) is dropped: linux.devices redefines that path.
        ("devices/c1/devices.allow", "c 1:8 rwm"),
        ("devices/c1/devices.allow", "c 1:7 rwm"),
        ("devices/c1/devices.allow", "c 5:0 rwm"),
        ("devices/c1/devices.allow", "c 1:5 rwm"),
        ("devices/c1/devices.allow", "c 1:9 rwm"),
        ("devices/c1/devices.allow", "c 136:* rwm"),
        ("devices/c1/devices.allow", "c 5:2 rwm"),
        ("devices/c1/devices.allow", "c 10:200 rwm"),
    ]


def test_v1_set_swap_raise_writes_memsw_first(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    (tree / "memory/c1/memory.limit_in_bytes").write_text("1000\n")
    with fsio.record_writes() as log:
        mgr.update({"memory": {"limit": 2000, "swap": 4000}})
    assert writes_under(log, tree) == [
        ("memory/c1/memory.memsw.limit_in_bytes", "4000"),
        ("memory/c1/memory.limit_in_bytes", "2000"),
    ]


def test_v1_set_memory_unlimited_sets_memsw_unlimited(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    with fsio.record_writes() as log:
        mgr.update({"memory": {"limit": -1}})
    assert writes_under(log, tree) == [
        ("memory/c1/memory.memsw.limit_in_bytes", "-1"),
        ("memory/c1/memory.limit_in_bytes", "-1"),
    ]


def test_v1_update_docker_zeros_leave_unchanged(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    with fsio.record_writes() as log:
        mgr.update(
            {
                "memory": {"limit": 0, "reservation": 10485760, "kernel": 0},
                "cpu": {"shares": 0, "quota": 150000, "period": 0, "cpus": "0"},
                "pids": {"limit": 0},
                "blockIO": {"weight": 0},
                "devices": [{"allow": False, "access": "rwm"}],
            }
        )
    assert writes_under(log, tree) == [
        ("cpuset/c1/cpuset.cpus", "0"),
        ("memory/c1/memory.soft_limit_in_bytes", "10485760"),
        ("cpu,cpuacct/c1/cpu.cfs_quota_us", "150000"),
    ]


def test_v1_set_pids_negative_is_max(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    with fsio.record_writes() as log:
        mgr.update({"pids": {"limit": -1}})
    assert writes_under(log, tree) == [("pids/c1/pids.max", "max")]


def test_v1_set_unified_refused(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    with pytest.raises(CgroupError, match="cannot use unified on cgroup v1"):
        mgr.set({"unified": {"memory.high": "1"}})


def test_v1_set_missing_controller_clear_error(tmp_path):
    root = build_tree(tmp_path, hierarchies=("cpuset", "devices", "memory", "freezer"))
    mgr = open_manager("/c1", "c1", root=str(root))
    with pytest.raises(
        CgroupError, match="cannot set hugetlb limit: the hugetlb cgroup controller is not mounted"
    ):
        mgr.set({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]})


def test_v1_set_missing_knob_names_file_and_value(tree):
    os.unlink(tree / "pids/c1/pids.max")
    mgr = open_manager("/c1", "c1", root=str(tree))
    with pytest.raises(CgroupError) as ei:
        mgr.update({"pids": {"limit": 5}})
    assert "'5'" in str(ei.value) and "pids/c1/pids.max" in str(ei.value)
    assert "no such file or directory" in str(ei.value)


def test_v1_set_malformed_resources_spec_error(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    with pytest.raises(SpecError):
        mgr.set({"memory": {"limit": "lots"}})


def test_v1_check_before_update_rejects_low_limit(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    with pytest.raises(CgroupError, match="rejecting memory limit 4096 <= usage 4096"):
        mgr.update({"memory": {"limit": 4096, "checkBeforeUpdate": True}})


def test_v1_cpu_shares_clamped_by_kernel_reports_max(tree, monkeypatch):
    mgr = open_manager("/c1", "c1", root=str(tree))
    real_write = fsio.write

    def clamping_write(path, value):
        real_write(path, value)
        if path.endswith("cpu.shares"):
            Path(path).write_text("262144\n")

    monkeypatch.setattr(fsio, "write", clamping_write)
    with pytest.raises(CgroupError, match="the maximum allowed cpu-shares is 262144"):
        mgr.update({"cpu": {"shares": 500000}})


def test_v1_kernel_memory_missing_knob_ignored(tree, caplog):
    os.unlink(tree / "memory/c1/memory.kmem.limit_in_bytes")
    mgr = open_manager("/c1", "c1", root=str(tree))
    with fsio.record_writes() as log:
        mgr.update({"memory": {"kernel": 100}})
    assert log == []
    assert "kernel memory limits are not supported" in caplog.text


def test_v1_apply_writes_pid_in_every_hierarchy_once(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    with fsio.record_writes() as log:
        mgr.apply(4242)
    dirs = sorted(os.path.relpath(p, tree) for p, _ in log)
    assert {v for _, v in log} == {"4242"}
    assert dirs == sorted(f"{h}/c1/cgroup.procs" for h in FILES)


def test_v1_freeze_thaw_frozen(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    assert not mgr.frozen()
    mgr.freeze()
    assert (tree / "freezer/c1/freezer.state").read_text() == "FROZEN"
    (tree / "freezer/c1/freezer.self_freezing").write_text("1\n")
    assert mgr.frozen()
    mgr.thaw()
    assert (tree / "freezer/c1/freezer.state").read_text() == "THAWED"
    assert not mgr.frozen()


def test_v1_frozen_by_parent_is_not_paused(tree):
    mgr = open_manager("/c1", "c1", root=str(tree))
    (tree / "freezer/c1/freezer.state").write_text("FROZEN\n")
    (tree / "freezer/c1/freezer.self_freezing").write_text("0\n")
    assert not mgr.frozen()


def test_v1_pids_recursive(tree):
    (tree / "devices/c1/cgroup.procs").write_text("10\n11\n")
    (tree / "devices/c1/sub").mkdir()
    (tree / "devices/c1/sub/cgroup.procs").write_text("12\n")
    mgr = open_manager("/c1", "c1", root=str(tree))
    assert mgr.pids() == [10, 11, 12]


def test_v1_destroy_removes_leaf_keeps_parents_and_roots(tmp_path):
    root = build_tree(tmp_path, leaf="p/c1")
    mgr = open_manager("/p/c1", "c1", root=str(root))
    assert mgr.exists()
    mgr.destroy()
    assert not mgr.exists()
    assert (root / "memory" / "p").is_dir()
    mgr.destroy()  # missing directories are fine


def test_v1_destroy_root_path_never_removes_mounts(tree):
    mgr = open_manager("/", "c1", root=str(tree))
    mgr.destroy()
    assert (tree / "memory").is_dir()


def test_v1_stats_shape_and_values(tree):
    (tree / "memory/c1/memory.stat").write_text("cache 100\nrss 200\n")
    (tree / "memory/c1/memory.failcnt").write_text("3\n")
    (tree / "memory/c1/memory.limit_in_bytes").write_text("1048576\n")
    (tree / "blkio/c1/blkio.throttle.io_service_bytes_recursive").write_text(
        "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n"
    )
    (tree / "blkio/c1/blkio.throttle.io_serviced_recursive").write_text("8:0 Read 1\nTotal 1\n")
    (tree / "cpuset/c1/cpuset.cpus").write_text("0-1,3\n")
    mgr = open_manager("/c1", "c1", root=str(tree))
    st = mgr.stats()
    assert set(st) == {
        "cpu",
        "cpuset",
        "memory",
        "pids",
        "blkio",
        "hugetlb",
        "intel_rdt",
        "network_interfaces",
    }
    assert st["cpu"]["usage"] == {
        "total": 123456,
        "percpu": [100000, 23456],
        "percpu_kernel": [10000, 3456],
        "percpu_user": [90000, 20000],
        "kernel": 1 * 10**9 // os.sysconf("SC_CLK_TCK"),
        "user": 3 * 10**9 // os.sysconf("SC_CLK_TCK"),
    }
    assert st["cpu"]["throttling"] == {"periods": 5, "throttledPeriods": 2, "throttledTime": 777}
    assert st["memory"]["cache"] == 100
    assert st["memory"]["usage"] == {"limit": 1048576, "usage": 4096, "max": 8192, "failcnt": 3}
    assert st["memory"]["raw"] == {"cache": 100, "rss": 200}
    assert st["pids"] == {"current": 2}
    assert st["cpuset"]["cpus"] == [0, 1, 3]
    # runc's omitempty drops zero minor/value fields too.
    assert st["blkio"] == {
        "ioServiceBytesRecursive": [
            {"major": 8, "op": "Read", "value": 4096},
            {"major": 8, "op": "Write"},
        ],
        "ioServicedRecursive": [{"major": 8, "op": "Read", "value": 1}],
    }
    assert st["network_interfaces"] is None


def test_write_each_checked_writes_every_value_through_one_open(tmp_path: Path) -> None:
    target = tmp_path / "devices.allow"
    target.write_text("")
    fsio.write_each_checked(str(tmp_path), "devices.allow", ["c 1:3 rwm", "c 1:5 rwm"])
    assert target.read_text() == "c 1:3 rwmc 1:5 rwm"  # a regular file keeps both writes
    with pytest.raises(CgroupError, match=r"unable to write 'a' to .*/devices.deny"):
        fsio.write_each_checked(str(tmp_path), "devices.deny", ["a"])


def test_v1_reopen_with_recorded_paths_and_mounts_does_not_look_again(tree):
    """state.json keeps joinable_paths() and mounts: delete, kill --all and pause reopen the
    cgroup without listing the cgroup root (0.2 ms), and still never remove a hierarchy."""
    first = open_manager("/c1", "c1", root=str(tree))
    paths, mounts = first.joinable_paths(), first.mounts
    assert mounts and set(paths) <= set(mounts)
    os.rename(tree / "memory", tree / "memory.moved")  # a fresh discovery would miss it
    again = open_manager(None, "c1", root=str(tree), paths=paths, mounts=mounts)
    assert (again.path, again.joinable_paths(), again.mounts) == ("/c1", paths, mounts)
    assert "memory" not in open_manager(None, "c1", root=str(tree), paths=paths).mounts
