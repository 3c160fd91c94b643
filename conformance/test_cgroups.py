"""config-linux.md control groups: cgroupsPath, resources, device allow-list,
unified, ownership, intelRdt.

Owns the cgroup requirement tests.  Values are read from the host cgroup
files of a created container.  Written for the cgroup v1 layout; where a
controller file is missing on this host the test is skipped with a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance import harness
from conformance.conftest import CGROUP_PARENT, cgroups_path_for
from conformance.harness import Bundle, Runtime, create_ok
from conformance.marks import req, runc_bug

V2 = harness.cgroup_v2_only()


def _block_device() -> tuple[int, int] | None:
    """major:minor of the disk behind / (throttling needs a real block device)."""
    import os
    st = os.stat("/")
    major, minor = os.major(st.st_dev), os.minor(st.st_dev)
    return (major, minor) if Path(f"/sys/dev/block/{major}:{minor}").exists() else None


DISK = _block_device()


class Created:
    """A created (sleeping) container kept for a module; read its cgroup files."""

    def __init__(self, rt: Runtime, bundle: Bundle, cid: str, res: harness.Result) -> None:
        self.rt, self.bundle, self.cid, self.res = rt, bundle, cid, res

    @property
    def path(self) -> str:
        cg: str = self.bundle.linux["cgroupsPath"]
        return cg

    def read(self, controller: str, name: str) -> str:
        assert self.res.ok, str(self.res)
        f = harness.cgroup_file(controller, self.path, name)
        if not f.parent.exists():
            raise AssertionError(f"cgroup {f.parent} missing")
        if not f.exists():
            pytest.skip(f"{f.name} does not exist on this host")
        try:
            return f.read_text().strip()
        except FileNotFoundError:
            raise AssertionError(f"{f} vanished; container state: {self.rt.state(self.cid)}")


CreatedFactory = Callable[[Callable[[Bundle], None], str], Created]


@pytest.fixture(scope="module")
def created(runtime_path: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[CreatedFactory]:
    base = tmp_path_factory.mktemp("cg")
    rt = Runtime(runtime_path, base / "state")
    cache: dict[str, Created] = {}

    def make(setup: Callable[[Bundle], None], key: str) -> Created:
        if key in cache:
            return cache[key]
        cid = harness.new_id("cg")
        b = harness.make_bundle(base / cid)
        b.linux["cgroupsPath"] = cgroups_path_for(cid)
        setup(b)
        b.shell("sleep 300")
        b.write()
        cache[key] = Created(rt, b, cid, rt.create(cid, b))
        return cache[key]

    yield make
    rt.cleanup()


def _v1_only() -> None:
    if V2:
        pytest.skip("v1 cgroup files; this host runs cgroup v2 only")


def _resources(**res: Any) -> Callable[[Bundle], None]:
    def setup(b: Bundle) -> None:
        b.linux.setdefault("resources", {}).update(res)
    return setup


CORE = _resources(
    memory={"limit": 64 << 20, "reservation": 32 << 20, "swappiness": 17,
            "disableOOMKiller": True},
    cpu={"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
    pids={"limit": 42},
    **({"blockIO": {
        "throttleReadBpsDevice": [{"major": DISK[0], "minor": DISK[1], "rate": 1048576}],
        "throttleWriteBpsDevice": [{"major": DISK[0], "minor": DISK[1], "rate": 2097152}],
        "throttleReadIOPSDevice": [{"major": DISK[0], "minor": DISK[1], "rate": 300}],
        "throttleWriteIOPSDevice": [{"major": DISK[0], "minor": DISK[1], "rate": 400}],
    }} if DISK else {}),
)


# --- cgroupsPath ------------------------------------------------------------------------

@req("config-linux.md#cgroups-path", "an absolute cgroupsPath MUST be taken relative to the cgroups "
     "mount point")
@pytest.mark.parametrize("controller", ["memory", "cpu", "cpuset", "pids", "devices", "blkio"])
def test_cgroups_path_absolute(created: CreatedFactory, controller: str) -> None:
    _v1_only()
    c = created(CORE, "core")
    pid = c.rt.state(c.cid)["pid"]  # type: ignore[index]
    procs = c.read(controller, "cgroup.procs").split()
    assert str(pid) in procs, (controller, procs)


@req("config-linux.md#cgroups-path", "the same cgroupsPath MUST attach to the same place")
def test_cgroups_path_consistent(rt: Runtime, bundle: Bundle, cid: str) -> None:
    first = _cgroup_paths(create_ok(rt, cid, bundle)["pid"])
    rt.delete(cid, force=True)
    second = _cgroup_paths(create_ok(rt, cid, bundle)["pid"])
    # Compare hierarchies present both times (others may come and go on the host).
    common = first.keys() & second.keys()
    assert common and all(first[k] == second[k] for k in common), (first, second)


def _cgroup_paths(pid: int) -> dict[str, str]:
    """{controller list: path} from /proc/PID/cgroup (hierarchy ids dropped)."""
    out = {}
    for line in harness.read_text(f"/proc/{pid}/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        out[controllers] = path
    return out


@req("config-linux.md#cgroups-path", "a relative cgroupsPath MAY be interpreted relative to a "
     "runtime-determined location")
def test_cgroups_path_relative(rt: Runtime, bundle: Bundle, cid: str) -> None:
    rel = f"cf-relative/{cid}"
    bundle.linux["cgroupsPath"] = rel
    pid = create_ok(rt, cid, bundle)["pid"]
    lines = harness.read_text(f"/proc/{pid}/cgroup").splitlines()
    assert any(line.endswith("/" + rel) for line in lines), lines
    rt.delete(cid, force=True)
    for d in Path("/sys/fs/cgroup").glob("*/**/cf-relative"):
        try:
            d.rmdir()
        except OSError:
            pass


# --- memory ------------------------------------------------------------------------------

@req("config-linux.md#memory", "limit: sets limit of memory usage")
def test_memory_limit(created: CreatedFactory) -> None:
    _v1_only()
    assert created(CORE, "core").read("memory", "memory.limit_in_bytes") == str(64 << 20)


@req("config-linux.md#memory", "reservation: sets soft limit of memory usage")
def test_memory_reservation(created: CreatedFactory) -> None:
    _v1_only()
    assert created(CORE, "core").read("memory", "memory.soft_limit_in_bytes") == str(32 << 20)


@req("config-linux.md#memory", "swappiness: sets the swappiness parameter of vmscan")
def test_memory_swappiness(created: CreatedFactory) -> None:
    _v1_only()
    assert created(CORE, "core").read("memory", "memory.swappiness") == "17"


@req("config-linux.md#memory", "disableOOMKiller true disables the OOM killer")
def test_memory_disable_oom_killer(created: CreatedFactory) -> None:
    _v1_only()
    text = created(CORE, "core").read("memory", "memory.oom_control")
    assert "oom_kill_disable 1" in text, text


@req("config-linux.md#memory", "swap: sets limit of memory+swap usage")
def test_memory_swap(created: CreatedFactory) -> None:
    _v1_only()
    if not harness.cgroup_file("memory", "/", "memory.memsw.limit_in_bytes").exists():
        pytest.skip("swap accounting is off on this host")
    c = created(_resources(memory={"limit": 64 << 20, "swap": 96 << 20}), "swap")
    assert c.read("memory", "memory.memsw.limit_in_bytes") == str(96 << 20)


@runc_bug("memory.kernelTCP is ignored")
@req("config-linux.md#memory", "kernelTCP: sets hard limit for kernel TCP buffer memory")
def test_memory_kernel_tcp(created: CreatedFactory) -> None:
    _v1_only()
    c = created(_resources(memory={"kernelTCP": 16 << 20}), "ktcp")
    assert c.read("memory", "memory.kmem.tcp.limit_in_bytes") == str(16 << 20)


# --- cpu ----------------------------------------------------------------------------------

@req("config-linux.md#cpu", "shares: relative share of CPU time")
def test_cpu_shares(created: CreatedFactory) -> None:
    _v1_only()
    assert created(CORE, "core").read("cpu", "cpu.shares") == "512"


@req("config-linux.md#cpu", "quota: total time in microseconds per period")
def test_cpu_quota(created: CreatedFactory) -> None:
    _v1_only()
    assert created(CORE, "core").read("cpu", "cpu.cfs_quota_us") == "50000"


@req("config-linux.md#cpu", "period: CFS period in microseconds")
def test_cpu_period(created: CreatedFactory) -> None:
    _v1_only()
    assert created(CORE, "core").read("cpu", "cpu.cfs_period_us") == "100000"


@req("config-linux.md#cpu", "cpus: list of CPUs the container will run on")
def test_cpuset_cpus(created: CreatedFactory) -> None:
    _v1_only()
    assert created(CORE, "core").read("cpuset", "cpuset.cpus") == "0"


@req("config-linux.md#cpu", "mems: list of memory nodes the container will run on")
def test_cpuset_mems(created: CreatedFactory) -> None:
    _v1_only()
    assert created(CORE, "core").read("cpuset", "cpuset.mems") == "0"


@runc_bug("cpu.burst is not supported on cgroup v1 (ignored)")
@req("config-linux.md#cpu", "burst: accumulated time in microseconds allowed per period")
def test_cpu_burst(created: CreatedFactory) -> None:
    _v1_only()
    c = created(_resources(cpu={"quota": 50000, "period": 100000, "burst": 20000}), "burst")
    assert c.read("cpu", "cpu.cfs_burst_us") == "20000"


@runc_bug("cpu.idle is not supported (ignored)")
@req("config-linux.md#cpu", "idle: cgroups are configured with minimum weight (SCHED_IDLE)")
def test_cpu_idle(created: CreatedFactory) -> None:
    _v1_only()
    c = created(_resources(cpu={"idle": 1}), "idle")
    assert c.read("cpu", "cpu.idle") == "1"


@req("config-linux.md#cpu", "realtimeRuntime/realtimePeriod: the realtime scheduler budget")
def test_cpu_realtime(created: CreatedFactory) -> None:
    _v1_only()
    if not harness.cgroup_file("cpu", "/", "cpu.rt_runtime_us").exists():
        pytest.skip("kernel without CONFIG_RT_GROUP_SCHED")
    # A child can only get realtime budget its parent has; give our parent
    # cgroup some (host setup, not the runtime's job for an absolute path).
    parent = harness.CGROUP_ROOT / "cpu" / CGROUP_PARENT
    parent.mkdir(exist_ok=True)
    (parent / "cpu.rt_runtime_us").write_text("10000")
    c = created(_resources(cpu={"realtimeRuntime": 1000, "realtimePeriod": 500000}), "rt")
    assert c.read("cpu", "cpu.rt_period_us") == "500000"
    assert c.read("cpu", "cpu.rt_runtime_us") == "1000"


# --- pids -------------------------------------------------------------------------------

@req("config-linux.md#pids", "limit: maximum number of tasks in the cgroup")
def test_pids_limit(created: CreatedFactory) -> None:
    _v1_only()
    assert created(CORE, "core").read("pids", "pids.max") == "42"


@req("config-linux.md#pids", "limit -1 means no limit (max)")
def test_pids_limit_unlimited(created: CreatedFactory) -> None:
    _v1_only()
    assert created(_resources(pids={"limit": -1}), "pids-1").read("pids", "pids.max") == "max"


@runc_bug("pids.limit 0 is treated as unset instead of a zero limit")
@req("config-linux.md#pids", "0 is a valid limit and SHOULD be treated as such by runtimes")
def test_pids_limit_zero(created: CreatedFactory) -> None:
    _v1_only()
    assert created(_resources(pids={"limit": 0}), "pids0").read("pids", "pids.max") == "0"


# --- block IO -----------------------------------------------------------------------------

THROTTLE = [("throttleReadBpsDevice", "blkio.throttle.read_bps_device", 1048576),
            ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device", 2097152),
            ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device", 300),
            ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", 400)]


@req("config-linux.md#block-io", "throttle*Device: per-device bandwidth and IO rate limits")
@pytest.mark.parametrize("field,fname,rate", THROTTLE, ids=[t[0] for t in THROTTLE])
def test_blkio_throttle(created: CreatedFactory, field: str, fname: str, rate: int) -> None:
    _v1_only()
    if DISK is None:
        pytest.skip("no block device behind / to throttle")
    text = created(CORE, "core").read("blkio", fname)
    assert f"{DISK[0]}:{DISK[1]} {rate}" in text.splitlines(), text


@req("config-linux.md#block-io", "weight: per-cgroup weight")
def test_blkio_weight(created: CreatedFactory) -> None:
    _v1_only()
    if not any(harness.cgroup_file("blkio", "/", n).exists()
               for n in ("blkio.weight", "blkio.bfq.weight")):
        pytest.skip("no blkio weight file (no BFQ/CFQ) on this host")
    c = created(_resources(blockIO={"weight": 300}), "bweight")
    name = "blkio.weight" if harness.cgroup_file("blkio", "/", "blkio.weight").exists() \
        else "blkio.bfq.weight"
    assert c.read("blkio", name).split()[-1] == "300"


# --- controllers absent on this host ----------------------------------------------------

@req("config-linux.md#huge-page-limits", "hugepageLimits: limits of the hugetlb controller")
def test_hugepage_limits() -> None:
    if not (Path("/sys/fs/cgroup/hugetlb").exists() or V2):
        pytest.skip("no hugetlb cgroup controller on this host")
    pytest.skip("hugetlb limits not exercised on this host layout")


@req("config-linux.md#network", "network classID/priorities: net_cls and net_prio controllers")
def test_network_class_id() -> None:
    if not Path("/sys/fs/cgroup/net_cls").exists():
        pytest.skip("no net_cls cgroup controller on this host")
    pytest.skip("net_cls not exercised on this host layout")


@req("config-linux.md#rdma", "rdma: limits of the rdma controller")
def test_rdma_limits() -> None:
    pytest.skip("no RDMA devices on this host")


# --- device allow-list ----------------------------------------------------------------------

def _fuse_setup(rules: list[dict[str, Any]]) -> Callable[[Bundle], None]:
    def setup(b: Bundle) -> None:
        b.linux["devices"] = [{"path": "/dev/cffuse", "type": "c", "major": 10, "minor": 229,
                               "fileMode": 0o666}]
        b.linux["resources"]["devices"] = rules
    return setup


def _open_fuse(probe: Any, rules: list[dict[str, Any]]) -> str:
    p = probe({"open": "dd if=/dev/cffuse of=/dev/null count=0 2>&1; echo rc=$?"},
              _fuse_setup(rules))
    out: str = p["open"]
    return out


@req("config-linux.md#allowed-device-list", "devices: entries allow access to a device")
def test_device_allowlist_allows(probe: Any) -> None:
    out = _open_fuse(probe, [{"allow": False, "access": "rwm"},
                             {"allow": True, "type": "c", "major": 10, "minor": 229,
                              "access": "r"}])
    assert "Operation not permitted" not in out, out


@req("config-linux.md#allowed-device-list", "the runtime MUST apply entries in the listed order")
def test_device_allowlist_order(probe: Any) -> None:
    out = _open_fuse(probe, [{"allow": False, "access": "rwm"},
                             {"allow": True, "type": "c", "major": 10, "minor": 229,
                              "access": "rw"},
                             {"allow": False, "type": "c", "major": 10, "minor": 229,
                              "access": "r"}])
    assert "Operation not permitted" in out, out


@req("config-linux.md#allowed-device-list", "a deny-all entry blocks devices not allowed later")
def test_device_allowlist_deny_all(probe: Any) -> None:
    out = _open_fuse(probe, [{"allow": False, "access": "rwm"}])
    assert "Operation not permitted" in out, out


# --- unified ------------------------------------------------------------------------------

@req("config-linux.md#unified", "unified referring to a controller that is not present MUST "
     "generate an error")
def test_unified_on_v1_host_fails(rt: Runtime, bundle: Bundle, cid: str) -> None:
    if V2:
        pytest.skip("host runs cgroup v2")
    bundle.linux["resources"]["unified"] = {"pids.max": "10"}
    bundle.shell("sleep 300")
    bundle.write()
    assert not rt.create(cid, bundle).ok
    assert harness.leftovers(rt, cid, bundle) == []


@req("config-linux.md#unified", "each key is written to the file in the unified hierarchy")
def test_unified_written_on_v2(rt: Runtime, bundle: Bundle, cid: str) -> None:
    if not V2:
        pytest.skip("host runs cgroup v1; unified needs cgroup v2")
    bundle.linux["resources"]["unified"] = {"pids.max": "10"}
    create_ok(rt, cid, bundle)
    f = harness.CGROUP_ROOT / bundle.linux["cgroupsPath"].lstrip("/") / "pids.max"
    assert f.read_text().strip() == "10"


# --- ownership / intelRdt ------------------------------------------------------------------

@req("config-linux.md#cgroup-ownership", "runtimes SHOULD NOT change cgroup ownership on cgroup v1")
def test_cgroup_ownership_unchanged_on_v1(rt: Runtime, bundle: Bundle, cid: str) -> None:
    _v1_only()
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    bundle.linux["namespaces"].append({"type": "cgroup"})
    bundle.add_mount("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev"])
    create_ok(rt, cid, bundle)
    for d in harness.cgroup_dirs(bundle.linux["cgroupsPath"]):
        st = d.stat()
        assert (st.st_uid, st.st_gid) == (0, 0), d


@req("config-linux.md#intelrdt", "intelRdt set without a mounted resctrl MUST generate an error")
def test_intel_rdt_without_resctrl_fails(rt: Runtime, bundle: Bundle, cid: str) -> None:
    if any(e.fstype == "resctrl"
           for e in harness.parse_mountinfo(harness.read_text("/proc/self/mountinfo"))):
        pytest.skip("resctrl is mounted on this host")
    bundle.linux["intelRdt"] = {"closID": "cf", "l3CacheSchema": "L3:0=f"}
    bundle.shell("sleep 300")
    bundle.write()
    assert not rt.create(cid, bundle).ok
    assert harness.leftovers(rt, cid, bundle) == []


@req("config-linux.md#intelrdt", "intelRdt not set: the runtime MUST NOT manipulate resctrl")
def test_intel_rdt_unset_no_resctrl_change() -> None:
    pytest.skip("resctrl is not mounted on this host")

