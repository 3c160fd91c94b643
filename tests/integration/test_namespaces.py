"""Namespaces: new ones differ from the host's, joined ones are the given ones (with a type
check), hostname/domainname, sysctl rules, time offsets and user namespace id mappings.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import one_line_error, run_bundle, run_out

pytestmark = pytest.mark.root

NS_FILES = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
            "cgroup": "cgroup", "time": "time", "user": "user"}
USER_MAPS = {
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
}




def set_namespaces(bundle: Any, *entries: dict[str, str]) -> None:
    bundle.config["linux"]["namespaces"] = list(entries)
    bundle.write()


def start_detached(cli: Any, bundle: Any, tmp_path: Path) -> tuple[str, int]:
    """`run -d` a long-running container; returns (id, pid)."""
    cid = cli.new_id()
    with open(tmp_path / f"{cid}.out", "wb") as o:
        rc = subprocess.run([*cli.base, "--root", str(cli.root), "run", "-d", "-b",
                             str(bundle.path), cid], stdin=subprocess.DEVNULL, stdout=o,
                            stderr=o, timeout=30, check=False).returncode
    assert rc == 0, (tmp_path / f"{cid}.out").read_text()
    return cid, int(cli.state(cid)["pid"])


def allow_traverse(path: Path) -> None:
    """Let the mapped root (host uid 100000) reach the rootfs: pytest's tmp dirs are 0700."""
    for parent in [path, *path.parents]:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod((mode & 0o7777) | 0o011)


@pytest.fixture
def netns(tmp_path: Path) -> Iterator[str]:
    """A network namespace kept alive by a bind mount on a file in tmp (`unshare --net=FILE`),
    unmounted afterwards. Unlike `ip netns add` it leaves no /run/netns mount on the host."""
    path = tmp_path / f"netns-{uuid.uuid4().hex[:8]}"
    path.write_text("")
    subprocess.run(["unshare", f"--net={path}", "true"], check=True, capture_output=True)
    try:
        yield str(path)
    finally:
        subprocess.run(["umount", str(path)], capture_output=True, check=False)


# ---------------------------------------------------------------------------- new namespaces


@pytest.mark.parametrize("kind", ["pid", "network", "ipc", "uts", "mount", "cgroup", "time"])
def test_namespace_new_differs_from_host(cli: Any, make_bundle: Any, kind: str) -> None:
    name = NS_FILES[kind]
    b = make_bundle("readlink", f"/proc/self/ns/{name}")
    kinds = {"mount", kind}
    set_namespaces(b, *({"type": k} for k in sorted(kinds)))
    if kind != "uts":
        b.config.pop("hostname", None)
        b.write()
    inside = run_out(cli, b).strip()
    assert inside.startswith(f"{name}:[")
    assert inside != os.readlink(f"/proc/self/ns/{name}")


@pytest.mark.parametrize("kind", ["pid", "network", "ipc", "uts", "cgroup", "time"])
def test_namespace_not_listed_is_host_namespace(cli: Any, make_bundle: Any, kind: str) -> None:
    name = NS_FILES[kind]
    b = make_bundle("readlink", f"/proc/self/ns/{name}")
    b.config.pop("hostname", None)
    set_namespaces(b, {"type": "mount"})
    assert run_out(cli, b).strip() == os.readlink(f"/proc/self/ns/{name}")


def test_namespace_user_new_with_mappings(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sh", "-c", "readlink /proc/self/ns/user; cat /proc/self/uid_map "
                    "/proc/self/gid_map; id -u")
    b.config["linux"].update(USER_MAPS)
    b.config["linux"]["namespaces"].append({"type": "user"})
    allow_traverse(b.rootfs)
    b.write()
    lines = run_out(cli, b).splitlines()
    assert lines[0] != os.readlink("/proc/self/ns/user")
    assert lines[1].split() == ["0", "100000", "65536"]
    assert lines[2].split() == ["0", "100000", "65536"]
    assert lines[3] == "0"


def test_namespace_user_process_runs_as_mapped_host_uid(cli: Any, make_bundle: Any,
                                                        tmp_path: Path) -> None:
    b = make_bundle("sleep", "30")
    b.config["linux"].update(USER_MAPS)
    b.config["linux"]["namespaces"].append({"type": "user"})
    allow_traverse(b.rootfs)
    b.config["process"]["user"] = {"uid": 5, "gid": 7}
    b.write()
    _, pid = start_detached(cli, b, tmp_path)
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    assert fields["Uid"].split()[0] == "100005"
    assert fields["Gid"].split()[0] == "100007"


def test_namespace_user_without_mappings_fails(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    b.config["linux"]["namespaces"].append({"type": "user"})
    b.write()
    assert "Mappings" in one_line_error(run_bundle(cli, b))


def test_namespace_without_mount_namespace_refused(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    b.config.pop("hostname", None)
    set_namespaces(b, {"type": "pid"})
    assert "mount namespace" in one_line_error(run_bundle(cli, b))


def test_namespace_duplicate_type_refused(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    b.config["linux"]["namespaces"].append({"type": "ipc"})
    b.write()
    assert "namespaces" in one_line_error(run_bundle(cli, b))


# ---------------------------------------------------------------------------- joining


def test_namespace_join_network_by_path(cli: Any, make_bundle: Any, netns: str) -> None:
    b = make_bundle("stat", "-L", "-c", "%i", "/proc/self/ns/net")
    for ns in b.config["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = netns
    b.write()
    assert int(run_out(cli, b)) == os.stat(netns).st_ino


def test_namespace_join_other_container_pid_and_ipc(cli: Any, make_bundle: Any,
                                                    tmp_path: Path) -> None:
    first = make_bundle("sleep", "30")
    _, pid = start_detached(cli, first, tmp_path)
    b = make_bundle("sh", "-c", "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; "
                    "ps -o pid,args")
    for ns in b.config["linux"]["namespaces"]:
        if ns["type"] in ("pid", "ipc"):
            ns["path"] = f"/proc/{pid}/ns/{NS_FILES[ns['type']]}"
    b.write()
    out = run_out(cli, b)
    lines = out.splitlines()
    assert lines[0] == os.readlink(f"/proc/{pid}/ns/pid")
    assert lines[1] == os.readlink(f"/proc/{pid}/ns/ipc")
    assert "sleep 30" in out  # the first container's init is visible in the joined pid ns


def test_namespace_join_wrong_type_fails(cli: Any, make_bundle: Any, netns: str) -> None:
    b = make_bundle("true")
    for ns in b.config["linux"]["namespaces"]:
        if ns["type"] == "uts":
            ns["path"] = netns
    b.write()
    cid = cli.new_id()
    text = one_line_error(cli("run", "-b", str(b.path), cid))
    assert netns in text and "uts" in text
    assert not (cli.root / cid).exists()


def test_namespace_join_regular_file_fails(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    not_ns = tmp_path / "plain-file"
    not_ns.write_text("")
    b = make_bundle("true")
    for ns in b.config["linux"]["namespaces"]:
        if ns["type"] == "ipc":
            ns["path"] = str(not_ns)
    b.write()
    assert str(not_ns) in one_line_error(run_bundle(cli, b))


def test_namespace_join_missing_path_fails(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b = make_bundle("true")
    for ns in b.config["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = str(tmp_path / "missing")
    b.write()
    text = one_line_error(run_bundle(cli, b))
    assert "missing" in text and "no such file" in text


# ---------------------------------------------------------------------------- uts


def test_hostname_set_in_uts_namespace(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("hostname", hostname="box-under-test")
    assert run_out(cli, b).strip() == "box-under-test"
    assert os.uname().nodename != "box-under-test"


def test_domainname_set_in_uts_namespace(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("cat", "/proc/sys/kernel/domainname")
    b.config["domainname"] = "example.test"
    b.write()
    assert run_out(cli, b).strip() == "example.test"


def test_hostname_without_uts_namespace_fails(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true", hostname="nope")
    set_namespaces(b, {"type": "mount"})
    assert "hostname" in one_line_error(run_bundle(cli, b))


# ---------------------------------------------------------------------------- sysctl


def test_sysctl_network_value_set_inside_only(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/ip_default_ttl")
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "net.ipv4.ip_default_ttl": "33"}
    b.write()
    host_ttl = Path("/proc/sys/net/ipv4/ip_default_ttl").read_text()
    assert run_out(cli, b).split() == ["1", "33"]
    assert Path("/proc/sys/net/ipv4/ip_default_ttl").read_text() == host_ttl


def test_sysctl_ipc_value_set_inside_only(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("cat", "/proc/sys/kernel/msgmax")
    b.config["linux"]["sysctl"] = {"kernel.msgmax": "12345"}
    b.write()
    host = Path("/proc/sys/kernel/msgmax").read_text()
    assert run_out(cli, b).strip() == "12345"
    assert Path("/proc/sys/kernel/msgmax").read_text() == host


def test_sysctl_host_namespace_refused(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    b.config["linux"]["sysctl"] = {"kernel.pid_max": "32768"}
    b.write()
    before = Path("/proc/sys/kernel/pid_max").read_text()
    assert "kernel.pid_max" in one_line_error(run_bundle(cli, b))
    assert Path("/proc/sys/kernel/pid_max").read_text() == before


def test_sysctl_net_without_network_namespace_refused(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    b.config["linux"]["namespaces"] = [n for n in b.config["linux"]["namespaces"]
                                       if n["type"] != "network"]
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    b.write()
    before = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    assert "net.ipv4.ip_forward" in one_line_error(run_bundle(cli, b))
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == before


def test_sysctl_unknown_key_fails_one_line(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    b.config["linux"]["sysctl"] = {"net.ipv4.no_such_knob": "1"}
    b.write()
    one_line_error(run_bundle(cli, b))


# ---------------------------------------------------------------------------- time


def test_time_offsets_applied_in_time_namespace(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("cat", "/proc/self/timens_offsets", "/proc/uptime")
    b.config["linux"]["namespaces"].append({"type": "time"})
    b.config["linux"]["timeOffsets"] = {"monotonic": {"secs": 7200, "nanosecs": 0},
                                        "boottime": {"secs": 864000, "nanosecs": 5}}
    b.write()
    host_uptime = float(Path("/proc/uptime").read_text().split()[0])
    lines = run_out(cli, b).splitlines()
    offsets = {line.split()[0]: line.split()[1:] for line in lines[:2]}
    assert offsets["monotonic"] == ["7200", "0"]
    assert offsets["boottime"] == ["864000", "5"]
    uptime = float(lines[2].split()[0])
    assert host_uptime + 864000 - 1 < uptime < host_uptime + 864000 + 30


def test_time_offsets_without_time_namespace_fails(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    b.config["linux"]["timeOffsets"] = {"boottime": {"secs": 10}}
    b.write()
    assert "time" in one_line_error(run_bundle(cli, b))
