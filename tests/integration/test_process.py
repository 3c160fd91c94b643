"""The container process: args and PATH lookup, env, cwd, user, umask, rlimits, privileges,
capabilities, personality, scheduler, I/O priority and CPU affinity.

Each test runs one busybox container with `pyruntime run` and reads what the kernel shows
from inside (mostly /proc/self/status).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import one_line_error, run_bundle, run_out

pytestmark = pytest.mark.root



def status_fields(cli: Any, bundle: Any) -> dict[str, str]:
    """/proc/self/status of the container process, as a dict."""
    bundle.config["process"]["args"] = ["cat", "/proc/self/status"]
    bundle.write()
    out = run_out(cli, bundle)
    return {k: v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}



def cap_mask(*bits: int) -> int:
    return sum(1 << b for b in set(bits))


CAP_CHOWN, CAP_KILL, CAP_NET_RAW, CAP_SYS_ADMIN = 0, 5, 13, 21


# ---------------------------------------------------------------------------- args


def test_args_found_in_path_runs(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("myprog")
    tool = b.rootfs / "opt" / "tools" / "myprog"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\necho from-opt \"$@\"\n")
    tool.chmod(0o755)
    b.config["process"]["args"] = ["myprog", "a"]
    b.config["process"]["env"] = ["PATH=/nowhere:/opt/tools:/bin"]
    b.write()
    assert run_out(cli, b) == "from-opt a\n"


def test_args_path_lookup_skips_non_executable(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("echo", "busybox-echo")
    first = b.rootfs / "first" / "echo"
    first.parent.mkdir()
    first.write_text("#!/bin/sh\necho wrong\n")
    first.chmod(0o644)
    b.config["process"]["env"] = ["PATH=/first:/bin"]
    b.write()
    assert run_out(cli, b) == "busybox-echo\n"


def test_args_missing_in_path_fails_not_found(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("no-such-command")
    cid = cli.new_id()
    proc = cli("run", "-b", str(b.path), cid)
    text = one_line_error(proc).replace('\\"', '"')  # the log line escapes quotes
    assert 'exec: "no-such-command": executable file not found in $PATH' in text
    assert not (cli.root / cid).exists()


def test_args_missing_absolute_fails_no_such_file(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("/bin/no-such-binary")
    text = one_line_error(run_bundle(cli, b))
    assert "/bin/no-such-binary" in text
    assert "no such file or directory" in text


def test_args_missing_fails_at_create(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b = make_bundle("no-such-command")
    cid = cli.new_id()
    with open(tmp_path / "err", "wb") as err:
        rc = subprocess.run([*cli.base, "--root", str(cli.root), "create", "-b", str(b.path),
                             cid], stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                            timeout=30, check=False).returncode
    assert rc == 1
    assert "executable file not found in $PATH" in (tmp_path / "err").read_text()
    assert not (cli.root / cid).exists()


def test_args_directory_fails_one_line(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("/bin")
    text = one_line_error(run_bundle(cli, b))
    assert "/bin" in text


def test_args_relative_path_resolved_from_cwd(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("./hello")
    script = b.rootfs / "work" / "hello"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\necho relative\n")
    script.chmod(0o755)
    b.config["process"]["cwd"] = "/work"
    b.write()
    assert run_out(cli, b) == "relative\n"


# ---------------------------------------------------------------------------- env, cwd


def test_env_given_variables_reach_process(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("env")
    b.config["process"]["env"] = ["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY="]
    b.write()
    lines = run_out(cli, b).splitlines()
    assert "FOO=bar baz" in lines
    assert "EMPTY=" in lines
    assert "PATH=/bin:/usr/bin" in lines
    # nothing of the runtime's own environment leaks in
    assert not any(line.startswith(("PYTHON", "PYTEST", "PWD=/work")) for line in lines)


def test_env_home_missing_set_from_passwd(cli: Any, make_bundle: Any) -> None:
    # runc sets HOME from the container's /etc/passwd when the config does not
    b = make_bundle("env")
    b.config["process"]["env"] = ["PATH=/bin:/usr/bin"]
    b.write()
    assert "HOME=/root" in run_out(cli, b).splitlines()


def test_cwd_missing_directory_created(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("pwd")
    b.config["process"]["cwd"] = "/does/not/exist/yet"
    b.write()
    assert run_out(cli, b) == "/does/not/exist/yet\n"
    assert (b.rootfs / "does" / "not" / "exist" / "yet").is_dir()


def test_cwd_dangling_symlink_to_host_path_created_inside_rootfs(
        cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    # the link's target is created inside the rootfs (runc fails with "file exists"); what
    # matters is that the host path the link names is never created
    host_dir = tmp_path / "host-only"
    b = make_bundle("pwd")
    (b.rootfs / "escape").symlink_to(host_dir / "sub")
    b.config["process"]["cwd"] = "/escape"
    b.write()
    # the container's (physical) cwd is the link's target, made inside its rootfs
    assert run_out(cli, b) == f"{host_dir / 'sub'}\n"
    assert not host_dir.exists()
    assert (b.rootfs / str(host_dir / "sub").lstrip("/")).is_dir()


def test_cwd_symlink_resolved_inside_rootfs(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("cat", "marker")
    (b.rootfs / "inside").mkdir()
    (b.rootfs / "inside" / "marker").write_text("inside-rootfs\n")
    (b.rootfs / "link").symlink_to("/inside")  # absolute: must mean the container's /inside
    b.config["process"]["cwd"] = "/link"
    b.write()
    assert run_out(cli, b) == "inside-rootfs\n"


def test_cwd_existing_file_fails_one_line(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("pwd")
    b.config["process"]["cwd"] = "/etc/passwd"
    b.write()
    text = one_line_error(run_bundle(cli, b))
    assert "/etc/passwd" in text


# ---------------------------------------------------------------------------- user


def test_user_uid_gid_additional_gids_applied(cli: Any, make_bundle: Any) -> None:
    b = make_bundle()
    b.config["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 2000]}
    st = status_fields(cli, b)
    assert st["Uid"].split() == ["1000"] * 4
    assert st["Gid"].split() == ["1001"] * 4
    assert sorted(int(g) for g in st["Groups"].split()) == [5, 2000]


def test_user_root_without_additional_gids_has_no_groups(cli: Any, make_bundle: Any) -> None:
    b = make_bundle()
    st = status_fields(cli, b)
    assert st["Uid"].split() == ["0"] * 4
    assert st["Groups"] == ""


def test_user_umask_applied(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sh", "-c", "umask")
    b.config["process"]["user"]["umask"] = 0o077
    b.write()
    assert run_out(cli, b).strip() == "0077"


def test_user_umask_default_is_0022(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sh", "-c", "umask")
    assert run_out(cli, b).strip() == "0022"


# ---------------------------------------------------------------------------- limits


def test_rlimits_applied(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("cat", "/proc/self/limits")
    b.config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
    ]
    b.write()
    out = run_out(cli, b)
    files = next(line for line in out.splitlines() if line.startswith("Max open files"))
    assert files.split()[3:5] == ["100", "200"]
    core = next(line for line in out.splitlines() if line.startswith("Max core file size"))
    assert core.split()[4:6] == ["0", "4096"]


def test_rlimits_soft_above_hard_fails(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    b.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 300, "hard": 200}]
    b.write()
    assert "rlimits" in one_line_error(run_bundle(cli, b))


def test_no_new_privileges_true_sets_flag(cli: Any, make_bundle: Any) -> None:
    b = make_bundle()
    b.config["process"]["noNewPrivileges"] = True
    assert status_fields(cli, b)["NoNewPrivs"] == "1"


def test_no_new_privileges_false_leaves_flag_clear(cli: Any, make_bundle: Any) -> None:
    b = make_bundle()
    b.config["process"]["noNewPrivileges"] = False
    assert status_fields(cli, b)["NoNewPrivs"] == "0"


def test_oom_score_adj_applied(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("cat", "/proc/self/oom_score_adj")
    b.config["process"]["oomScoreAdj"] = 567
    b.write()
    assert run_out(cli, b).strip() == "567"


# ---------------------------------------------------------------------------- capabilities


def test_capabilities_five_sets_for_non_root_user(cli: Any, make_bundle: Any) -> None:
    b = make_bundle()
    b.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    b.config["process"]["capabilities"] = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL"],
        "inheritable": ["CAP_CHOWN", "CAP_KILL"],
        "ambient": ["CAP_CHOWN"],
    }
    st = status_fields(cli, b)
    # execve as a non-root user: permitted and effective become the ambient set
    assert int(st["CapBnd"], 16) == cap_mask(CAP_CHOWN, CAP_KILL, CAP_NET_RAW)
    assert int(st["CapInh"], 16) == cap_mask(CAP_CHOWN, CAP_KILL)
    assert int(st["CapAmb"], 16) == cap_mask(CAP_CHOWN)
    assert int(st["CapPrm"], 16) == cap_mask(CAP_CHOWN)
    assert int(st["CapEff"], 16) == cap_mask(CAP_CHOWN)


def test_capabilities_root_limited_by_bounding(cli: Any, make_bundle: Any) -> None:
    b = make_bundle()
    b.config["process"]["capabilities"] = {
        "bounding": ["CAP_CHOWN", "CAP_KILL"],
        "effective": ["CAP_KILL"],
        "permitted": ["CAP_KILL"],
        "inheritable": [],
        "ambient": [],
    }
    st = status_fields(cli, b)
    assert int(st["CapBnd"], 16) == cap_mask(CAP_CHOWN, CAP_KILL)
    assert int(st["CapInh"], 16) == 0
    assert int(st["CapAmb"], 16) == 0
    # noNewPrivileges (the default config) keeps root's execve from adding caps (as runc)
    assert int(st["CapPrm"], 16) == cap_mask(CAP_KILL)
    assert int(st["CapEff"], 16) == cap_mask(CAP_KILL)


def test_capabilities_missing_drop_sys_admin(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("hostname", "changed")
    b.config["process"]["capabilities"] = {k: ["CAP_KILL"] for k in
                                           ("bounding", "effective", "permitted")}
    b.write()
    proc = run_bundle(cli, b)
    assert proc.returncode != 0  # sethostname needs CAP_SYS_ADMIN


# ---------------------------------------------------------------------------- personality, scheduling


def test_personality_linux32_uname_is_i686(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("uname", "-m")
    b.config["linux"]["personality"] = {"domain": "LINUX32"}
    b.write()
    assert run_out(cli, b).strip() == "i686"


def test_personality_linux_uname_is_native(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("uname", "-m")
    b.config["linux"]["personality"] = {"domain": "LINUX"}
    b.write()
    assert run_out(cli, b).strip() == os.uname().machine


def test_scheduler_batch_policy_and_nice_applied(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("cat", "/proc/self/stat")
    b.config["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
    b.write()
    fields = run_out(cli, b).rsplit(")", 1)[1].split()
    # fields after the comm: index 0 is field 3 (state); nice is field 19, policy field 41
    assert int(fields[19 - 3]) == 7
    assert int(fields[41 - 3]) == 3  # SCHED_BATCH


def test_scheduler_unknown_policy_fails(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    b.config["process"]["scheduler"] = {"policy": "SCHED_NOPE"}
    b.write()
    assert "scheduler" in one_line_error(run_bundle(cli, b))


def _ioprio_get(pid: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    sys_ioprio_get = 252 if os.uname().machine == "x86_64" else 31
    value = libc.syscall(sys_ioprio_get, 1, pid)  # IOPRIO_WHO_PROCESS
    assert value >= 0, ctypes.get_errno()
    return int(value)


def test_io_priority_applied(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b = make_bundle("sleep", "30")
    b.config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 6}
    b.write()
    cid = cli.new_id()
    with open(tmp_path / "out", "wb") as o:
        rc = subprocess.run([*cli.base, "--root", str(cli.root), "run", "-d", "-b",
                             str(b.path), cid], stdin=subprocess.DEVNULL, stdout=o, stderr=o,
                            timeout=30, check=False).returncode
    assert rc == 0, (tmp_path / "out").read_text()
    pid = cli.state(cid)["pid"]
    assert _ioprio_get(pid) == (2 << 13) | 6


def test_io_priority_bad_level_fails(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    b.config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 9}
    b.write()
    one_line_error(run_bundle(cli, b))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_exec_cpu_affinity_final_applied(cli: Any, make_bundle: Any) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    b = make_bundle("grep", "Cpus_allowed_list", "/proc/self/status")
    b.config["process"]["execCPUAffinity"] = {"initial": str(cpus[0]), "final": str(cpus[1])}
    b.write()
    assert run_out(cli, b).split() == ["Cpus_allowed_list:", str(cpus[1])]


def test_exec_cpu_affinity_bad_list_fails(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    b.config["process"]["execCPUAffinity"] = {"final": "3-1"}
    b.write()
    assert "execCPUAffinity" in one_line_error(run_bundle(cli, b))


def test_process_terminal_create_without_console_socket_fails(cli: Any, make_bundle: Any,
                                                              tmp_path: Path) -> None:
    b = make_bundle("true")
    b.config["process"]["terminal"] = True
    b.write()
    cid = cli.new_id()
    with open(tmp_path / "err", "wb") as err:
        rc = subprocess.run([*cli.base, "--root", str(cli.root), "create", "-b", str(b.path),
                             cid], stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                            timeout=30, check=False).returncode
    assert rc == 1
    assert "console socket" in (tmp_path / "err").read_text()
    assert not (cli.root / cid).exists()
