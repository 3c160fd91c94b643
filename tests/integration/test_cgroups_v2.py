"""Real cgroup v2 tests on this host's cgroup2 mount (/sys/fs/cgroup/unified).

The mount has no cpu/memory/io/pids controllers here, so these cover the core files
(cgroup.procs, cgroup.freeze, cgroup.kill, cgroup.events), the eBPF device filter
and, when the kernel offers it, the hugetlb controller. Everything lives under a
unique /pyrt-test-<random> directory and is removed afterwards; controllers enabled
in the root's cgroup.subtree_control by the tests are disabled again.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyruntime.cgroups import open_manager, paths
from pyruntime.cgroups.v2 import V2Manager
from pyruntime.errors import CgroupError

V2_ROOT = os.environ.get("PYRT_TEST_CGROUP2", "/sys/fs/cgroup/unified")
if paths.is_cgroup2_root("/sys/fs/cgroup"):
    V2_ROOT = "/sys/fs/cgroup"

pytestmark = [
    pytest.mark.root,
    pytest.mark.cgroup_v2,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not paths.is_cgroup2_root(V2_ROOT), reason="needs a cgroup2 mount"),
]


class Env:
    def __init__(self) -> None:
        self.prefix = f"/pyrt-test-{secrets.token_hex(4)}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.before = Path(V2_ROOT, "cgroup.subtree_control").read_text().split()

    def manager(self, name: str) -> V2Manager:
        mgr = open_manager(f"{self.prefix}/{name}", name, root=V2_ROOT)
        assert isinstance(mgr, V2Manager)
        return mgr

    def sleeper(self, mgr: V2Manager) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(["sleep", "60"])
        self.procs.append(p)
        mgr.apply(p.pid)
        return p

    def run_in(self, mgr: V2Manager, script: str) -> subprocess.CompletedProcess[str]:
        join = f"echo $$ > {mgr.dir}/cgroup.procs || exit 99; "
        return subprocess.run(
            ["sh", "-c", join + script], check=False, capture_output=True, text=True, timeout=30
        )

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        top = Path(V2_ROOT + self.prefix)
        if top.is_dir():
            for f in top.rglob("cgroup.freeze"):
                f.write_text("0")
            open_manager(self.prefix, "x", root=V2_ROOT).destroy()
        # Leave the root's controllers as we found them.
        for c in Path(V2_ROOT, "cgroup.subtree_control").read_text().split():
            if c not in self.before:
                try:
                    Path(V2_ROOT, "cgroup.subtree_control").write_text("-" + c)
                except OSError:
                    pass


@pytest.fixture
def env() -> Iterator[Env]:
    e = Env()
    try:
        yield e
    finally:
        e.cleanup()


def test_v2_real_create_apply_procs(env):
    mgr = env.manager("a/c")
    mgr.create()
    mgr.create()
    assert mgr.exists() and mgr.version == 2
    p = env.sleeper(mgr)
    if V2_ROOT == "/sys/fs/cgroup/unified":
        assert f"0::{mgr.path}" in Path(f"/proc/{p.pid}/cgroup").read_text().splitlines()
    assert mgr.pids() == [p.pid]
    assert mgr.populated()


def test_v2_real_pids_recursive(env):
    outer = env.manager("o")
    inner = env.manager("o/i")
    outer.create()
    inner.create()
    a = env.sleeper(inner)
    assert outer.pids() == [a.pid]


def test_v2_real_freeze_thaw_events(env):
    mgr = env.manager("frz")
    mgr.create()
    p = env.sleeper(mgr)
    mgr.freeze()
    assert mgr.frozen()
    assert "frozen 1" in Path(mgr.dir, "cgroup.events").read_text()
    mgr.thaw()
    assert not mgr.frozen()
    assert "frozen 0" in Path(mgr.dir, "cgroup.events").read_text()
    assert p.poll() is None


def test_v2_real_cgroup_kill(env):
    mgr = env.manager("kill")
    mgr.create()
    procs = [env.sleeper(mgr) for _ in range(3)]
    mgr.signal_all(signal.SIGKILL)
    for p in procs:
        assert p.wait(timeout=5) == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while mgr.populated() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not mgr.populated()
    mgr.destroy()
    assert not mgr.exists()


def test_v2_real_signal_all_sigterm(env):
    mgr = env.manager("term")
    mgr.create()
    p = env.sleeper(mgr)
    mgr.signal_all(signal.SIGTERM)
    assert p.wait(timeout=5) == -signal.SIGTERM


def test_v2_real_device_filter_denies_and_allows(env):
    mgr = env.manager("dev")
    mgr.create()
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
    ]
    # /dev/null redefined in linux.devices: runc's default allow for c 1:3 is dropped.
    mgr.set({"devices": rules}, [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3}])
    out = env.run_in(mgr, "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo wrote")
    assert out.stdout.split()[0] == "4"
    assert "wrote" not in out.stdout and "not permitted" in out.stderr
    # Replacing the program (set again) leaves exactly one attached.
    mgr.set({"devices": [{"allow": True, "access": "rwm"}]})
    out = env.run_in(mgr, "echo x > /dev/null && echo wrote")
    assert "wrote" in out.stdout
    from pyruntime.shim import device_program_ids

    fd = os.open(mgr.dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert len(device_program_ids(fd)) == 1
    finally:
        os.close(fd)


def test_v2_rejected_device_program_names_the_step_and_verifier(env):
    from pyruntime.errors import CgroupError
    from pyruntime.shim import device_program_ids, set_device_program

    mgr = env.manager("devbad")
    mgr.create()
    exit_only = bytes([0x95, 0, 0, 0, 0, 0, 0, 0])  # "exit" with R0 never set
    with pytest.raises(CgroupError, match=r"unable to load the device BPF program of .*\(.+\)"):
        set_device_program(mgr.dir, exit_only)
    fd = os.open(mgr.dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert device_program_ids(fd) == []  # nothing half-attached
    finally:
        os.close(fd)
    with pytest.raises(CgroupError, match="unable to open cgroup"):
        set_device_program(mgr.dir + "-missing", exit_only)


def test_v2_real_device_filter_partial_access(env):
    mgr = env.manager("devacc")
    mgr.create()
    # Without the linux.devices entry runc's default "c 1:3 rwm" would allow it again.
    mgr.set(
        {"devices": [{"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}]},
        [{"path": "/dev/null"}],
    )
    out = env.run_in(mgr, "cat /dev/null && echo readok; echo x > /dev/null && echo wrote")
    assert "readok" in out.stdout and "wrote" not in out.stdout


@pytest.mark.skipif(
    "hugetlb" not in Path(V2_ROOT, "cgroup.controllers").read_text().split()
    if paths.is_cgroup2_root(V2_ROOT)
    else True,
    reason="no hugetlb controller",
)
def test_v2_real_hugetlb_controller(env):
    mgr = env.manager("huge")
    mgr.create()  # enables every available controller down the tree
    assert "hugetlb" in mgr.controllers()
    mgr.set({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]})
    assert Path(mgr.dir, "hugetlb.2MB.max").read_text().strip() == str(4 << 20)
    st = mgr.stats()
    assert "2MB" in st["hugetlb"] and "failcnt" in st["hugetlb"]["2MB"]


def test_v2_real_unified_missing_controller_clear_error(env):
    mgr = env.manager("uni")
    mgr.create()
    with pytest.raises(CgroupError, match="controller 'rdma' not available|unable to set unified"):
        mgr.set({"unified": {"rdma.max": "mlx5_1 hca_handle=1"}, "devices": []})


def test_v2_real_unified_cgroup_file(env):
    mgr = env.manager("unic")
    mgr.create()
    mgr.update({"unified": {"cgroup.max.descendants": "5"}})
    assert Path(mgr.dir, "cgroup.max.descendants").read_text().strip() == "5"


def test_v2_real_stats_shape(env):
    mgr = env.manager("st")
    mgr.create()
    env.sleeper(mgr)
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
    assert st["pids"] == {"current": 1}
    assert set(st["cpu"]["usage"]) >= {"kernel", "user"}


def test_v2_real_oom_events_without_memory_controller_errors(env):
    mgr = env.manager("oom")
    mgr.create()
    if "memory" in mgr.controllers():
        pytest.skip("memory controller present")
    with pytest.raises(CgroupError, match="memory.events"):
        mgr.oom_events()


def test_v2_real_destroy_busy_raises_then_ok(env):
    mgr = env.manager("busy")
    mgr.create()
    p = env.sleeper(mgr)
    with pytest.raises(CgroupError):
        mgr.destroy()
    p.kill()
    p.wait()
    mgr.destroy()
    assert not mgr.exists()
