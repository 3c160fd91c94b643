"""config-linux.md: namespaces, id mappings, devices, masked/readonly paths,
sysctl, seccomp (incl. the notify listener), personality, time offsets.

Owns those requirement tests (cgroups live in test_cgroups.py).
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance import harness
from conformance.conftest import Probe, ProbeFn
from conformance.harness import Bundle, Runtime
from conformance.marks import req, runc_bug

ALL_NS = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"]
DEFAULT_NS = ["pid", "network", "ipc", "uts", "mount"]
USER_MAP = [{"containerID": 0, "hostID": 200000, "size": 65536}]


def _ns_inside(p: Probe) -> dict[str, str]:
    out = {}
    for line in p["ns"].splitlines():
        name, _, link = line.partition(" ")
        out[name] = link.strip()
    return out


def _add_ns(b: Bundle, nstype: str) -> None:
    b.linux["namespaces"].append({"type": nstype})
    if nstype == "user":
        harness.make_traversable(b.path)
        b.linux["uidMappings"] = USER_MAP
        b.linux["gidMappings"] = USER_MAP
    if nstype == "time":
        b.linux["timeOffsets"] = {"monotonic": {"secs": 86400, "nanosecs": 0},
                                  "boottime": {"secs": 172800, "nanosecs": 0}}


def _ns_probe(probe: ProbeFn, nstype: str) -> Probe:
    items = {"ns": harness.STANDARD_PROBE["ns"], "uid_map": "cat /proc/$$/uid_map",
             "gid_map": "cat /proc/$$/gid_map", "pid": "echo $$",
             "offsets": "cat /proc/$$/timens_offsets"}
    if nstype in DEFAULT_NS:
        return probe(items, None, key="ns-default")
    return probe(items, lambda b: _add_ns(b, nstype), key=f"ns-{nstype}")


def _ns_param(nstype: str) -> Any:
    marks = [runc_bug("the time namespace is not supported")] if nstype == "time" else []
    return pytest.param(nstype, id=nstype, marks=marks)


# --- namespaces ------------------------------------------------------------------------

@req("config-linux.md#namespaces", "if path is not specified, the runtime MUST create a new "
     "container namespace of type `type`")
@pytest.mark.parametrize("nstype", [_ns_param(t) for t in ALL_NS])
def test_namespace_created_when_listed(probe: ProbeFn, nstype: str) -> None:
    if not os.path.exists(f"/proc/self/ns/{harness.NAMESPACE_FILES[nstype]}"):
        pytest.skip(f"host kernel has no {nstype} namespace")
    inside = _ns_inside(_ns_probe(probe, nstype))
    name = harness.NAMESPACE_FILES[nstype]
    assert inside.get(name), inside
    assert inside[name] != harness.ns_inode("self", nstype)


def _drop_ns(b: Bundle, nstype: str) -> None:
    b.linux["namespaces"] = [n for n in b.linux["namespaces"] if n["type"] != nstype]
    if nstype == "uts":
        b.config.pop("hostname", None)


@req("config-linux.md#namespaces", "a namespace type not listed MUST be inherited from the runtime "
     "namespace")
@pytest.mark.parametrize("nstype", ALL_NS)
def test_namespace_inherited_when_not_listed(probe: ProbeFn, nstype: str) -> None:
    name = harness.NAMESPACE_FILES[nstype]
    if not os.path.exists(f"/proc/self/ns/{name}"):
        pytest.skip(f"host kernel has no {nstype} namespace")
    if nstype == "mount":
        pytest.skip("a container in the host mount namespace would mount on the host itself")
    items = {"ns": harness.STANDARD_PROBE["ns"]}
    if nstype in DEFAULT_NS:
        p = probe(items, lambda b: _drop_ns(b, nstype), key=f"nons-{nstype}")
    else:
        p = probe(items, None, key="nons-default")
    assert _ns_inside(p).get(name) == harness.ns_inode("self", nstype)


@pytest.fixture
def holder(request: pytest.FixtureRequest) -> Iterator[harness.NsHolder]:
    flag = {"network": "--net", "uts": "--uts", "ipc": "--ipc", "pid": "--pid",
            "cgroup": "--cgroup"}[request.param]
    h = harness.spawn_ns_holder([flag])
    yield h
    h.stop()


@req("config-linux.md#namespaces", "path: the runtime MUST place the container process in the "
     "namespace associated with that path")
@pytest.mark.parametrize("holder", ["network", "uts", "ipc", "pid", "cgroup"], indirect=True)
def test_namespace_joined_by_path(rt: Runtime, bundle: Bundle, cid: str,
                                  holder: harness.NsHolder, request: pytest.FixtureRequest) -> None:
    nstype = request.node.callspec.params["holder"]
    name = harness.NAMESPACE_FILES[nstype]
    path = f"/proc/{holder.pid}/ns/{name}"
    _drop_ns(bundle, nstype)
    bundle.linux["namespaces"].append({"type": nstype, "path": path})
    if nstype == "uts":
        bundle.config["hostname"] = "joined"
    pid = harness.create_ok(rt, cid, bundle)["pid"]
    assert harness.ns_inode(pid, nstype) == os.readlink(path)


@req("config-linux.md#namespaces", "the runtime MUST generate an error if path is not associated "
     "with a namespace of type `type`")
@pytest.mark.parametrize("holder", ["uts"], indirect=True)
def test_namespace_path_wrong_type_fails(rt: Runtime, bundle: Bundle, cid: str,
                                         holder: harness.NsHolder) -> None:
    _drop_ns(bundle, "network")
    bundle.linux["namespaces"].append({"type": "network", "path": f"/proc/{holder.pid}/ns/uts"})
    bundle.shell("sleep 300")
    bundle.write()
    assert not rt.create(cid, bundle).ok
    assert harness.leftovers(rt, cid, bundle) == []


@req("config-linux.md#namespaces", "pid: processes see only processes of the same pid namespace")
def test_pid_namespace_init_is_pid_1(probe: ProbeFn) -> None:
    assert _ns_probe(probe, "pid")["pid"].strip() == "1"


@req("config-linux.md#namespaces", "network: the container has its own network stack (only lo)")
def test_network_namespace_only_loopback(probe: ProbeFn) -> None:
    p = probe(key="std")
    names = [line.split(":")[0].strip() for line in p["netdev"].splitlines()[2:]]
    assert names == ["lo"], names


# --- user namespace mappings ---------------------------------------------------------

@req("config-linux.md#user-namespace-mappings", "uidMappings: uid mappings from host to container")
def test_user_namespace_uid_map(probe: ProbeFn) -> None:
    assert _ns_probe(probe, "user")["uid_map"].split() == ["0", "200000", "65536"]


@req("config-linux.md#user-namespace-mappings", "gidMappings: gid mappings from host to container")
def test_user_namespace_gid_map(probe: ProbeFn) -> None:
    assert _ns_probe(probe, "user")["gid_map"].split() == ["0", "200000", "65536"]


@req("config-linux.md#user-namespace-mappings", "the runtime SHOULD NOT modify the ownership of "
     "referenced filesystems")
def test_user_namespace_rootfs_ownership_unchanged(probe: ProbeFn) -> None:
    p = _ns_probe(probe, "user")
    assert p.result.ok
    for path in (p.bundle.rootfs, p.bundle.rootfs / "bin" / "busybox", p.bundle.rootfs / "etc"):
        st = os.lstat(path)
        assert (st.st_uid, st.st_gid) == (0, 0), path


@runc_bug("the time namespace (timeOffsets) is not supported")
@req("config-linux.md#offset-for-time-namespace", "timeOffsets sets the clock offsets of the "
     "time namespace")
def test_time_namespace_offsets(probe: ProbeFn) -> None:
    offsets = _ns_probe(probe, "time")["offsets"]
    rows = {line.split()[0]: line.split()[1:] for line in offsets.splitlines() if line.strip()}
    assert rows.get("monotonic", [""])[0] == "86400", offsets
    assert rows.get("boottime", [""])[0] == "172800", offsets


# --- devices ---------------------------------------------------------------------------

DEFAULT_DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
                   "urandom": (1, 9), "tty": (5, 0)}


@req("config-linux.md#default-devices", "the runtime MUST supply the default devices")
@pytest.mark.parametrize("dev", list(DEFAULT_DEVICES))
def test_default_device_node(probe: ProbeFn, dev: str) -> None:
    p = probe(key="std")
    rows = {line.split()[0]: line for line in p["devices"].splitlines() if line.strip()}
    major, minor = DEFAULT_DEVICES[dev]
    assert rows.get(dev, "").endswith(f"character special file {major:x} {minor:x} 666") or \
        f"character special file {major:x} {minor:x}" in rows.get(dev, ""), rows.get(dev)


@req("config-linux.md#default-devices", "/dev/ptmx: a bind-mount or symlink of /dev/pts/ptmx")
def test_default_device_ptmx(probe: ProbeFn) -> None:
    p = probe({"ptmx": "readlink /dev/ptmx; stat -L -c '%t:%T' /dev/ptmx /dev/pts/ptmx"},
              key="ptmx")
    lines = p["ptmx"].splitlines()
    if lines[0].strip():
        assert lines[0].strip() in ("pts/ptmx", "/dev/pts/ptmx"), lines
    assert lines[-1] == lines[-2], lines


DEVICE_USE = {
    "null": ("echo x > /dev/null && echo ok", "ok"),
    "zero": ("head -c 4 /dev/zero | wc -c", "4"),
    "full": ("echo x > /dev/full || echo failed", "failed"),
    "random": ("head -c 4 /dev/random | wc -c", "4"),
    "urandom": ("head -c 4 /dev/urandom | wc -c", "4"),
}


@req("config-linux.md#default-devices", "default devices are usable by the container process")
@pytest.mark.parametrize("dev", list(DEVICE_USE))
def test_default_device_usable(probe: ProbeFn, dev: str) -> None:
    p = probe({k: v[0] for k, v in DEVICE_USE.items()}, key="devuse")
    assert p[dev].strip().splitlines()[-1] == DEVICE_USE[dev][1], p[dev]


def _devices_setup(b: Bundle) -> None:
    b.linux["devices"] = [
        {"path": "/dev/cfchar", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640,
         "uid": 1234, "gid": 2345},
        {"path": "/dev/cfblock", "type": "b", "major": 7, "minor": 0, "fileMode": 0o600},
        {"path": "/dev/cffifo", "type": "p", "fileMode": 0o644},
        {"path": "/srv/elsewhere/cfnull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666},
    ]


@pytest.fixture(scope="module")
def dev_probe(probe: ProbeFn) -> Probe:
    script = ("for d in /dev/cfchar /dev/cfblock /dev/cffifo /srv/elsewhere/cfnull; do "
              "stat -c '%n|%F|%t|%T|%a|%u|%g' $d; done")
    return probe({"devs": script}, _devices_setup, key="devs")


def _dev_row(p: Probe, path: str) -> list[str]:
    for line in p["devs"].splitlines():
        if line.startswith(path + "|"):
            return line.split("|")
    raise AssertionError(f"{path} missing:\n{p['devs']}")


@req("config-linux.md#devices", "devices MUST be available in the container (type c, major, minor)")
def test_device_char_created(dev_probe: Probe) -> None:
    row = _dev_row(dev_probe, "/dev/cfchar")
    assert row[1:4] == ["character special file", "a", "e5"], row


@req("config-linux.md#devices", "devices MUST be available in the container (type b)")
def test_device_block_created(dev_probe: Probe) -> None:
    row = _dev_row(dev_probe, "/dev/cfblock")
    assert row[1:4] == ["block special file", "7", "0"], row


@req("config-linux.md#devices", "devices MUST be available in the container (type p, fifo)")
def test_device_fifo_created(dev_probe: Probe) -> None:
    assert _dev_row(dev_probe, "/dev/cffifo")[1] == "fifo", dev_probe["devs"]


@req("config-linux.md#devices", "fileMode: the file mode of the device")
def test_device_file_mode(dev_probe: Probe) -> None:
    assert _dev_row(dev_probe, "/dev/cfchar")[4] == "640"


@req("config-linux.md#devices", "uid/gid: owner of the device in the container namespace")
def test_device_owner(dev_probe: Probe) -> None:
    assert _dev_row(dev_probe, "/dev/cfchar")[5:7] == ["1234", "2345"]


@req("config-linux.md#devices", "the path MAY be anywhere in the container filesystem (outside /dev)")
def test_device_outside_dev(dev_probe: Probe) -> None:
    row = _dev_row(dev_probe, "/srv/elsewhere/cfnull")
    assert row[1:4] == ["character special file", "1", "3"], row


@runc_bug("an existing regular file at the device path is kept without error")
@req("config-linux.md#devices", "a file already at path that does not match the device MUST "
     "generate an error")
def test_device_path_conflict_fails(rt: Runtime, bundle: Bundle, cid: str) -> None:
    (bundle.rootfs / "srv").mkdir()
    (bundle.rootfs / "srv" / "taken").write_text("regular file")
    bundle.linux["devices"] = [{"path": "/srv/taken", "type": "c", "major": 1, "minor": 3}]
    bundle.shell("sleep 300")
    bundle.write()
    assert not rt.create(cid, bundle).ok
    assert harness.leftovers(rt, cid, bundle) == []


# --- masked / readonly paths -----------------------------------------------------------------

def _masked_script(paths: list[str]) -> dict[str, str]:
    return {p: f"if [ -d {p} ]; then ls -A {p} | wc -l; elif [ -e {p} ]; then "
               f"cat {p} | wc -c; else echo absent; fi" for p in paths}


@pytest.fixture(scope="module")
def masked_probe(probe: ProbeFn) -> Probe:
    def setup(b: Bundle) -> None:
        (b.rootfs / "secret-dir").mkdir()
        (b.rootfs / "secret-dir" / "x").write_text("hidden")
        (b.rootfs / "secret-file").write_text("hidden")
        b.linux["maskedPaths"] = harness.DEFAULT_MASKED + ["/secret-dir", "/secret-file"]
    items = _masked_script(harness.DEFAULT_MASKED + ["/secret-dir", "/secret-file"])
    items["mountinfo"] = "cat /proc/$$/mountinfo"
    return probe(items, setup, key="masked")


@req("config-linux.md#masked-paths", "maskedPaths MUST be masked so they cannot be read")
@pytest.mark.parametrize("path", harness.DEFAULT_MASKED + ["/secret-dir", "/secret-file"])
def test_masked_path_unreadable(masked_probe: Probe, path: str) -> None:
    if not path.startswith("/secret") and not os.path.exists(path):
        pytest.skip(f"{path} does not exist on this host")
    assert masked_probe[path].strip() in ("0", "absent"), masked_probe[path]
    assert masked_probe[path].strip() == "0" or path.startswith("/proc/")


READONLY = harness.DEFAULT_READONLY + ["/data"]


@pytest.fixture(scope="module")
def ro_probe(probe: ProbeFn) -> Probe:
    def setup(b: Bundle) -> None:
        (b.rootfs / "data").mkdir()
        b.linux["readonlyPaths"] = READONLY
    return probe({"mountinfo": "cat /proc/$$/mountinfo",
                  "write": "touch /data/x && echo written"}, setup, key="ro")


@req("config-linux.md#readonly-paths", "readonlyPaths MUST be read-only inside the container")
@pytest.mark.parametrize("path", READONLY)
def test_readonly_path_mounted_ro(ro_probe: Probe, path: str) -> None:
    if path != "/data" and not os.path.exists(path):
        pytest.skip(f"{path} does not exist on this host")
    e = harness.mount_at(ro_probe.mounts(), path)
    assert e is not None and "ro" in e.options, ro_probe["mountinfo"]


@req("config-linux.md#readonly-paths", "writes below a readonly path fail")
def test_readonly_path_write_fails(ro_probe: Probe) -> None:
    assert "written" not in ro_probe["write"] and "Read-only" in ro_probe["write"]


# --- sysctl ----------------------------------------------------------------------------

SYSCTLS = {"net.ipv4.ip_forward": "1", "kernel.msgmax": "4096", "kernel.shmmni": "1000"}


@pytest.fixture(scope="module")
def sysctl_probe(probe: ProbeFn) -> Probe:
    def setup(b: Bundle) -> None:
        b.linux["sysctl"] = dict(SYSCTLS)
    items = {k: f"cat /proc/sys/{k.replace('.', '/')}" for k in SYSCTLS}
    return probe(items, setup, key="sysctl")


@req("config-linux.md#sysctl", "sysctl: kernel parameters are modified for the container")
@pytest.mark.parametrize("key", list(SYSCTLS))
def test_sysctl_applied(sysctl_probe: Probe, key: str) -> None:
    assert sysctl_probe[key].strip() == SYSCTLS[key]


@req("config-linux.md#sysctl", "namespaced sysctls change the container, not the host")
def test_sysctl_host_unchanged(sysctl_probe: Probe) -> None:
    assert sysctl_probe.result.ok
    assert harness.read_text("/proc/sys/kernel/msgmax").strip() != "4096" or \
        pytest.skip("host already has kernel.msgmax=4096")


# --- seccomp ------------------------------------------------------------------------------

MKDIR = "mkdir /tmp/sc 2>&1; echo rc=$?"


def _seccomp(action: str, errno_ret: int | None = None, **extra: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"names": ["mkdir", "mkdirat"], "action": action}
    if errno_ret is not None:
        rule["errnoRet"] = errno_ret
    sc: dict[str, Any] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]}
    sc.update(extra)
    return sc


def _seccomp_probe(probe: ProbeFn, sc: dict[str, Any], key: str) -> Probe:
    def setup(b: Bundle) -> None:
        b.linux["seccomp"] = sc
    return probe({"mkdir": MKDIR, "status": "cat /proc/$$/status"}, setup, key=key)


@req("config-linux.md#seccomp", "seccomp: a filter is installed for the container process")
def test_seccomp_filter_installed(probe: ProbeFn) -> None:
    p = _seccomp_probe(probe, _seccomp("SCMP_ACT_ERRNO"), "sc-errno")
    assert harness.status_field(p["status"], "Seccomp") == "2"


@req("config-linux.md#seccomp", "SCMP_ACT_ERRNO without errnoRet returns EPERM (the default)")
def test_seccomp_errno_default_eperm(probe: ProbeFn) -> None:
    p = _seccomp_probe(probe, _seccomp("SCMP_ACT_ERRNO"), "sc-errno")
    assert "Operation not permitted" in p["mkdir"], p["mkdir"]


@req("config-linux.md#seccomp", "errnoRet: the errno return code to use")
def test_seccomp_errno_ret(probe: ProbeFn) -> None:
    p = _seccomp_probe(probe, _seccomp("SCMP_ACT_ERRNO", 18), "sc-errno18")
    assert "Invalid cross-device link" in p["mkdir"], p["mkdir"]


# (action, expected marker in mkdir output)
ACTIONS = [
    ("SCMP_ACT_KILL", "rc=159"),
    ("SCMP_ACT_KILL_THREAD", "rc=159"),
    ("SCMP_ACT_KILL_PROCESS", "rc=159"),
    ("SCMP_ACT_TRAP", "rc=159"),
    ("SCMP_ACT_TRACE", "Function not implemented"),
    ("SCMP_ACT_LOG", "rc=0"),
    ("SCMP_ACT_ALLOW", "rc=0"),
]


@req("config-linux.md#seccomp", "action: the libseccomp action taken for a matched syscall")
@pytest.mark.parametrize("action,expect", ACTIONS, ids=[a[0] for a in ACTIONS])
def test_seccomp_action(probe: ProbeFn, action: str, expect: str) -> None:
    p = _seccomp_probe(probe, _seccomp(action), f"sc-{action}")
    assert expect in p["mkdir"], p["mkdir"]


@req("config-linux.md#seccomp", "args: a rule matches only when the argument comparison holds")
@pytest.mark.parametrize("op,value,blocked", [
    ("SCMP_CMP_EQ", 0o777, True), ("SCMP_CMP_EQ", 0o755, False),
    ("SCMP_CMP_NE", 0o755, True), ("SCMP_CMP_NE", 0o777, False),
    ("SCMP_CMP_GT", 0o700, True), ("SCMP_CMP_LT", 0o700, False),
    ("SCMP_CMP_GE", 0o777, True), ("SCMP_CMP_LE", 0o776, False),
    ("SCMP_CMP_MASKED_EQ", 0o100, True),
], ids=["EQ-match", "EQ-nomatch", "NE-match", "NE-nomatch", "GT-match", "LT-nomatch",
        "GE-match", "LE-nomatch", "MASKED_EQ-match"])
def test_seccomp_args_filter(probe: ProbeFn, op: str, value: int, blocked: bool) -> None:
    rules = []
    for name, index in (("mkdir", 1), ("mkdirat", 2)):
        arg: dict[str, Any] = {"index": index, "value": value, "op": op}
        if op == "SCMP_CMP_MASKED_EQ":
            arg = {"index": index, "value": 0o100, "valueTwo": 0o100, "op": op}
        rules.append({"names": [name], "action": "SCMP_ACT_ERRNO", "args": [arg]})

    def setup(b: Bundle) -> None:
        b.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}
    # busybox mkdir calls mkdir(path, 0777) and chmods afterwards.
    p = probe({"mkdir": "mkdir /tmp/sc 2>&1; echo rc=$?"}, setup)
    assert ("rc=1" in p["mkdir"]) == blocked, p["mkdir"]


@req("config-linux.md#seccomp", "architectures: the architectures used for system calls")
def test_seccomp_architectures(probe: ProbeFn) -> None:
    sc = _seccomp("SCMP_ACT_ERRNO",
                  architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    p = _seccomp_probe(probe, sc, "sc-arch")
    assert "Operation not permitted" in p["mkdir"], p["mkdir"]


@runc_bug("seccomp flags are rejected: 'not yet supported by runc'")
@req("config-linux.md#seccomp", "flags: list of flags to use with seccomp(2)")
@pytest.mark.parametrize("flag", ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
def test_seccomp_flags(probe: ProbeFn, flag: str) -> None:
    p = _seccomp_probe(probe, _seccomp("SCMP_ACT_ERRNO", flags=[flag]), f"sc-{flag}")
    assert "Operation not permitted" in p["mkdir"], p["mkdir"]


UNISTD = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")


def _all_syscalls() -> list[str]:
    names = []
    for line in UNISTD.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "#define" and parts[1].startswith("__NR_"):
            names.append(parts[1][len("__NR_"):])
    return names


@req("config-linux.md#seccomp", "defaultAction with defaultErrnoRet: unmatched syscalls fail with "
     "that errno")
def test_seccomp_default_errno_ret(probe: ProbeFn) -> None:
    if os.uname().machine != "x86_64" or not UNISTD.exists():
        pytest.skip("needs x86_64 syscall names from linux-libc-dev")
    # Everything but mkdir is allowed, so mkdir alone falls to the default.
    allowed = [n for n in _all_syscalls() if n not in ("mkdir", "mkdirat")]
    sc = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 18,
          "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
          "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]}
    p = _seccomp_probe(probe, sc, "sc-default")
    assert "Invalid cross-device link" in p["mkdir"], p["mkdir"]


class NotifyListener:
    """A seccomp-agent socket: records each connection's payload and fds."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.sock.settimeout(20)
        self.messages: list[tuple[bytes, list[int], bool]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            data = b""
            fds: list[int] = []
            closed = False
            while True:
                try:
                    chunk, got, _, _ = socket.recv_fds(conn, 65536, 8)
                except OSError:
                    break
                fds.extend(got)
                # Closing the notify fd at once lets the blocked syscall fail
                # (ENOSYS) so the container goes on while we wait for EOF.
                for fd in got:
                    os.close(fd)
                if not chunk:
                    closed = True
                    break
                data += chunk
            self.messages.append((data, fds, closed))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def notify_run(runtime_path: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NotifyListener, str,
                                                                          harness.Result]]:
    base = tmp_path_factory.mktemp("notify")
    rt = Runtime(runtime_path, base / "state")
    cid = harness.new_id("nt")
    b = harness.make_bundle(base / "bundle")
    listener = NotifyListener(base / "agent.sock")
    b.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(base / "agent.sock"),
        "listenerMetadata": "cf-metadata",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}
    b.shell("mkdir /tmp/x; echo done")
    b.write()
    try:
        res = rt.run(cid, b, timeout=30)
        listener.thread.join(timeout=10)
        yield listener, cid, res
    finally:
        rt.cleanup()
        listener.close()


def _notify_state(run: tuple[NotifyListener, str, harness.Result]) -> dict[str, Any]:
    listener, _, res = run
    assert listener.messages, f"no connection on listenerPath\n{res}"
    data: dict[str, Any] = json.loads(listener.messages[0][0])
    return data


@req("config-linux.md#the-container-process-state", "the container process state MUST be sent as "
     "JSON with the fds over SCM_RIGHTS")
def test_seccomp_notify_state_sent(notify_run: Any) -> None:
    state = _notify_state(notify_run)
    assert state.get("fds") == ["seccompFd"], state
    assert len(notify_run[0].messages[0][1]) == 1


@req("config-linux.md#the-container-process-state", "state includes ociVersion, pid and the "
     "container state")
def test_seccomp_notify_state_fields(notify_run: Any) -> None:
    state = _notify_state(notify_run)
    assert state.get("ociVersion") and isinstance(state.get("pid"), int), state
    assert state.get("state", {}).get("id") == notify_run[1], state


@req("config-linux.md#seccomp", "listenerMetadata is sent as the metadata field")
def test_seccomp_notify_metadata(notify_run: Any) -> None:
    assert _notify_state(notify_run).get("metadata") == "cf-metadata"


@req("config-linux.md#seccomp", "exactly one state per connection; the connection MUST be closed")
def test_seccomp_notify_connection_closed(notify_run: Any) -> None:
    listener = notify_run[0]
    _notify_state(notify_run)
    assert len(listener.messages) == 1 and listener.messages[0][2]


# --- personality ------------------------------------------------------------------------

@runc_bug("linux.personality is not supported (ignored)")
@req("config-linux.md#personality", "personality LINUX32 sets the execution domain (uname i686)")
def test_personality_linux32(probe: ProbeFn) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("LINUX32 check written for x86_64 hosts")

    def setup(b: Bundle) -> None:
        b.linux["personality"] = {"domain": "LINUX32"}
    p = probe({"arch": "uname -m"}, setup)
    assert p["arch"].strip() in ("i686", "i386")


# --- network devices --------------------------------------------------------------------

@req("config-linux.md#network-devices", "netDevices MUST be moved into the container namespace")
def test_net_devices_moved() -> None:
    pytest.skip("needs a spare host network interface; this host may not create interfaces")
