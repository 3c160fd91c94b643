"""containerd 1.6 scenarios through `ctr`, with `--runc-binary` runc and pyruntime.

Owns: end-to-end checks that containerd-shim-runc-v2 drives pyruntime like runc
(CONTRACT.md §6): ctr run (--rm, -d, -t), task exec/kill/pause/resume/metrics/ps/delete,
and the options ctr turns into config.json (relative root "rootfs", rlimits, no_new_privs).
Must not touch: networks (no --net-host, no --cni: each container gets a new empty netns).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.daemons.conftest import Ctr, cgroup_file, runtimes, wait_until

pytestmark = [pytest.mark.root, pytest.mark.cgroup_v1]


def _cgroups_path(ctr: Ctr, cid: str) -> str:
    return f"/{ctr.namespace}/{cid}"  # ctr's default cgroupsPath: /<namespace>/<id>


def _run_detached(ctr: Ctr, runtime: str, *args: str, opts: tuple[str, ...] = ()) -> str:
    cid = ctr.new_id()
    res = ctr("run", "-d", *ctr.runtime_opts(runtime), *opts, ctr.image, cid,
              *(args or ("sleep", "600")))
    assert res.returncode == 0, res
    assert wait_until(lambda: ctr.task_status(cid) == "RUNNING", timeout=15), ctr("task", "ls")
    return cid


def _task_pid(ctr: Ctr, cid: str) -> int:
    for line in ctr("task", "ls", check=True).stdout.splitlines()[1:]:
        fields = line.split()
        if fields[0] == cid:
            return int(fields[1])
    raise AssertionError(f"no task {cid}")


# --- ctr run --rm --------------------------------------------------------------------------

@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_run_rm_prints_output(ctr: Ctr, runtime: str) -> None:
    res = ctr.run(runtime, ctr.new_id(), "echo", "hello", runtime)
    assert (res.returncode, res.stdout) == (0, f"hello {runtime}\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_run_exit_code_propagates(ctr: Ctr, runtime: str) -> None:
    res = ctr.run(runtime, ctr.new_id(), "sh", "-c", "echo err >&2; exit 5")
    assert (res.returncode, res.stderr) == (5, "err\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_run_stdin_pipe_reaches_process(ctr: Ctr, runtime: str) -> None:
    # ctr 1.6 never closes the task's stdin on EOF, so read one line instead of waiting for EOF
    res = ctr.run(runtime, ctr.new_id(), "sh", "-c", "read line; echo $line | tr a-z A-Z",
                  input="via ctr\n", timeout=30)
    assert (res.returncode, res.stdout) == (0, "VIA CTR\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_run_missing_command_fails_with_runtime_error(ctr: Ctr, runtime: str) -> None:
    cid = ctr.new_id()
    res = ctr.run(runtime, cid, "/nonexistent")
    assert res.returncode != 0, res
    assert 'exec: "/nonexistent"' in res.stderr and "no such file or directory" in res.stderr, res
    assert ctr("container", "info", cid).returncode != 0 or ctr.task_status(cid) == ""


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_run_new_netns_has_loopback_up(ctr: Ctr, runtime: str) -> None:
    res = ctr.run(runtime, ctr.new_id(), "sh", "-c",
                  "ip -o link show lo; cat /proc/net/dev | tail -n +3 | wc -l")
    assert res.returncode == 0, res
    link, count = res.stdout.splitlines()
    assert count.strip() == "1", res  # only lo: no network given to the container
    assert ",UP," in link or "<LOOPBACK,UP" in link, res


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_run_defaults_rlimit_and_no_new_privs(ctr: Ctr, runtime: str) -> None:
    res = ctr.run(runtime, ctr.new_id(), "sh", "-c",
                  "ulimit -n; grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status")
    assert res.returncode == 0, res
    lines = res.stdout.splitlines()
    assert lines[0] == "1024", res
    status = dict(line.split(":\t") for line in lines[1:])
    assert status == {"NoNewPrivs": "1", "Seccomp": "0", "CapEff": "00000000a80425fb"}, res


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_run_seccomp_default_profile_applies(ctr: Ctr, runtime: str) -> None:
    res = ctr.run(runtime, ctr.new_id(), "sh", "-c", "grep '^Seccomp:' /proc/self/status",
                  opts=("--seccomp",))
    assert (res.returncode, res.stdout) == (0, "Seccomp:\t2\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_run_env_cwd_and_readonly(ctr: Ctr, runtime: str) -> None:
    res = ctr.run(runtime, ctr.new_id(), "sh", "-c", "echo $A; pwd; touch /x 2>&1 || echo ro",
                  opts=("--env", "A=b", "--cwd", "/etc", "--read-only"))
    assert res.returncode == 0, res
    assert res.stdout.splitlines()[:2] == ["b", "/etc"] and res.stdout.endswith("ro\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_run_bind_mount_shares_files(ctr: Ctr, runtime: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("host file\n")
    res = ctr.run(runtime, ctr.new_id(), "sh", "-c", "cat /mnt/f; echo back > /mnt/g",
                  opts=("--mount", f"type=bind,src={tmp_path},dst=/mnt,options=rbind:rw"))
    assert (res.returncode, res.stdout) == (0, "host file\n"), res
    assert (tmp_path / "g").read_text() == "back\n"


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_run_memory_and_cpu_limits_set_cgroup(ctr: Ctr, runtime: str) -> None:
    cid = _run_detached(ctr, runtime, opts=("--memory-limit", str(48 << 20), "--cpus", "0.5",
                                            "--cpu-shares", "256"))
    path = _cgroups_path(ctr, cid)
    assert cgroup_file("memory", path, "memory.limit_in_bytes").read_text().strip() == str(48 << 20)
    assert cgroup_file("cpu", path, "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert cgroup_file("cpu", path, "cpu.shares").read_text().strip() == "256"
    pid = _task_pid(ctr, cid)
    assert str(pid) in cgroup_file("pids", path, "cgroup.procs").read_text().split()


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_run_tty_under_script(ctr: Ctr, runtime: str) -> None:
    cid = ctr.new_id()
    argv = ["ctr", "--address", ctr.address, "--namespace", ctr.namespace, "run", "--rm", "-t",
            *ctr.runtime_opts(runtime), ctr.image, cid, "sh", "-c", "tty; exit 3"]
    rc, out = _under_script(" ".join(argv))
    assert rc == 3, out
    assert "/dev/pts/0" in out, out


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_run_no_pivot_runs(ctr: Ctr, runtime: str) -> None:
    res = ctr.run(runtime, ctr.new_id(), "cat", "/etc/hostname", opts=("--no-pivot",))
    assert (res.returncode, res.stdout) == (0, "pyruntime\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_run_user_namespace_maps_root(ctr: Ctr, runtime: str) -> None:
    # ctr chowns a copy of the snapshot; the runtime writes the maps and joins the userns
    res = ctr.run(runtime, ctr.new_id(), "sh", "-c",
                  "id -u; cat /proc/self/uid_map; touch /w && echo w",
                  opts=("--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"))
    assert res.returncode == 0, res
    uid, uid_map, wrote = res.stdout.splitlines()
    assert (uid, uid_map.split(), wrote) == ("0", ["0", "100000", "65536"], "w"), res


# --- ctr run -d + task verbs -------------------------------------------------------------------

@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_task_exec_prints_output_and_exit_code(ctr: Ctr, runtime: str) -> None:
    cid = _run_detached(ctr, runtime)
    res = ctr("task", "exec", "--exec-id", "e1", cid, "sh", "-c", "echo in-exec; exit 4")
    assert (res.returncode, res.stdout) == (4, "in-exec\n"), res
    res = ctr("task", "exec", "--exec-id", "e2", "--cwd", "/tmp", cid, "pwd")
    assert (res.returncode, res.stdout) == (0, "/tmp\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_task_exec_missing_command_fails(ctr: Ctr, runtime: str) -> None:
    cid = _run_detached(ctr, runtime)
    res = ctr("task", "exec", "--exec-id", "bad", cid, "/nope")
    assert res.returncode != 0, res
    assert 'exec: "/nope"' in res.stderr, res
    assert ctr.task_status(cid) == "RUNNING"


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_task_exec_tty_under_script(ctr: Ctr, runtime: str) -> None:
    cid = _run_detached(ctr, runtime)
    argv = ["ctr", "--address", ctr.address, "--namespace", ctr.namespace, "task", "exec", "-t",
            "--exec-id", "t1", cid, "sh", "-c", "tty; exit 2"]
    rc, out = _under_script(" ".join(argv))
    assert rc == 2, out
    assert "/dev/pts/" in out, out


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_task_ps_lists_host_pids(ctr: Ctr, runtime: str) -> None:
    cid = _run_detached(ctr, runtime)
    res = ctr("task", "ps", cid)
    assert res.returncode == 0, res
    pids = [line.split()[0] for line in res.stdout.splitlines()[1:]]
    assert pids == [str(_task_pid(ctr, cid))], res


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_task_metrics_reads_cgroup(ctr: Ctr, runtime: str) -> None:
    cid = _run_detached(ctr, runtime)
    res = ctr("task", "metrics", cid)
    assert res.returncode == 0, res
    values = dict(line.split()[:2] for line in res.stdout.splitlines() if line.count(" ") and
                  line.split()[0].startswith(("memory.", "pids.", "cpuacct.")))
    assert int(values["memory.usage_in_bytes"]) > 0, res


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_task_pause_resume_freezes_cgroup(ctr: Ctr, runtime: str) -> None:
    cid = _run_detached(ctr, runtime)
    freezer = cgroup_file("freezer", _cgroups_path(ctr, cid), "freezer.state")
    res = ctr("task", "pause", cid)
    try:
        assert res.returncode == 0, res
        assert ctr.task_status(cid) == "PAUSED"
        assert freezer.read_text().strip() == "FROZEN"
    finally:
        resume = ctr("task", "resume", cid)
    assert resume.returncode == 0, resume
    assert ctr.task_status(cid) == "RUNNING"
    assert freezer.read_text().strip() == "THAWED"


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_task_kill_term_reaches_handler(ctr: Ctr, runtime: str) -> None:
    cid = _run_detached(ctr, runtime, "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done")
    time.sleep(0.3)  # let sh install the trap
    res = ctr("task", "kill", cid)  # SIGTERM
    assert res.returncode == 0, res
    assert wait_until(lambda: ctr.task_status(cid) == "STOPPED", timeout=15), ctr("task", "ls")
    res = ctr("task", "delete", cid)
    assert res.returncode == 0, res
    assert "exit code" not in res.stderr, res  # ctr warns only for non-zero exit codes


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_task_kill_sigkill_then_delete_reports_137(ctr: Ctr, runtime: str) -> None:
    cid = _run_detached(ctr, runtime)
    pid = _task_pid(ctr, cid)
    res = ctr("task", "kill", "-s", "SIGKILL", cid)
    assert res.returncode == 0, res
    assert wait_until(lambda: ctr.task_status(cid) == "STOPPED", timeout=15), ctr("task", "ls")
    res = ctr("task", "delete", cid)
    assert res.returncode == 0 and "137" in res.stderr, res
    assert not Path(f"/proc/{pid}").exists()
    assert ctr.task_status(cid) == ""
    assert not cgroup_file("pids", _cgroups_path(ctr, cid), "").exists()


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_task_kill_all_kills_exec_processes(ctr: Ctr, runtime: str) -> None:
    cid = _run_detached(ctr, runtime)
    exec_proc = subprocess.Popen(
        ["ctr", "--address", ctr.address, "--namespace", ctr.namespace, "task", "exec",
         "--exec-id", "long", cid, "sleep", "500"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: len(ctr("task", "ps", cid).stdout.splitlines()) == 3, timeout=15)
        res = ctr("task", "kill", "-a", "-s", "SIGKILL", cid)
        assert res.returncode == 0, res
        exec_proc.wait(timeout=15)
        assert exec_proc.returncode == 137
        assert wait_until(lambda: ctr.task_status(cid) == "STOPPED", timeout=15)
    finally:
        if exec_proc.poll() is None:
            exec_proc.kill()
            exec_proc.wait(timeout=10)


@pytest.mark.parametrize("runtime", runtimes())
def test_ctr_task_rm_force_removes_running_task(ctr: Ctr, runtime: str) -> None:
    cid = _run_detached(ctr, runtime)
    res = ctr("task", "rm", "-f", cid)
    assert res.returncode == 0, res
    assert ctr.task_status(cid) == ""
    # the runtime's state is gone too: the cleanup shim's delete --force found nothing left
    state = Path(ctr.runc_root) / ctr.namespace / cid
    assert not state.exists(), list(state.iterdir())


def _under_script(command: str, timeout: float = 60) -> tuple[int, str]:
    """Run `command` with a real tty (util-linux script); returns (exit code, output sans CR)."""
    try:
        proc = subprocess.run(["script", "-eqc", command, "/dev/null"], stdin=subprocess.PIPE,
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{command} timed out; output {e.output!r}") from e
    return proc.returncode, proc.stdout.decode(errors="replace").replace("\r", "")
