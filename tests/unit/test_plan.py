"""Unit tests of pyruntime.plan: config + options -> ChildPlan, with no root and no kernel calls.

Kernel constants are spelled out here as numbers on purpose: they check the values the shim
exports as well as the planner's use of them.
"""

from __future__ import annotations

import logging
import os
import stat
import struct
from pathlib import Path
from typing import Any

import pytest

from pyruntime import plan as P
from pyruntime.errors import SpecError
from pyruntime.spec.default import default_config

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_NOATIME, MS_BIND, MS_REC = 1024, 4096, 16384
MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED = 1 << 17, 1 << 18, 1 << 19, 1 << 20
ATTR_RDONLY, ATTR_NOSUID, ATTR_NODEV, ATTR_NOEXEC = 1, 2, 4, 8
CLONE_NEWTIME, CLONE_NEWNS, CLONE_NEWCGROUP = 0x80, 0x20000, 0x02000000
CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER = 0x04000000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000

FACTS = P.HostFacts(last_cap=40, has_kcore=True)


def config(*args: str) -> dict[str, Any]:
    doc = default_config()
    doc["process"]["terminal"] = False
    doc["process"]["args"] = list(args or ("true",))
    return doc


def build(doc: dict[str, Any], bundle: str = "/bundle", facts: P.HostFacts = FACTS,
          **opts: Any) -> P.ChildPlan:
    return P.build_plan(doc, bundle, "/bundle/rootfs", P.LaunchOptions(**opts), facts)


def kinds(ops: list[P.Op] | tuple[P.Op, ...]) -> list[str]:
    return [op.kind for op in ops]


# ---------------------------------------------------------------------------- mount options


def test_parse_mount_options_flags_set() -> None:
    flags, cleared, prop, aset, aclr, data = P.parse_mount_options(
        ["ro", "nosuid", "nodev", "noexec", "noatime"])
    assert flags == MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME
    assert (cleared, prop, aset, aclr, data) == (0, 0, 0, 0, [])


def test_parse_mount_options_clearing_option_wins_when_later() -> None:
    flags, cleared, *_ = P.parse_mount_options(["ro", "rw", "nosuid", "suid"])
    assert flags == 0
    assert cleared == MS_RDONLY | MS_NOSUID


def test_parse_mount_options_rbind_sets_bind_and_rec() -> None:
    assert P.parse_mount_options(["rbind"])[0] == MS_BIND | MS_REC
    assert P.parse_mount_options(["bind"])[0] == MS_BIND


@pytest.mark.parametrize("option,value", [
    ("private", MS_PRIVATE), ("rprivate", MS_PRIVATE | MS_REC), ("shared", MS_SHARED),
    ("rshared", MS_SHARED | MS_REC), ("slave", MS_SLAVE), ("rslave", MS_SLAVE | MS_REC),
    ("unbindable", MS_UNBINDABLE), ("runbindable", MS_UNBINDABLE | MS_REC),
])
def test_parse_mount_options_propagation_separate_from_flags(option: str, value: int) -> None:
    flags, _, prop, *_ = P.parse_mount_options([option])
    assert flags == 0
    assert prop == value


def test_parse_mount_options_recursive_attrs() -> None:
    _, _, _, aset, aclr, _ = P.parse_mount_options(["rro", "rnosuid", "rnodev", "rnoexec",
                                                    "rexec"])
    assert aset == ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV | ATTR_NOEXEC
    assert aclr == ATTR_NOEXEC


def test_parse_mount_options_rrw_clears_rdonly() -> None:
    _, _, _, aset, aclr, _ = P.parse_mount_options(["rrw"])
    assert (aset, aclr) == (0, ATTR_RDONLY)


def test_parse_mount_options_unknown_go_to_data_in_order() -> None:
    *_, data = P.parse_mount_options(["mode=755", "nosuid", "size=65536k", "newinstance"])
    assert data == ["mode=755", "size=65536k", "newinstance"]


def test_parse_mount_options_extra_options_ignored() -> None:
    assert P.parse_mount_options(["tmpcopyup", "idmap"]) == (0, 0, 0, 0, 0, [])


# ---------------------------------------------------------------------------- plan_mount


def test_plan_mount_tmpfs_mkdir_then_mount_with_data() -> None:
    ops = P.plan_mount(0, {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                           "options": ["nosuid", "mode=755", "size=1m"]}, "/b", FACTS)
    assert kinds(ops) == ["MKDIR", "MOUNT"]
    assert ops[1].fstype == "tmpfs" and ops[1].source == "tmpfs"
    assert ops[1].mflags == MS_NOSUID
    assert ops[1].data == "mode=755,size=1m"
    assert ops[1].path == "/run"


def test_plan_mount_no_data_is_none() -> None:
    ops = P.plan_mount(0, {"destination": "/proc", "type": "proc", "source": "proc"}, "/b", FACTS)
    assert ops[1].data is None


def test_plan_mount_bind_directory_ro_remounts(tmp_path: Path) -> None:
    ops = P.plan_mount(3, {"destination": "/data", "type": "bind", "source": str(tmp_path),
                           "options": ["rbind", "ro", "nosuid"]}, "/b", FACTS)
    assert kinds(ops) == ["MKDIR", "BIND", "REMOUNT"]
    assert ops[1].source == str(tmp_path)
    assert ops[1].mflags == MS_BIND | MS_REC
    assert ops[2].mflags == MS_BIND | MS_RDONLY | MS_NOSUID


def test_plan_mount_bind_without_extra_flags_has_no_remount(tmp_path: Path) -> None:
    ops = P.plan_mount(0, {"destination": "/data", "source": str(tmp_path),
                           "options": ["bind"]}, "/b", FACTS)
    assert kinds(ops) == ["MKDIR", "BIND"]


def test_plan_mount_bind_file_uses_mkfile(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("")
    ops = P.plan_mount(0, {"destination": "/etc/x", "type": "none", "source": str(f),
                           "options": ["bind"]}, "/b", FACTS)
    assert kinds(ops) == ["MKFILE", "BIND"]


def test_plan_mount_bind_relative_source_joined_with_bundle(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    ops = P.plan_mount(0, {"destination": "/d", "type": "bind", "source": "sub",
                           "options": ["bind"]}, str(tmp_path), FACTS)
    assert ops[1].source == str(tmp_path / "sub")


def test_plan_mount_bind_missing_source_names_path(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as e:
        P.plan_mount(2, {"destination": "/d", "type": "bind",
                         "source": str(tmp_path / "nope"), "options": ["bind"]}, "/b", FACTS)
    assert e.value.path == "mounts[2].source"
    assert "no such file" in str(e.value)


def test_plan_mount_bind_without_source_fails() -> None:
    with pytest.raises(SpecError, match="source"):
        P.plan_mount(0, {"destination": "/d", "type": "bind", "options": ["bind"]}, "/b", FACTS)


def test_plan_mount_propagation_and_setattr_after_mount(tmp_path: Path) -> None:
    ops = P.plan_mount(0, {"destination": "/d", "type": "bind", "source": str(tmp_path),
                           "options": ["rbind", "rslave", "rro"]}, "/b", FACTS)
    assert kinds(ops) == ["MKDIR", "BIND", "PROPAGATE", "SETATTR"]
    assert ops[2].mflags == MS_SLAVE | MS_REC
    assert ops[3].attr_set == ATTR_RDONLY


def test_plan_mount_relative_destination_made_absolute() -> None:
    ops = P.plan_mount(0, {"destination": "run/x", "type": "tmpfs", "source": "t"}, "/b", FACTS)
    assert ops[0].path == "/run/x"


def test_plan_mount_destination_normalised() -> None:
    ops = P.plan_mount(0, {"destination": "//a/./b/", "type": "tmpfs", "source": "t"},
                       "/b", FACTS)
    assert ops[0].path == "/a/b"


def test_plan_mount_destination_dotdot_clamped_or_refused() -> None:
    try:
        ops = P.plan_mount(0, {"destination": "/../../etc", "type": "tmpfs", "source": "t"},
                           "/b", FACTS)
    except SpecError as e:
        assert e.path == "mounts[0].destination"
    else:
        assert ops[0].path == "/etc"  # normpath keeps it inside "/"


def test_plan_mount_label_names_source_and_destination() -> None:
    ops = P.plan_mount(0, {"destination": "/proc", "type": "proc", "source": "proc"}, "/b", FACTS)
    assert ops[1].label == "mount proc to /proc"


def test_plan_cgroup_mount_v2_mounts_cgroup2() -> None:
    facts = P.HostFacts(cgroup_v2_dir="/sys/fs/cgroup/c1")
    ops = P.plan_mount(0, {"destination": "/sys/fs/cgroup", "type": "cgroup",
                           "source": "cgroup", "options": ["ro", "nosuid"]}, "/b", facts)
    assert kinds(ops) == ["MKDIR", "MOUNT"]
    assert ops[1].fstype == "cgroup2"
    assert ops[1].mflags == MS_RDONLY | MS_NOSUID


def test_plan_cgroup_mount_v1_tmpfs_with_sorted_binds_read_only() -> None:
    facts = P.HostFacts(cgroup_mounts={"memory": "/sys/fs/cgroup/memory/c1",
                                       "cpu": "/sys/fs/cgroup/cpu/c1"})
    ops = P.plan_mount(0, {"destination": "/sys/fs/cgroup", "type": "cgroup",
                           "source": "cgroup", "options": ["ro"]}, "/b", facts)
    assert kinds(ops) == ["MKDIR", "MOUNT", "MKDIR", "BIND", "REMOUNT", "MKDIR", "BIND",
                          "REMOUNT", "REMOUNT"]
    assert ops[1].fstype == "tmpfs" and ops[1].mflags & MS_RDONLY == 0
    assert [op.path for op in ops if op.kind == "BIND"] == ["/sys/fs/cgroup/cpu",
                                                             "/sys/fs/cgroup/memory"]
    assert ops[3].source == "/sys/fs/cgroup/cpu/c1"
    assert ops[-1].path == "/sys/fs/cgroup" and ops[-1].mflags & MS_RDONLY


def test_plan_cgroup_mount_v1_rw_has_no_remount() -> None:
    facts = P.HostFacts(cgroup_mounts={"pids": "/sys/fs/cgroup/pids/c1"})
    ops = P.plan_mount(0, {"destination": "/sys/fs/cgroup", "type": "cgroup",
                           "source": "cgroup"}, "/b", facts)
    assert "REMOUNT" not in kinds(ops)


# ---------------------------------------------------------------------------- devices


def test_plan_devices_defaults_are_char_nodes_0666() -> None:
    ops = P.plan_devices({}, False, FACTS)
    nodes = {op.path: op for op in ops if op.kind == "MKNOD"}
    assert set(nodes) == {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                          "/dev/urandom", "/dev/tty"}
    null = nodes["/dev/null"]
    assert stat.S_ISCHR(null.mode) and null.mode & 0o7777 == 0o666
    assert null.dev == os.makedev(1, 3)
    assert nodes["/dev/tty"].dev == os.makedev(5, 0)


def test_plan_devices_symlinks_after_nodes() -> None:
    ops = P.plan_devices({}, False, FACTS)
    links = {op.path: op.source for op in ops if op.kind == "SYMLINK"}
    assert links == {"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
                     "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2",
                     "/dev/ptmx": "pts/ptmx", "/dev/core": "/proc/kcore"}
    first_link = kinds(ops).index("SYMLINK")
    assert "MKNOD" not in kinds(ops)[first_link:]


def test_plan_devices_no_kcore_no_core_link() -> None:
    ops = P.plan_devices({}, False, P.HostFacts(has_kcore=False))
    assert "/dev/core" not in [op.path for op in ops]


def test_plan_devices_configured_override_default_and_keep_fields() -> None:
    linux = {"devices": [
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600},
        {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "uid": 7, "gid": 9},
        {"path": "/dev/fifo", "type": "p"},
    ]}
    ops = [op for op in P.plan_devices(linux, False, FACTS) if op.kind == "MKNOD"]
    by_path = {op.path: op for op in ops}
    assert [op.path for op in ops].count("/dev/null") == 1
    assert by_path["/dev/null"].mode & 0o7777 == 0o600
    sda = by_path["/dev/sda"]
    assert stat.S_ISBLK(sda.mode) and sda.dev == os.makedev(8, 0)
    assert (sda.uid, sda.gid) == (7, 9)
    assert sda.mode & 0o7777 == 0o666  # default mode when fileMode is absent
    assert stat.S_ISFIFO(by_path["/dev/fifo"].mode) and by_path["/dev/fifo"].dev == 0


def test_plan_devices_user_namespace_binds_host_nodes() -> None:
    ops = P.plan_devices({}, True, FACTS)
    assert "MKNOD" not in kinds(ops)
    binds = [op for op in ops if op.kind == "BIND"]
    assert {op.path for op in binds} >= {"/dev/null", "/dev/tty"}
    assert all(op.source == op.path for op in binds)


def test_plan_devices_bad_type_fails_with_path() -> None:
    with pytest.raises(SpecError) as e:
        P.plan_devices({"devices": [{"path": "/dev/x", "type": "z"}]}, False, FACTS)
    assert e.value.path == "linux.devices[0].type"


# ---------------------------------------------------------------------------- sysctl


@pytest.mark.parametrize("key,ns", [
    ("net.ipv4.ip_forward", "network"), ("kernel.msgmax", "ipc"), ("kernel.shm_rmid_forced", "ipc"),
    ("fs.mqueue.queues_max", "ipc"), ("kernel.hostname", "uts"), ("kernel.domainname", "uts"),
])
def test_plan_sysctls_allowed_with_namespace(key: str, ns: str) -> None:
    ops = P.plan_sysctls({"sysctl": {key: "1"}}, {ns, "mount"})
    assert len(ops) == 1
    assert ops[0].kind == "SYSCTL"
    assert ops[0].path == "/proc/sys/" + key.replace(".", "/")
    assert ops[0].source == "1"


@pytest.mark.parametrize("key,ns", [
    ("net.ipv4.ip_forward", "network"), ("kernel.msgmax", "ipc"), ("kernel.hostname", "uts"),
])
def test_plan_sysctls_refused_without_namespace(key: str, ns: str) -> None:
    with pytest.raises(SpecError) as e:
        P.plan_sysctls({"sysctl": {key: "1"}}, {"mount"})
    assert e.value.path == f"linux.sysctl.{key}"
    assert ns in str(e.value)


@pytest.mark.parametrize("key", ["kernel.pid_max", "vm.swappiness", "fs.file-max"])
def test_plan_sysctls_host_wide_refused(key: str) -> None:
    with pytest.raises(SpecError, match="not in a separate kernel namespace"):
        P.plan_sysctls({"sysctl": {key: "1"}}, {"mount", "network", "ipc", "uts"})


@pytest.mark.parametrize("key", ["net.ipv4/../../kernel.pid_max", "net/../kernel.pid_max"])
def test_plan_sysctls_path_tricks_refused(key: str) -> None:
    with pytest.raises(SpecError):
        P.plan_sysctls({"sysctl": {key: "1"}}, {"network"})


# ---------------------------------------------------------------------------- filesystem order


def test_plan_filesystem_order_mounts_devices_masks_readonly_sysctl_cwd() -> None:
    doc = config()
    doc["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    ops = P.plan_filesystem(doc, "/b", FACTS, False, {"mount", "network"}, "/work")
    k = kinds(ops)
    last_mount = max(i for i, x in enumerate(k) if x == "MOUNT")
    first_node = k.index("MKNOD")
    first_mask = k.index("MASK")
    first_ro = k.index("READONLY")
    assert last_mount < first_node < first_mask < first_ro < k.index("SYSCTL")
    assert ops[-1].kind == "MKDIR" and ops[-1].path == "/work"
    assert all(op.optional for op in ops if op.kind in ("MASK", "READONLY"))


def test_plan_filesystem_mounts_in_config_order() -> None:
    doc = config()
    ops = P.plan_filesystem(doc, "/b", FACTS, False, {"mount"}, "/")
    mounted = [op.path for op in ops if op.kind == "MOUNT"]
    assert mounted[:6] == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"]


def test_plan_filesystem_dev_bind_mounted_skips_device_nodes(tmp_path: Path) -> None:
    doc = config()
    doc["mounts"] = [{"destination": "/dev", "type": "bind", "source": str(tmp_path),
                      "options": ["rbind"]}]
    ops = P.plan_filesystem(doc, "/b", FACTS, False, {"mount"}, "/")
    assert "MKNOD" not in kinds(ops) and "SYMLINK" not in kinds(ops)


# ---------------------------------------------------------------------------- namespaces


def test_plan_namespaces_new_ones_in_clone_flags() -> None:
    clone, unshare, joins, pidns = P.plan_namespaces({"namespaces": [
        {"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]})
    assert clone == CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS
    assert (unshare, joins, pidns) == (0, (), None)


def test_plan_namespaces_cgroup_and_time_unshared_late() -> None:
    clone, unshare, _, _ = P.plan_namespaces({"namespaces": [
        {"type": "mount"}, {"type": "cgroup"}, {"type": "time"}]})
    assert clone == CLONE_NEWNS
    assert unshare == CLONE_NEWCGROUP | CLONE_NEWTIME


def test_plan_namespaces_user_new_in_clone() -> None:
    clone, _, _, _ = P.plan_namespaces({"namespaces": [{"type": "mount"}, {"type": "user"}]})
    assert clone == CLONE_NEWNS | CLONE_NEWUSER


def test_plan_namespaces_joins_in_setns_order() -> None:
    _, _, joins, pidns = P.plan_namespaces({"namespaces": [
        {"type": "mount", "path": "/m"}, {"type": "network", "path": "/n"},
        {"type": "pid", "path": "/p"}, {"type": "user", "path": "/u"},
        {"type": "ipc", "path": "/i"}]})
    assert [k for k, _ in joins] == ["user", "ipc", "network", "mount"]
    assert dict(joins)["network"] == "/n"
    assert pidns == "/p"


def test_plan_namespaces_joined_user_moves_new_ones_to_unshare() -> None:
    clone, unshare, _, _ = P.plan_namespaces({"namespaces": [
        {"type": "user", "path": "/u"}, {"type": "mount"}, {"type": "uts"}]})
    assert clone == 0
    assert unshare == CLONE_NEWNS | CLONE_NEWUTS


def test_plan_namespaces_joined_user_with_new_pid_refused() -> None:
    with pytest.raises(SpecError):
        P.plan_namespaces({"namespaces": [{"type": "user", "path": "/u"}, {"type": "mount"},
                                          {"type": "pid"}]})


def test_plan_namespaces_without_mount_refused() -> None:
    with pytest.raises(SpecError, match="mount namespace"):
        P.plan_namespaces({"namespaces": [{"type": "pid"}]})


def test_plan_namespaces_duplicate_refused_with_index() -> None:
    with pytest.raises(SpecError) as e:
        P.plan_namespaces({"namespaces": [{"type": "mount"}, {"type": "ipc"},
                                          {"type": "ipc", "path": "/x"}]})
    assert e.value.path == "linux.namespaces[2].type"


def test_plan_namespaces_unknown_type_refused() -> None:
    with pytest.raises(SpecError, match="unknown namespace"):
        P.plan_namespaces({"namespaces": [{"type": "mount"}, {"type": "bogus"}]})


def test_plan_time_offsets_text() -> None:
    text = P.plan_time_offsets({"timeOffsets": {"monotonic": {"secs": 5},
                                                "boottime": {"secs": 7, "nanosecs": 9}}})
    assert text == "monotonic 5 0\nboottime 7 9\n"
    assert P.plan_time_offsets({}) is None


def test_plan_time_offsets_unknown_clock_refused() -> None:
    with pytest.raises(SpecError):
        P.plan_time_offsets({"timeOffsets": {"realtime": {"secs": 1}}})


def test_plan_id_mappings_parsed() -> None:
    maps = P.plan_id_mappings({"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 5}]},
                              "uidMappings")
    assert maps == (P.IdMapping(0, 1000, 5),)


def test_plan_root_propagation_default_is_rslave_first() -> None:
    assert P.plan_root_propagation({}) == (MS_SLAVE | MS_REC, 0)


@pytest.mark.parametrize("name,first,after", [
    ("private", MS_SLAVE | MS_REC, MS_PRIVATE),
    ("slave", MS_SLAVE | MS_REC, MS_SLAVE),
    ("shared", MS_SHARED | MS_REC, MS_SHARED),
    ("unbindable", MS_SLAVE | MS_REC, MS_UNBINDABLE),
])
def test_plan_root_propagation_values(name: str, first: int, after: int) -> None:
    assert P.plan_root_propagation({"rootfsPropagation": name}) == (first, after)


def test_plan_root_propagation_unknown_refused() -> None:
    with pytest.raises(SpecError):
        P.plan_root_propagation({"rootfsPropagation": "weird"})


# ---------------------------------------------------------------------------- exec candidates


def test_exec_candidates_absolute_path_only_itself() -> None:
    assert P.exec_candidates("/bin/sh", ["PATH=/x"], "/") == ("/bin/sh",)


def test_exec_candidates_relative_path_from_cwd() -> None:
    assert P.exec_candidates("./run.sh", [], "/app") == ("/app/run.sh",)
    assert P.exec_candidates("bin/tool", [], "/app") == ("/app/bin/tool",)


def test_exec_candidates_path_dirs_in_order_deduplicated() -> None:
    env = ["PATH=/usr/bin:/bin:/usr/bin/"]
    assert P.exec_candidates("ls", env, "/") == ("/usr/bin/ls", "/bin/ls")


def test_exec_candidates_empty_path_entry_means_cwd() -> None:
    assert P.exec_candidates("tool", ["PATH=:/bin"], "/work") == ("/work/tool", "/bin/tool")


def test_exec_candidates_relative_path_entry_from_cwd() -> None:
    assert P.exec_candidates("tool", ["PATH=bin"], "/work") == ("/work/bin/tool",)


def test_exec_candidates_without_path_uses_default() -> None:
    cands = P.exec_candidates("sh", ["HOME=/"], "/")
    assert cands == tuple(f"{d}/sh" for d in P.DEFAULT_PATH.split(":"))


def test_env_value_last_definition_wins() -> None:
    assert P.env_value(["PATH=/a", "X=1", "PATH=/b"], "PATH") == "/b"
    assert P.env_value(["PATHX=/a"], "PATH") is None


# ---------------------------------------------------------------------------- process settings


def test_plan_rlimits_numbers() -> None:
    out = P.plan_rlimits({"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20},
                                      {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]})
    assert out == ((7, 10, 20), (4, 0, 0))


def test_plan_rlimits_soft_above_hard_refused() -> None:
    with pytest.raises(SpecError) as e:
        P.plan_rlimits({"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 30, "hard": 20}]})
    assert e.value.path == "process.rlimits[0]"


def test_plan_rlimits_unknown_type_refused() -> None:
    with pytest.raises(SpecError) as e:
        P.plan_rlimits({"rlimits": [{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}]})
    assert e.value.path == "process.rlimits[0].type"


def test_plan_capabilities_masks() -> None:
    caps = P.plan_capabilities({"capabilities": {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"], "effective": ["CAP_KILL"],
        "permitted": ["CAP_KILL", "CAP_CHOWN"], "inheritable": [],
        "ambient": ["CAP_CHOWN"]}}, 40)
    assert caps == P.Capabilities(bounding=(1 << 0) | (1 << 5) | (1 << 21), effective=1 << 5,
                                  permitted=(1 << 5) | 1, inheritable=0, ambient=1)


def test_plan_capabilities_absent_is_none() -> None:
    assert P.plan_capabilities({}, 40) is None


def test_plan_capabilities_missing_sets_are_empty() -> None:
    assert P.plan_capabilities({"capabilities": {"bounding": ["CAP_KILL"]}}, 40) == \
        P.Capabilities(bounding=1 << 5)


def test_plan_capabilities_unknown_or_beyond_last_cap_skipped_with_warning(
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    with caplog.at_level(logging.WARNING):
        caps = P.plan_capabilities({"capabilities": {
            "bounding": ["CAP_BOGUS", "CAP_CHECKPOINT_RESTORE", "CAP_KILL"]}}, 39)
    assert caps is not None and caps.bounding == 1 << 5
    warned = caplog.text + capsys.readouterr().err  # pyruntime.log writes to stderr
    assert "CAP_BOGUS" in warned and "CAP_CHECKPOINT_RESTORE" in warned


def test_plan_scheduler_packs_sched_attr() -> None:
    raw = P.plan_scheduler({"scheduler": {"policy": "SCHED_BATCH", "nice": -3,
                                          "flags": ["SCHED_FLAG_RESET_ON_FORK"]}})
    assert raw is not None and len(raw) == 48
    size, policy, flags, nice, prio, runtime, deadline, period = struct.unpack("=IIQiIQQQ", raw)
    assert (size, policy, flags, nice, prio) == (48, 3, 1, -3, 0)
    assert (runtime, deadline, period) == (0, 0, 0)


def test_plan_scheduler_absent_is_none() -> None:
    assert P.plan_scheduler({}) is None


@pytest.mark.parametrize("sched", [{"policy": "SCHED_NOPE"},
                                   {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_NOPE"]}])
def test_plan_scheduler_unknown_refused(sched: dict[str, Any]) -> None:
    with pytest.raises(SpecError):
        P.plan_scheduler({"scheduler": sched})


def test_plan_ioprio_value() -> None:
    assert P.plan_ioprio({"ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 0}}) == 3 << 13
    assert P.plan_ioprio({"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4}}) == \
        (2 << 13) | 4
    assert P.plan_ioprio({}) is None


@pytest.mark.parametrize("prio", [{"class": "IOPRIO_CLASS_NOPE"},
                                  {"class": "IOPRIO_CLASS_RT", "priority": 8},
                                  {"class": "IOPRIO_CLASS_RT", "priority": -1}])
def test_plan_ioprio_invalid_refused(prio: dict[str, Any]) -> None:
    with pytest.raises(SpecError):
        P.plan_ioprio({"ioPriority": prio})


def test_plan_personality_values() -> None:
    assert P.plan_personality({"personality": {"domain": "LINUX32"}}) == 8
    assert P.plan_personality({"personality": {"domain": "LINUX"}}) == 0
    assert P.plan_personality({}) is None


@pytest.mark.parametrize("pers", [{"domain": "WINDOWS"}, {"domain": "LINUX", "flags": ["x"]}])
def test_plan_personality_invalid_refused(pers: dict[str, Any]) -> None:
    with pytest.raises(SpecError):
        P.plan_personality({"personality": pers})


def test_parse_cpu_list_bitmap() -> None:
    mask = P.parse_cpu_list("0-2,5, 9", "where")
    assert len(mask) == P.CPU_SET_BYTES
    assert mask[0] == 0b00100111 and mask[1] == 0b00000010
    assert not any(mask[2:])


@pytest.mark.parametrize("text", ["a", "3-1", "-1", "0-99999", "1-x"])
def test_parse_cpu_list_invalid_refused(text: str) -> None:
    with pytest.raises(SpecError) as e:
        P.parse_cpu_list(text, "process.execCPUAffinity.final")
    assert e.value.path == "process.execCPUAffinity.final"


# ---------------------------------------------------------------------------- build_plan


def test_build_plan_default_config_fields() -> None:
    doc = config("echo", "hi")
    doc["process"]["env"] = ["PATH=/bin", "A=b"]
    plan = build(doc, fifo_path="/state/exec.fifo")
    assert plan.argv == ("echo", "hi")
    assert plan.env == ("PATH=/bin", "A=b")
    assert plan.exec_candidates == ("/bin/echo",)
    assert plan.cwd == "/"
    assert plan.keep_fds == 3
    assert plan.umask == 0o022
    assert plan.no_new_privs is True
    assert plan.root_readonly is True
    assert plan.hostname == "pyruntime"
    assert plan.fifo_path == "/state/exec.fifo"
    assert plan.rlimits == ((7, 1024, 1024),)
    assert plan.clone_flags & CLONE_NEWNS and plan.clone_flags & CLONE_NEWPID
    assert plan.want_hooks is False
    assert (plan.uid, plan.gid, plan.groups) == (0, 0, ())


def test_build_plan_preserve_fds_extends_keep_fds() -> None:
    assert build(config(), preserve_fds=4).keep_fds == 7


def test_build_plan_no_pivot_passed_through() -> None:
    assert build(config(), no_pivot=True).no_pivot is True


def test_build_plan_user_fields() -> None:
    doc = config()
    doc["process"]["user"] = {"uid": 5, "gid": 6, "additionalGids": [7, 8], "umask": 0o077}
    plan = build(doc)
    assert (plan.uid, plan.gid, plan.groups, plan.umask) == (5, 6, (7, 8), 0o077)


def test_build_plan_empty_args_refused() -> None:
    doc = config()
    doc["process"]["args"] = []
    with pytest.raises(SpecError) as e:
        build(doc)
    assert e.value.path == "process.args"


def test_build_plan_relative_cwd_refused() -> None:
    doc = config()
    doc["process"]["cwd"] = "work"
    with pytest.raises(SpecError) as e:
        build(doc)
    assert e.value.path == "process.cwd"


def test_build_plan_hostname_without_uts_refused() -> None:
    doc = config()
    doc["linux"]["namespaces"] = [{"type": "mount"}]
    with pytest.raises(SpecError) as e:
        build(doc)
    assert e.value.path == "hostname"


def test_build_plan_domainname_set_with_uts() -> None:
    doc = config()
    doc["domainname"] = "example.org"
    assert build(doc).domainname == "example.org"


def test_build_plan_new_user_namespace_needs_mappings() -> None:
    doc = config()
    doc["linux"]["namespaces"].append({"type": "user"})
    with pytest.raises(SpecError, match="mappings"):
        build(doc)
    doc["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    doc["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    plan = build(doc)
    assert plan.uid_mappings == (P.IdMapping(0, 1000, 1),)
    # no mknod in a user namespace: device nodes are bind mounts
    assert "MKNOD" not in kinds(plan.ops)


def test_build_plan_hooks_flag_only_for_create_phase_hooks() -> None:
    doc = config()
    doc["hooks"] = {"poststart": [{"path": "/bin/true"}]}
    assert build(doc).want_hooks is False
    for kind in ("prestart", "createRuntime", "createContainer"):
        doc["hooks"] = {kind: [{"path": "/bin/true"}]}
        assert build(doc).want_hooks is True, kind


def test_build_plan_oom_score_and_affinity() -> None:
    doc = config()
    doc["process"]["oomScoreAdj"] = -500
    doc["process"]["execCPUAffinity"] = {"initial": "0", "final": "1"}
    plan = build(doc)
    assert plan.oom_score_adj == -500
    assert plan.cpu_initial is not None and plan.cpu_initial[0] == 1
    assert plan.cpu_final is not None and plan.cpu_final[0] == 2


def test_build_plan_cwd_is_last_op() -> None:
    doc = config()
    doc["process"]["cwd"] = "/srv/app"
    plan = build(doc)
    assert plan.ops[-1] == P.Op("MKDIR", "/srv/app", mode=0o755, label="create cwd /srv/app")


def test_build_plan_process_override_used() -> None:
    doc = config("from-config")
    plan = P.build_plan(doc, "/b", "/b/rootfs", P.LaunchOptions(), FACTS,
                        process={"args": ["/bin/other"], "cwd": "/"})
    assert plan.argv == ("/bin/other",)


def test_build_plan_is_pure_same_input_same_plan() -> None:
    assert build(config()) == build(config())
