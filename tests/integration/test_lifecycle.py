"""Lifecycle of real busybox containers: create, start, state, kill, delete, run, list.

Runs the pyruntime CLI (conftest `cli`) with a private --root. `create` is always run with
stdio redirected to files: the waiting init inherits the caller's stdio, so a pipe would
never see EOF (runc behaves the same way).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import one_line_error, v1_cgroups

pytestmark = pytest.mark.root


# ---------------------------------------------------------------------------- helpers


def create(cli: Any, bundle: Any, cid: str, *flags: str, cwd: str | None = None,
           shell_prefix: str = "") -> tuple[int, Path, Path]:
    """`create` with stdout/stderr in files next to the bundle; returns (rc, out, err).

    shell_prefix is a redirection such as `5<FILE` applied by sh before exec'ing pyruntime,
    to hand the runtime an extra inheritable fd.
    """
    out = bundle.path / f"{cid}.out"
    err = bundle.path / f"{cid}.err"
    cmd = [*cli.base, "--root", str(cli.root), "create", *flags, cid]
    if bundle is not None and "-b" not in flags and cwd is None:
        cmd[-1:-1] = ["-b", str(bundle.path)]
    if shell_prefix:
        cmd = ["sh", "-c", f'exec "$@" {shell_prefix}', "sh", *cmd]
    with open(out, "wb") as o, open(err, "wb") as e:
        rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=o, stderr=e, cwd=cwd,
                            timeout=30, check=False).returncode
    return rc, out, err


def started(cli: Any, bundle: Any, status: str) -> tuple[str, dict[str, Any]]:
    """create + start the bundle under a new id, then wait for `status`; (id, its state)."""
    cid = cli.new_id()
    create(cli, bundle, cid)
    cli("start", cid, check=True)
    return cid, wait_status(cli, cid, status)


def wait_status(cli: Any, cid: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll `state` until it shows status (the container may not exist yet)."""
    deadline = time.monotonic() + timeout
    while True:
        proc = cli("state", cid)
        if proc.returncode != 0:
            assert time.monotonic() < deadline, proc.stderr
            time.sleep(0.02)
            continue
        st: dict[str, Any] = json.loads(proc.stdout)
        if st["status"] == status or time.monotonic() > deadline:
            assert st["status"] == status, st
            return st
        time.sleep(0.02)


def pids_with_arg(word: str) -> list[int]:
    """Pids whose command line contains word (the id appears in pyruntime's argv)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if word.encode() in args:
            out.append(int(name))
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False



# ---------------------------------------------------------------------------- create / state


def test_create_success_prints_nothing(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sleep", "30")
    cid = cli.new_id()
    rc, out, err = create(cli, b, cid)
    assert rc == 0
    assert out.read_bytes() == b""
    assert err.read_bytes() == b""


def test_state_created_container_has_runc_fields(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    b.config["annotations"] = {"org.example.key": "value"}
    b.write()
    cid = cli.new_id()
    assert create(cli, b, cid)[0] == 0
    st = cli.state(cid)
    assert list(st) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
                        "annotations", "owner"]
    assert st["id"] == cid
    assert st["status"] == "created"
    assert st["pid"] > 0 and alive(st["pid"])
    assert st["bundle"] == os.path.realpath(b.path)
    assert st["rootfs"] == os.path.realpath(b.rootfs)
    assert st["annotations"] == {"org.example.key": "value"}
    assert st["created"].endswith("Z") and "T" in st["created"]


def test_create_existing_id_fails_one_line(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    cid = cli.new_id()
    assert create(cli, b, cid)[0] == 0
    rc, _, err = create(cli, b, cid)
    assert rc == 1
    text = err.read_text().strip()
    assert "exists" in text and len(text.splitlines()) == 1
    assert cli.state(cid)["status"] == "created"


def test_create_invalid_id_fails_without_state(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    rc, _, err = create(cli, b, "../escape")
    assert rc == 1
    assert "invalid container id" in err.read_text()
    assert not (cli.root / ".." / "escape").exists()


def test_state_missing_id_fails_does_not_exist(cli: Any) -> None:
    text = one_line_error(cli("state", "no-such-container"))
    assert "does not exist" in text


def test_init_created_waits_alone(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    cid = cli.new_id()
    assert create(cli, b, cid)[0] == 0
    pid = cli.state(cid)["pid"]
    # The init is a clone of the create process, so its argv still names the id: it must
    # be the only process left that does (no monitor, no intermediate process).
    assert pids_with_arg(cid) == [pid]
    with open(f"/proc/{pid}/status") as f:
        ppid = int(next(line for line in f if line.startswith("PPid:")).split()[1])
    assert ppid not in pids_with_arg(cid)
    with open(f"/proc/{pid}/stat") as f:
        assert f.read().rsplit(")", 1)[1].split()[0] == "S"  # blocked, not spinning


def test_create_relative_bundle_from_cwd_works(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    cid = cli.new_id()
    rc, _, err = create(cli, b, cid, cwd=str(b.path))
    assert rc == 0, err.read_text()
    assert cli.state(cid)["bundle"] == os.path.realpath(b.path)


# ---------------------------------------------------------------------------- start


def test_start_created_container_runs_process(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sh", "-c", "echo started; sleep 30")
    cid = cli.new_id()
    _, out, _ = create(cli, b, cid)
    proc = cli("start", cid)
    assert proc.returncode == 0 and proc.stdout == b"" and proc.stderr == b""
    st = wait_status(cli, cid, "running")
    assert st["pid"] > 0
    deadline = time.monotonic() + 5
    while out.read_bytes() != b"started\n" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert out.read_bytes() == b"started\n"


def test_start_twice_fails_already_running(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sleep", "30")
    cid = cli.new_id()
    create(cli, b, cid)
    cli("start", cid, check=True)
    text = one_line_error(cli("start", cid))
    assert "running" in text


def test_start_stopped_container_fails(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    cid, st = started(cli, b, "stopped")
    assert st["pid"] == 0
    text = one_line_error(cli("start", cid))
    assert "stopped" in text


def test_start_missing_id_fails_does_not_exist(cli: Any) -> None:
    assert "does not exist" in one_line_error(cli("start", "nothing-here"))


# ---------------------------------------------------------------------------- kill


@pytest.mark.parametrize("sig", ["KILL", "SIGKILL", "9", "kill"])
def test_kill_signal_name_or_number_stops_container(cli: Any, make_bundle: Any,
                                                     sig: str) -> None:
    b = make_bundle("sleep", "30")
    cid, st = started(cli, b, "running")
    pid = st["pid"]
    proc = cli("kill", cid, sig)
    assert proc.returncode == 0, proc.stderr
    wait_status(cli, cid, "stopped")
    assert not alive(pid)


def test_kill_default_signal_is_term(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sh", "-c", "trap 'echo got-term; exit 3' TERM; "
                    "echo ready; while :; do sleep 0.05; done")
    cid = cli.new_id()
    _, out, _ = create(cli, b, cid)
    cli("start", cid, check=True)
    deadline = time.monotonic() + 5
    while b"ready" not in out.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.02)
    cli("kill", cid, check=True)
    wait_status(cli, cid, "stopped")
    assert b"got-term" in out.read_bytes()


def test_kill_created_container_stops_it(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    cid = cli.new_id()
    create(cli, b, cid)
    pid = cli.state(cid)["pid"]
    cli("kill", cid, "KILL", check=True)
    wait_status(cli, cid, "stopped")
    assert not alive(pid)


def test_kill_invalid_signal_fails_one_line(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sleep", "30")
    cid = cli.new_id()
    create(cli, b, cid)
    text = one_line_error(cli("kill", cid, "NOTASIGNAL"))
    assert "signal" in text.lower()
    assert cli.state(cid)["status"] == "created"


def test_kill_stopped_container_fails_not_running(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    cid, _ = started(cli, b, "stopped")
    assert "not running" in one_line_error(cli("kill", cid, "KILL"))


def test_kill_all_stopped_container_exits_zero(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    cid, _ = started(cli, b, "stopped")
    proc = cli("kill", "--all", cid, "KILL")
    assert proc.returncode == 0, proc.stderr


def test_kill_all_running_container_kills_every_process(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sh", "-c", "sleep 30 & sleep 31 & wait")
    cid, _ = started(cli, b, "running")
    time.sleep(0.2)
    assert len(pids_with_arg("30") + pids_with_arg("31")) >= 2
    cli("kill", "--all", cid, "KILL", check=True)
    wait_status(cli, cid, "stopped")


# ---------------------------------------------------------------------------- delete


def test_delete_running_without_force_refuses(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sleep", "30")
    cid, st = started(cli, b, "running")
    pid = st["pid"]
    text = one_line_error(cli("delete", cid))
    assert "running" in text
    assert alive(pid)
    assert cli.state(cid)["status"] == "running"


def test_delete_force_running_kills_and_removes(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sleep", "30")
    cid, st = started(cli, b, "running")
    pid = st["pid"]
    cli("delete", "--force", cid, check=True)
    assert not alive(pid)
    assert not (cli.root / cid).exists()
    assert "does not exist" in one_line_error(cli("state", cid))


def test_delete_created_without_force_refuses(cli: Any, make_bundle: Any) -> None:
    # runtime.md: deleting a container that is not stopped MUST generate an error and MUST
    # have no effect (runc 1.1 instead kills a created container without --force)
    b = make_bundle("true")
    cid = cli.new_id()
    create(cli, b, cid)
    pid = cli.state(cid)["pid"]
    assert "not stopped" in one_line_error(cli("delete", cid))
    assert alive(pid)
    assert cli.state(cid)["status"] == "created"


def test_delete_force_created_container_kills_init(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    cid = cli.new_id()
    create(cli, b, cid)
    pid = cli.state(cid)["pid"]
    cli("delete", "--force", cid, check=True)
    assert not alive(pid)
    assert not (cli.root / cid).exists()


def test_delete_stopped_container_removes_state(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    cid, _ = started(cli, b, "stopped")
    cli("delete", cid, check=True)
    assert not (cli.root / cid).exists()


def recorded_cgroup_dirs(cli: Any, cid: str) -> list[Path]:
    """The container's cgroup directories, as its state records them (deduplicated)."""
    state = json.loads((cli.root / cid / "state.json").read_text())
    return [Path(d) for d in dict.fromkeys(state["pyruntime"]["cgroup_paths"].values())]


def test_delete_removes_the_cgroup_in_every_hierarchy(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    cid, _ = started(cli, b, "stopped")
    dirs = recorded_cgroup_dirs(cli, cid)
    assert dirs and all(d.is_dir() for d in dirs)
    cli("delete", cid, check=True)
    assert [d for d in dirs if d.exists()] == []


def test_no_cgroups_path_is_the_id_under_the_callers_cgroup(cli: Any,
                                                             make_bundle: Any) -> None:
    # runc's default (a relative path): the container stays within the caller's limits
    b = make_bundle("sleep", "60")
    b.config["linux"].pop("cgroupsPath", None)
    b.write()
    cid = cli.new_id()
    assert create(cli, b, cid)[0] == 0
    try:
        own = v1_cgroups("self")
        init = v1_cgroups(cli.state(cid)["pid"])
        assert own and init == {c: f"{p.rstrip('/')}/{cid}" for c, p in own.items()}
        dirs = recorded_cgroup_dirs(cli, cid)
        assert dirs and all(d.is_dir() and d.name == cid for d in dirs)
    finally:
        cli("delete", "--force", cid, check=True)
    assert [d for d in dirs if d.exists()] == []


def test_delete_kills_a_stray_task_left_in_the_cgroup(cli: Any, make_bundle: Any) -> None:
    # rmdir alone cannot remove a cgroup that still holds a task: delete then kills it
    b = make_bundle("true")
    cid, _ = started(cli, b, "stopped")
    dirs = recorded_cgroup_dirs(cli, cid)
    stray = subprocess.Popen(["sleep", "60"])
    try:
        for d in dirs:
            (d / "cgroup.procs").write_text(str(stray.pid))
        cli("delete", cid, check=True)
        assert stray.wait(timeout=10) == -signal.SIGKILL
    finally:
        stray.kill()
        stray.wait()
    assert [d for d in dirs if d.exists()] == []
    assert not (cli.root / cid).exists()


def test_delete_force_missing_id_exits_zero(cli: Any) -> None:
    proc = cli("delete", "--force", "never-created")
    assert proc.returncode == 0, proc.stderr


def test_delete_missing_id_fails_does_not_exist(cli: Any) -> None:
    assert "does not exist" in one_line_error(cli("delete", "never-created"))


# ---------------------------------------------------------------------------- run


def test_run_exit_code_is_process_exit_code(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sh", "-c", "echo out; echo err >&2; exit 7")
    cid = cli.new_id()
    proc = cli("run", "-b", str(b.path), cid)
    assert proc.returncode == 7
    assert proc.stdout == b"out\n"
    assert proc.stderr == b"err\n"
    assert not (cli.root / cid).exists()  # run deletes the container after it exits


def test_run_killed_by_signal_exits_128_plus_signal(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sh", "-c", "kill -KILL $$")
    # without a pid namespace the shell is not an init that ignores signals
    b.config["linux"]["namespaces"] = [n for n in b.config["linux"]["namespaces"]
                                       if n["type"] != "pid"]
    b.write()
    proc = cli("run", "-b", str(b.path), cli.new_id())
    assert proc.returncode == 128 + signal.SIGKILL


def test_run_killed_from_outside_exits_137(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sleep", "30")
    cid = cli.new_id()
    cmd = [*cli.base, "--root", str(cli.root), "run", "-b", str(b.path), cid]
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) as proc:
        try:
            wait_status(cli, cid, "running")
            cli("kill", cid, "KILL", check=True)
            assert proc.wait(timeout=10) == 137
        finally:
            proc.kill()


def test_run_forwards_term_to_container(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("sh", "-c", "trap 'exit 5' TERM; while :; do sleep 0.05; done")
    cid = cli.new_id()
    cmd = [*cli.base, "--root", str(cli.root), "run", "-b", str(b.path), cid]
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) as proc:
        try:
            wait_status(cli, cid, "running")
            time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 5
        finally:
            proc.kill()


def test_run_detach_leaves_running_container(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b = make_bundle("sleep", "30")
    cid = cli.new_id()
    with open(tmp_path / "out", "wb") as o:
        rc = subprocess.run([*cli.base, "--root", str(cli.root), "run", "-d", "-b", str(b.path),
                             cid], stdin=subprocess.DEVNULL, stdout=o, stderr=o,
                            timeout=30, check=False).returncode
    assert rc == 0
    assert cli.state(cid)["status"] == "running"


def test_run_stdin_reaches_container(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("cat")
    proc = cli("run", "-b", str(b.path), cli.new_id(), input=b"hello stdin\n")
    assert proc.returncode == 0
    assert proc.stdout == b"hello stdin\n"


# ---------------------------------------------------------------------------- pid file


def test_create_pid_file_written_without_newline(cli: Any, make_bundle: Any,
                                                 tmp_path: Path) -> None:
    b = make_bundle("true")
    cid = cli.new_id()
    pid_dir = tmp_path / "piddir"
    pid_dir.mkdir()
    rc, _, err = create(cli, b, cid, "--pid-file", str(pid_dir / "init.pid"))
    assert rc == 0, err.read_text()
    data = (pid_dir / "init.pid").read_bytes()
    assert data == str(cli.state(cid)["pid"]).encode()
    # written to a temporary name and renamed: nothing else is left in the directory
    assert os.listdir(pid_dir) == ["init.pid"]


def test_create_pid_file_relative_path_is_relative_to_cwd(cli: Any, make_bundle: Any,
                                                          tmp_path: Path) -> None:
    b = make_bundle("true")
    cid = cli.new_id()
    rc, _, err = create(cli, b, cid, "-b", str(b.path), "--pid-file", "rel.pid",
                        cwd=str(tmp_path))
    assert rc == 0, err.read_text()
    assert (tmp_path / "rel.pid").read_text() == str(cli.state(cid)["pid"])


def test_create_pid_file_replaces_existing_file(cli: Any, make_bundle: Any,
                                                tmp_path: Path) -> None:
    b = make_bundle("true")
    cid = cli.new_id()
    pid_file = tmp_path / "old.pid"
    pid_file.write_text("999999\n")
    inode = pid_file.stat().st_ino
    assert create(cli, b, cid, "--pid-file", str(pid_file))[0] == 0
    assert pid_file.read_text() == str(cli.state(cid)["pid"])
    assert pid_file.stat().st_ino != inode  # replaced by rename, never rewritten in place


# ---------------------------------------------------------------------------- fds


# ls runs as a child of sh and lists the shell's fds (a glob, or an ls that sh execs in its
# place, would also show the directory fd of the listing itself)
FD_LIST = "ls /proc/$$/fd; true"


def test_create_extra_inheritable_fd_does_not_reach_container(cli: Any, make_bundle: Any,
                                                              tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    b = make_bundle("sh", "-c", FD_LIST)
    cid = cli.new_id()
    rc, out, err = create(cli, b, cid, shell_prefix=f"5<{secret} 7<{secret}")
    assert rc == 0, err.read_text()
    cli("start", cid, check=True)
    wait_status(cli, cid, "stopped")
    assert out.read_text().split() == ["0", "1", "2"]


def test_create_preserve_fds_passes_fd_3(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("preserved\n")
    b = make_bundle("sh", "-c", FD_LIST + "; cat <&3")
    cid = cli.new_id()
    rc, out, err = create(cli, b, cid, "--preserve-fds", "1",
                          shell_prefix=f"3<{data} 5<{data}")
    assert rc == 0, err.read_text()
    cli("start", cid, check=True)
    wait_status(cli, cid, "stopped")
    assert out.read_text().split() == ["0", "1", "2", "3", "preserved"]


# ---------------------------------------------------------------------------- bundle paths


def test_run_relative_root_path_works(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("cat", "/marker")
    os.rename(b.rootfs, b.path / "other-root")
    (b.path / "other-root" / "marker").write_text("other\n")
    b.config["root"]["path"] = "./other-root"
    b.write()
    proc = cli("run", "-b", str(b.path), cli.new_id())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"other\n"


def test_run_absolute_root_path_works(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("cat", "/marker")
    (b.rootfs / "marker").write_text("abs\n")
    b.config["root"]["path"] = str(b.rootfs)
    b.write()
    proc = cli("run", "-b", str(b.path), cli.new_id())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"abs\n"


def test_create_symlinked_bundle_path_works(cli: Any, make_bundle: Any,
                                            tmp_path: Path) -> None:
    b = make_bundle("cat", "/marker")
    (b.rootfs / "marker").write_text("via link\n")
    link = tmp_path / "bundle-link"
    link.symlink_to(b.path)
    cid = cli.new_id()
    rc, out, err = create(cli, b, cid, "-b", str(link))
    assert rc == 0, err.read_text()
    assert cli.state(cid)["bundle"] == os.path.realpath(b.path)
    cli("start", cid, check=True)
    wait_status(cli, cid, "stopped")
    assert out.read_text() == "via link\n"


# ---------------------------------------------------------------------------- list


def test_list_shows_each_status(cli: Any, make_bundle: Any) -> None:
    created, running, stopped = (cli.new_id("c"), cli.new_id("r"), cli.new_id("s"))
    create(cli, make_bundle("true"), created)
    create(cli, make_bundle("sleep", "30"), running)
    cli("start", running, check=True)
    create(cli, make_bundle("true"), stopped)
    cli("start", stopped, check=True)
    wait_status(cli, stopped, "stopped")
    wait_status(cli, running, "running")
    docs = json.loads(cli("list", "--format", "json", check=True).stdout)
    statuses = {d["id"]: d["status"] for d in docs}
    assert statuses == {created: "created", running: "running", stopped: "stopped"}
    by_id = {d["id"]: d for d in docs}
    assert by_id[stopped]["pid"] == 0
    assert by_id[running]["pid"] > 0
