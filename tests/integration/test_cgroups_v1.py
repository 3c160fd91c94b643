"""Real cgroup v1 tests: every resource this kernel offers, on real hierarchies.

Each test works under a unique /pyrt-test-<random> prefix in every hierarchy, runs
real processes there and removes everything afterwards.
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyruntime.cgroups import open_manager, paths
from pyruntime.cgroups.manager import CgroupManager
from pyruntime.errors import CgroupError

ROOT = "/sys/fs/cgroup"
MOUNTS = paths.discover_v1(ROOT) if os.path.isdir(ROOT) and not paths.is_cgroup2_root(ROOT) else {}

pytestmark = [
    pytest.mark.root,
    pytest.mark.cgroup_v1,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif("memory" not in MOUNTS, reason="needs cgroup v1 hierarchies"),
]


def _has(sub: str) -> bool:
    return sub in MOUNTS


class Env:
    """A test prefix: managers under it and processes to reap at the end."""

    def __init__(self) -> None:
        self.prefix = f"/pyrt-test-{secrets.token_hex(4)}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.managers: list[CgroupManager] = []

    def manager(self, name: str, **kw: object) -> CgroupManager:
        mgr = open_manager(f"{self.prefix}/{name}", name, **kw)  # type: ignore[arg-type]
        self.managers.append(mgr)
        return mgr

    def sleeper(self, mgr: CgroupManager | None = None) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(["sleep", "60"])
        self.procs.append(p)
        if mgr is not None:
            mgr.apply(p.pid)
        return p

    def run_in(self, mgr: CgroupManager, script: str) -> subprocess.CompletedProcess[str]:
        """Run ``sh -c script`` after the shell has joined every hierarchy of ``mgr``."""
        joins = "".join(
            f"echo $$ > {d}/cgroup.procs || exit 99; " for d in set(mgr.joinable_paths().values())
        )
        return subprocess.run(
            ["sh", "-c", joins + script], check=False, capture_output=True, text=True, timeout=30
        )

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        for mgr in reversed(self.managers):
            try:
                mgr.signal_all(signal.SIGKILL)
            except CgroupError:
                pass
            try:
                mgr.thaw()
            except CgroupError:
                pass
            mgr.destroy()
        for mount in set(MOUNTS.values()):
            d = mount + self.prefix
            if os.path.isdir(d):
                for sub, _, _ in sorted(os.walk(d), key=lambda t: -len(t[0])):
                    os.rmdir(sub)


@pytest.fixture
def env() -> Iterator[Env]:
    e = Env()
    try:
        yield e
    finally:
        e.cleanup()


def read(mgr: CgroupManager, sub: str, name: str) -> str:
    return Path(mgr.joinable_paths()[sub], name).read_text().strip()


def test_v1_real_create_apply_every_hierarchy(env):
    mgr = env.manager("c")
    mgr.create()
    assert mgr.exists()
    p = env.sleeper(mgr)
    lines = Path(f"/proc/{p.pid}/cgroup").read_text().splitlines()
    by_ctrl = paths.parse_proc_cgroup("\n".join(lines))
    for sub in ("memory", "cpu", "cpuacct", "cpuset", "devices", "freezer", "pids", "blkio"):
        if _has(sub):
            assert by_ctrl[sub] == mgr.path, sub
    if _has(""):
        assert by_ctrl[""] == mgr.path  # the hybrid cgroup2 directory is joined too
    assert mgr.pids() == [p.pid]


def test_v1_real_create_idempotent_and_cpuset_populated(env):
    mgr = env.manager("a/b/c")
    mgr.create()
    mgr.create()
    parent_cpus = Path(ROOT, "cpuset", "cpuset.cpus").read_text().strip()
    for level in ("a", "a/b", "a/b/c"):
        d = Path(MOUNTS["cpuset"] + env.prefix, level)
        assert (d / "cpuset.cpus").read_text().strip() == parent_cpus
        assert (d / "cpuset.mems").read_text().strip() != ""
    env.sleeper(mgr)  # an empty cpuset would refuse the task with ENOSPC


def test_v1_real_memory_every_knob(env):
    mgr = env.manager("mem")
    mgr.create()
    mgr.set(
        {
            "memory": {
                "limit": 33554432,
                "reservation": 16777216,
                "swap": 67108864,
                "kernel": 1 << 30,
                "kernelTCP": 1 << 29,
                "swappiness": 10,
                "disableOOMKiller": True,
                "useHierarchy": True,
            }
        }
    )
    assert read(mgr, "memory", "memory.limit_in_bytes") == "33554432"
    assert read(mgr, "memory", "memory.soft_limit_in_bytes") == "16777216"
    assert read(mgr, "memory", "memory.memsw.limit_in_bytes") == "67108864"
    assert read(mgr, "memory", "memory.swappiness") == "10"
    assert "oom_kill_disable 1" in read(mgr, "memory", "memory.oom_control")
    assert read(mgr, "memory", "memory.kmem.tcp.limit_in_bytes") == str((1 << 29) // 4096 * 4096)


def test_v1_real_memory_update_raise_and_lower_with_swap(env):
    mgr = env.manager("memup")
    mgr.create()
    mgr.set({"memory": {"limit": 33554432, "swap": 67108864}})
    mgr.update({"memory": {"limit": 134217728, "swap": 268435456}})  # memsw first
    assert read(mgr, "memory", "memory.limit_in_bytes") == "134217728"
    assert read(mgr, "memory", "memory.memsw.limit_in_bytes") == "268435456"
    mgr.update({"memory": {"limit": 16777216, "swap": 20971520}})  # limit first
    assert read(mgr, "memory", "memory.limit_in_bytes") == "16777216"
    assert read(mgr, "memory", "memory.memsw.limit_in_bytes") == "20971520"
    mgr.update({"memory": {"limit": -1}})
    assert int(read(mgr, "memory", "memory.memsw.limit_in_bytes")) > 1 << 60


def test_v1_real_memory_swap_below_limit_kernel_error(env):
    mgr = env.manager("membad")
    mgr.create()
    with pytest.raises(CgroupError, match="memory.memsw.limit_in_bytes.*invalid argument"):
        mgr.set({"memory": {"limit": 33554432, "swap": 1048576}})


@pytest.mark.skipif(not _has("cpu"), reason="no cpu hierarchy")
def test_v1_real_cpu_every_knob(env):
    mgr = env.manager("cpu")
    mgr.create()
    # RT time must be granted down the tree: give the test prefix a budget first.
    Path(MOUNTS["cpu"] + env.prefix, "cpu.rt_runtime_us").write_text("1000")
    mgr.set(
        {
            "cpu": {
                "shares": 512,
                "quota": 50000,
                "period": 200000,
                "burst": 10000,
                "realtimeRuntime": 1000,
                "realtimePeriod": 1000000,
                "idle": 0,
            }
        }
    )
    assert read(mgr, "cpu", "cpu.shares") == "512"
    assert read(mgr, "cpu", "cpu.cfs_quota_us") == "50000"
    assert read(mgr, "cpu", "cpu.cfs_period_us") == "200000"
    assert read(mgr, "cpu", "cpu.cfs_burst_us") == "10000"
    assert read(mgr, "cpu", "cpu.rt_runtime_us") == "1000"
    assert read(mgr, "cpu", "cpu.rt_period_us") == "1000000"
    # A shorter period with the old quota is fine; update keeps the unchanged half.
    mgr.update({"cpu": {"quota": 20000, "period": 0}})
    assert read(mgr, "cpu", "cpu.cfs_quota_us") == "20000"
    assert read(mgr, "cpu", "cpu.cfs_period_us") == "200000"
    mgr.update({"cpu": {"idle": 1}})
    assert read(mgr, "cpu", "cpu.idle") == "1"


def test_v1_real_cpu_shares_out_of_range_reports_kernel_bound(env):
    mgr = env.manager("cpushares")
    mgr.create()
    with pytest.raises(CgroupError, match="the maximum allowed cpu-shares is 262144"):
        mgr.set({"cpu": {"shares": 10_000_000}})


def test_v1_real_cpuset(env):
    mgr = env.manager("cpuset")
    mgr.create()
    mgr.set({"cpu": {"cpus": "0", "mems": "0"}})
    assert read(mgr, "cpuset", "cpuset.cpus") == "0"
    p = env.sleeper(mgr)
    allowed = [
        ln
        for ln in Path(f"/proc/{p.pid}/status").read_text().splitlines()
        if ln.startswith("Cpus_allowed_list")
    ]
    assert allowed == ["Cpus_allowed_list:\t0"]


def test_v1_real_pids_limit_blocks_fork(env):
    mgr = env.manager("pids")
    mgr.create()
    mgr.set({"pids": {"limit": 1}})
    assert read(mgr, "pids", "pids.max") == "1"
    out = env.run_in(mgr, "/bin/true && echo forked")
    assert "forked" not in out.stdout
    mgr.update({"pids": {"limit": -1}})
    assert read(mgr, "pids", "pids.max") == "max"


def test_v1_real_pids_one_memory_1mib_echo_runs(env):
    mgr = env.manager("tiny")
    mgr.create()
    mgr.set({"pids": {"limit": 1}, "memory": {"limit": 1 << 20}})
    out = env.run_in(mgr, "exec /bin/echo hello")
    assert out.returncode == 0 and out.stdout == "hello\n"


def _root_block_device() -> tuple[int, int]:
    st = os.stat("/dev/vda") if os.path.exists("/dev/vda") else None
    if st is None:
        pytest.skip("no /dev/vda")
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def test_v1_real_blkio_weight_and_throttles(env):
    major, minor = _root_block_device()
    mgr = env.manager("blkio")
    mgr.create()
    mgr.set(
        {
            "blockIO": {
                "weight": 300,
                "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
                "throttleWriteBpsDevice": [{"major": major, "minor": minor, "rate": 2097152}],
                "throttleReadIOPSDevice": [{"major": major, "minor": minor, "rate": 100}],
                "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 200}],
            }
        }
    )
    weight_file = (
        "blkio.weight" if os.path.exists(MOUNTS["blkio"] + "/blkio.weight") else "blkio.bfq.weight"
    )
    if os.path.exists(Path(mgr.joinable_paths()["blkio"], weight_file)):
        assert read(mgr, "blkio", weight_file).split()[-1] == "300"
    dev = f"{major}:{minor}"
    assert read(mgr, "blkio", "blkio.throttle.read_bps_device") == f"{dev} 1048576"
    assert read(mgr, "blkio", "blkio.throttle.write_bps_device") == f"{dev} 2097152"
    assert read(mgr, "blkio", "blkio.throttle.read_iops_device") == f"{dev} 100"
    assert read(mgr, "blkio", "blkio.throttle.write_iops_device") == f"{dev} 200"


def test_v1_real_devices_docker_rules_enforced(env):
    mgr = env.manager("dev")
    mgr.create()
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    ]
    # /dev/null in linux.devices drops runc's default allow of c 1:3.
    mgr.set({"devices": rules}, [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3}])
    listing = read(mgr, "devices", "devices.list").splitlines()
    assert "c 1:5 rwm" in listing and "c 136:* rwm" in listing and "c *:* m" in listing
    assert "c 1:3 rwm" not in listing
    out = env.run_in(mgr, "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo wrote")
    assert out.stdout.split()[0] == "4"
    assert "wrote" not in out.stdout and "not permitted" in out.stderr


def test_v1_real_freeze_thaw(env):
    mgr = env.manager("frz")
    mgr.create()
    p = env.sleeper(mgr)
    mgr.freeze()
    assert mgr.frozen()
    assert read(mgr, "freezer", "freezer.state") == "FROZEN"
    mgr.thaw()
    assert not mgr.frozen()
    assert p.poll() is None


def test_v1_real_signal_all_kills_every_process(env):
    mgr = env.manager("kill")
    mgr.create()
    procs = [env.sleeper(mgr) for _ in range(3)]
    mgr.signal_all(signal.SIGKILL)
    for p in procs:
        assert p.wait(timeout=5) == -signal.SIGKILL
    assert not mgr.frozen()


def test_v1_real_stats_shape(env):
    mgr = env.manager("stats")
    mgr.create()
    mgr.set({"memory": {"limit": 67108864}, "pids": {"limit": 100}})
    env.sleeper(mgr)
    st = mgr.stats()
    assert st["pids"] == {"current": 1, "limit": 100}
    assert st["memory"]["usage"]["limit"] == 67108864
    assert "raw" in st["memory"] and "cache" in st["memory"]["raw"]
    assert set(st["cpu"]["usage"]) >= {"kernel", "user"}
    assert st["hugetlb"] == {} or all("failcnt" in v for v in st["hugetlb"].values())


def test_v1_real_oom_event(env):
    mgr = env.manager("oom")
    mgr.create()
    mgr.set({"memory": {"limit": 16 << 20, "swap": 16 << 20}})
    watcher = mgr.oom_events()
    try:
        out = env.run_in(
            mgr,
            f"exec {sys.executable} -c 'b = bytearray(256 << 20); b[::4096] = b\"x\" * len(b[::4096])'",
        )
        assert out.returncode != 0
        assert watcher.wait(5) is True
        assert not watcher.gone
        mgr.destroy()  # removal wakes the eventfd too: reported as gone, not as OOM
        assert watcher.wait(5) is False and watcher.gone
    finally:
        watcher.close()


def test_v1_real_destroy_busy_then_killed(env):
    mgr = env.manager("busy")
    mgr.create()
    p = env.sleeper(mgr)
    with pytest.raises(CgroupError, match="busy|unable to remove"):
        mgr.destroy()
    p.kill()
    p.wait()
    mgr.destroy()
    assert not mgr.exists()
    mgr.destroy()


def test_v1_real_destroy_removes_child_cgroups(env):
    mgr = env.manager("nest")
    mgr.create()
    os.mkdir(mgr.joinable_paths()["memory"] + "/inner")
    mgr.destroy()
    assert not mgr.exists()


def test_v1_real_unified_refused(env):
    mgr = env.manager("uni")
    mgr.create()
    with pytest.raises(CgroupError, match="cannot use unified on cgroup v1"):
        mgr.set({"unified": {"memory.high": "1000"}})


def test_v1_real_relative_path_under_own_cgroup(env, tmp_path):
    own = f"{env.prefix}/own"
    proc = tmp_path / "cgroup"
    proc.write_text(f"4:memory:{own}\n3:pids:{own}\n0::/\n")
    mgr = open_manager("rel", "rel", proc_cgroup=str(proc))
    env.managers.append(mgr)
    mgr.create()
    assert mgr.joinable_paths()["memory"] == f"{MOUNTS['memory']}{own}/rel"
    assert mgr.joinable_paths()["devices"] == f"{MOUNTS['devices']}/rel"
    env.managers.append(open_manager(f"{env.prefix}/own", "own"))  # removed after "rel"
    again = open_manager(mgr.path, "rel", paths=mgr.joinable_paths())
    assert again.joinable_paths() == mgr.joinable_paths()
    env.sleeper(again)


def test_v1_real_systemd_path_created_through_cgroupfs(env):
    name = secrets.token_hex(3)
    existed = {m: os.path.isdir(m + "/system.slice") for m in set(MOUNTS.values())}
    mgr = open_manager(f"system.slice:pyrt:{name}", name, systemd=True)
    try:
        assert mgr.path == f"/system.slice/pyrt-{name}.scope"
        mgr.create()
        env.sleeper(mgr)
        assert Path(f"{MOUNTS['memory']}/system.slice/pyrt-{name}.scope").is_dir()
    finally:
        for p in env.procs:
            p.kill()
            p.wait()
        mgr.destroy()
        for m, was in existed.items():
            if not was:
                try:
                    os.rmdir(m + "/system.slice")
                except OSError as e:
                    assert e.errno in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY)


def test_v1_real_hybrid_unified_dir_joined_and_removed(env):
    if not _has(""):
        pytest.skip("no hybrid cgroup2 mount")
    mgr = env.manager("hy")
    mgr.create()
    p = env.sleeper(mgr)
    d = mgr.joinable_paths()[""]
    assert Path(d, "cgroup.procs").read_text().split() == [str(p.pid)]
    p.kill()
    p.wait()
    time.sleep(0.05)
    mgr.destroy()
    assert not os.path.exists(d)
