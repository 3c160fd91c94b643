"""Docker 20.10 scenarios run with `--runtime runc` and `--runtime pyruntime`.

Owns: end-to-end checks that dockerd + containerd-shim-runc-v2 drive pyruntime like runc
(CONTRACT.md §6): run/exit codes, exec/top/stats/pause/update/kill/stop/rm, tty, volumes and
the per-container options docker turns into config.json.
Must not touch: networks (always --network=none) or anything outside the private daemons.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.daemons.conftest import Docker, cgroup_file, runtimes, wait_until

pytestmark = [pytest.mark.root, pytest.mark.cgroup_v1]


# --- docker run: output, exit codes, stdin ------------------------------------------------

@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_echo_prints_output(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "echo", "hello from", runtime)
    assert res.returncode == 0, res
    assert res.stdout == f"hello from {runtime}\n", res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_exit_code_propagates(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "sh", "-c", "exit 3")
    assert res.returncode == 3, res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_stderr_is_separate_stream(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "sh", "-c", "echo out; echo err >&2")
    assert (res.returncode, res.stdout, res.stderr) == (0, "out\n", "err\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_stdin_pipe_reaches_process(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "sh", "-c", "tr a-z A-Z", input="piped input\n")
    assert (res.returncode, res.stdout) == (0, "PIPED INPUT\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_missing_absolute_command_exits_127(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "/nonexistent")
    assert res.returncode == 127, res
    assert '"/nonexistent"' in res.stderr and "no such file or directory" in res.stderr, res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_missing_path_command_exits_127(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "nosuchcmd")
    assert res.returncode == 127, res
    assert "nosuchcmd" in res.stderr and "executable file not found" in res.stderr, res


# --- a detached container: exec, top, stats, pause, update, signals, stop, rm ----------------

@pytest.mark.parametrize("runtime", runtimes())
def test_docker_exec_in_running_container_prints_output(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime)
    res = docker("exec", cid, "sh", "-c", "echo exec-ok; exit 4")
    assert (res.returncode, res.stdout) == (4, "exec-ok\n"), res
    res = docker("exec", "-i", cid, "cat", input="to exec stdin\n")
    assert (res.returncode, res.stdout) == (0, "to exec stdin\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_exec_user_and_env_and_workdir_apply(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime)
    res = docker("exec", "-u", "1000:1000", "-e", "X=y", "-w", "/tmp", cid,
                 "sh", "-c", "echo $(id -u):$(id -g):$X:$(pwd)")
    assert (res.returncode, res.stdout) == (0, "1000:1000:y:/tmp\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_exec_missing_command_exits_126(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime)
    res = docker("exec", cid, "/nope")
    assert res.returncode == 126, res
    assert '"/nope"' in res.stdout + res.stderr, res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_container_has_only_stdio_fds(docker: Docker, runtime: str) -> None:
    # the shim's ttrpc socket (fd 3 of `create`) must not reach the container
    cid = docker.run_detached(runtime)
    res = docker("exec", cid, "ls", "/proc/1/fd")
    assert (res.returncode, res.stdout.split()) == (0, ["0", "1", "2"]), res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_top_lists_container_processes(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime, "sleep", "601")
    res = docker("top", cid)
    assert res.returncode == 0, res
    assert "sleep 601" in res.stdout, res
    pid = docker.inspect(cid)["State"]["Pid"]
    assert str(pid) in res.stdout.split(), res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_stats_no_stream_reports_usage(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime)
    res = docker("stats", "--no-stream", "--format", "{{.MemUsage}}|{{.PIDs}}", cid, timeout=30)
    assert res.returncode == 0, res
    mem, pids = res.stdout.strip().split("|")
    assert not mem.startswith("0B"), res
    assert pids == "1", res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_pause_unpause_freezes_cgroup(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime)
    freezer = cgroup_file("freezer", docker.cgroups_path(cid), "freezer.state")
    res = docker("pause", cid)
    try:
        assert res.returncode == 0, res
        assert docker.inspect(cid)["State"]["Status"] == "paused"
        assert freezer.read_text().strip() == "FROZEN"
        res = docker("exec", cid, "true")
        assert res.returncode != 0 and "paused" in res.stderr, res
    finally:
        unpause = docker("unpause", cid)
    assert unpause.returncode == 0, unpause
    assert freezer.read_text().strip() == "THAWED"
    assert docker.inspect(cid)["State"]["Status"] == "running"
    assert docker("exec", cid, "true").returncode == 0


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_update_memory_sets_cgroup(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime, opts=("--cpu-shares", "512"))
    res = docker("update", "--memory", "64m", "--memory-swap", "128m", cid)
    assert res.returncode == 0, res
    path = docker.cgroups_path(cid)
    assert cgroup_file("memory", path, "memory.limit_in_bytes").read_text().strip() == "67108864"
    memsw = cgroup_file("memory", path, "memory.memsw.limit_in_bytes")
    if memsw.exists():  # only with swap accounting
        assert memsw.read_text().strip() == "134217728"
    # zeros in the update mean "unchanged": cpu shares from `run` must survive
    assert cgroup_file("cpu", path, "cpu.shares").read_text().strip() == "512"


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_update_pids_limit_sets_cgroup(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime)
    res = docker("update", "--pids-limit", "50", cid)
    assert res.returncode == 0, res
    assert cgroup_file("pids", docker.cgroups_path(cid), "pids.max").read_text().strip() == "50"


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_update_cpus_sets_quota(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime)
    res = docker("update", "--cpus", "0.5", cid)
    assert res.returncode == 0, res
    path = docker.cgroups_path(cid)
    assert cgroup_file("cpu", path, "cpu.cfs_period_us").read_text().strip() == "100000"
    assert cgroup_file("cpu", path, "cpu.cfs_quota_us").read_text().strip() == "50000"


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_kill_usr1_reaches_trap_and_keeps_running(docker: Docker, runtime: str) -> None:
    script = "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done"
    cid = docker.run_detached(runtime, "sh", "-c", script)
    assert wait_until(lambda: "ready" in docker("logs", cid).stdout, timeout=15)
    res = docker("kill", "-s", "USR1", cid)
    assert res.returncode == 0, res
    assert wait_until(lambda: "got-usr1" in docker("logs", cid).stdout, timeout=15), \
        docker("logs", cid)
    assert docker.inspect(cid)["State"]["Running"] is True


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_kill_default_sigkill_exits_137(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime)
    res = docker("kill", cid)
    assert res.returncode == 0, res
    assert wait_until(lambda: not docker.inspect(cid)["State"]["Running"], timeout=15)
    assert docker.inspect(cid)["State"]["ExitCode"] == 137


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_stop_term_then_kill_after_timeout(docker: Docker, runtime: str) -> None:
    # sleep as pid 1 has no TERM handler, so the kernel ignores TERM: docker must send KILL
    cid = docker.run_detached(runtime)
    t0 = time.monotonic()
    res = docker("stop", "-t", "2", cid, timeout=60)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res
    state = docker.inspect(cid)["State"]
    assert (state["Running"], state["ExitCode"]) == (False, 137), state
    assert 1.5 < elapsed < 30, elapsed


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_stop_term_handler_exits_cleanly(docker: Docker, runtime: str) -> None:
    script = "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done"
    cid = docker.run_detached(runtime, "sh", "-c", script)
    assert wait_until(lambda: "ready" in docker("logs", cid).stdout, timeout=15)
    res = docker("stop", "-t", "20", cid, timeout=60)
    assert res.returncode == 0, res
    assert docker.inspect(cid)["State"]["ExitCode"] == 0


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_rm_force_removes_running_container(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime)
    pid = docker.inspect(cid)["State"]["Pid"]
    res = docker("rm", "-f", cid)
    assert res.returncode == 0, res
    assert docker("inspect", cid).returncode != 0
    assert wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout=15)
    assert not cgroup_file("pids", docker.cgroups_path(cid), "").exists()


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_restart_runs_container_again(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime)
    first = docker.inspect(cid)["State"]["Pid"]
    res = docker("restart", "-t", "1", cid, timeout=60)
    assert res.returncode == 0, res
    state = docker.inspect(cid)["State"]
    assert state["Running"] and state["Pid"] != first, state


# --- terminals --------------------------------------------------------------------------

def _under_script(docker: Docker, command: str, stdin: str = "", timeout: float = 60
                  ) -> tuple[int, str]:
    """Run `command` with a real tty (util-linux script); returns (exit code, output sans CR)."""
    proc = subprocess.Popen(["script", "-eqc", command, "/dev/null"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=docker.env)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        if stdin:
            time.sleep(1)  # let the shell start; the pty would buffer it anyway
            proc.stdin.write(stdin.encode())
            proc.stdin.flush()
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"{command} timed out; output {out!r}")
    return proc.returncode, out.decode(errors="replace").replace("\r", "")


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_it_gives_a_tty(docker: Docker, runtime: str) -> None:
    name = docker.name()
    rc, out = _under_script(docker, f"{docker.binary} run -it --rm --network=none --name {name} "
                            f"--runtime {runtime} {docker.image} sh -c 'tty; echo $TERM; exit 6'")
    assert rc == 6, out
    assert "/dev/pts/0\nxterm\n" in out, out


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_it_interactive_shell_reads_input(docker: Docker, runtime: str) -> None:
    name = docker.name()
    rc, out = _under_script(docker, f"{docker.binary} run -it --rm --network=none --name {name} "
                            f"--runtime {runtime} {docker.image} sh",
                            stdin="echo sum-$((20+22))\nexit 7\n")
    assert rc == 7, out
    assert "sum-42" in out, out


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_exec_it_gives_a_tty(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime)
    rc, out = _under_script(docker, f"{docker.binary} exec -it {cid} sh -c 'tty; exit 5'")
    assert rc == 5, out
    assert "/dev/pts/" in out, out


# --- options docker turns into config.json -----------------------------------------------

@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_bind_volume_shares_files(docker: Docker, runtime: str,
                                             tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("from host\n")
    os.chmod(tmp_path, 0o777)
    res = docker.run(runtime, "sh", "-c", "cat /data/in.txt; echo from container > /data/out.txt",
                     opts=("-v", f"{tmp_path}:/data"))
    assert (res.returncode, res.stdout) == (0, "from host\n"), res
    assert (tmp_path / "out.txt").read_text() == "from container\n"
    res = docker.run(runtime, "sh", "-c", "echo x > /data/y", opts=("-v", f"{tmp_path}:/data:ro"))
    assert res.returncode != 0 and "Read-only file system" in res.stderr, res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_named_volume_persists(docker: Docker, runtime: str) -> None:
    vol = f"pyrt-vol-{runtime}-{os.getpid()}"
    docker.volumes.append(vol)
    assert docker("volume", "create", vol).returncode == 0
    res = docker.run(runtime, "sh", "-c", "echo kept > /v/f", opts=("-v", f"{vol}:/v"))
    assert res.returncode == 0, res
    res = docker.run(runtime, "cat", "/v/f", opts=("-v", f"{vol}:/v"))
    assert (res.returncode, res.stdout) == (0, "kept\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_read_only_root_rejects_writes(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "sh", "-c", "touch /x", opts=("--read-only",))
    assert res.returncode != 0 and "Read-only file system" in res.stderr, res
    # /dev/shm and /dev stay writable tmpfs
    res = docker.run(runtime, "sh", "-c", "touch /dev/shm/ok && echo ok", opts=("--read-only",))
    assert (res.returncode, res.stdout) == (0, "ok\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_user_sets_ids_and_drops_caps(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "sh", "-c", "id -u; id -g; grep CapEff /proc/self/status",
                     opts=("--user", "1000"))
    assert res.returncode == 0, res
    uid, gid, capeff = res.stdout.splitlines()
    assert (uid, gid) == ("1000", "0"), res
    assert capeff.split()[1] == "0000000000000000", res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_cap_drop_all_clears_every_set(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "grep", "^Cap", "/proc/self/status", opts=("--cap-drop", "ALL"))
    assert res.returncode == 0, res
    caps = dict(line.split(":\t") for line in res.stdout.splitlines())
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert caps[key] == "0000000000000000", res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_default_caps_and_seccomp(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "sh", "-c",
                     "grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status")
    assert res.returncode == 0, res
    status = dict(line.split(":\t") for line in res.stdout.splitlines())
    assert status["CapEff"] == "00000000a80425fb", res  # docker's 14 default capabilities
    assert status["Seccomp"] == "2", res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_pids_limit_sets_cgroup(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime, opts=("--pids-limit", "10"))
    assert cgroup_file("pids", docker.cgroups_path(cid), "pids.max").read_text().strip() == "10"
    res = docker("exec", cid, "cat", "/sys/fs/cgroup/pids/pids.max")
    assert (res.returncode, res.stdout) == (0, "10\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_pids_limit_stops_forks(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait",
                     opts=("--pids-limit", "4"), timeout=60)
    assert "can't fork" in res.stderr or "Resource temporarily unavailable" in res.stderr, res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_memory_sets_cgroup(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime, opts=("--memory", "32m"))
    limit = cgroup_file("memory", docker.cgroups_path(cid), "memory.limit_in_bytes")
    assert limit.read_text().strip() == str(32 << 20)


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_cpus_sets_quota(docker: Docker, runtime: str) -> None:
    cid = docker.run_detached(runtime, opts=("--cpus", "1.5"))
    path = docker.cgroups_path(cid)
    assert cgroup_file("cpu", path, "cpu.cfs_quota_us").read_text().strip() == "150000"
    assert cgroup_file("cpu", path, "cpu.cfs_period_us").read_text().strip() == "100000"


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_tmpfs_mounts_writable_tmpfs(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "sh", "-c",
                     "grep ' /run ' /proc/mounts; echo x > /run/f && cat /run/f",
                     opts=("--read-only", "--tmpfs", "/run"))
    assert res.returncode == 0, res
    mount, content = res.stdout.splitlines()
    fields = mount.split()
    assert fields[2] == "tmpfs", res
    assert {"rw", "nosuid", "nodev", "noexec"} <= set(fields[3].split(",")), res
    assert content == "x", res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_env_is_set(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "sh", "-c", 'echo "$FOO|$HOSTNAME|$PATH"', opts=("-e", "FOO=bar baz"))
    assert res.returncode == 0, res
    foo, hostname, path = res.stdout.rstrip("\n").split("|")
    assert foo == "bar baz" and len(hostname) == 12 and "/bin" in path, res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_workdir_is_cwd(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "pwd", opts=("-w", "/tmp"))
    assert (res.returncode, res.stdout) == (0, "/tmp\n"), res
    res = docker.run(runtime, "pwd", opts=("-w", "/made/by/docker"))
    assert (res.returncode, res.stdout) == (0, "/made/by/docker\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_hostname_and_hosts(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "sh", "-c", "hostname; cat /etc/hostname",
                     opts=("--hostname", "pyrt-host"))
    assert (res.returncode, res.stdout) == (0, "pyrt-host\npyrt-host\n"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_init_runs_docker_init_as_pid1(docker: Docker, runtime: str) -> None:
    if not Path("/usr/bin/docker-init").exists():
        pytest.skip("docker-init not shipped")
    res = docker.run(runtime, "sh", "-c", "cat /proc/1/comm; echo $$; exit 9", opts=("--init",))
    assert res.returncode == 9, res
    comm, mypid = res.stdout.split()
    assert comm == "docker-init" and mypid != "1", res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_network_none_has_only_loopback(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "cat", "/proc/net/dev")
    assert res.returncode == 0, res
    ifaces = [line.split(":")[0].strip() for line in res.stdout.splitlines()[2:]]
    assert ifaces == ["lo"], res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_masked_and_readonly_paths(docker: Docker, runtime: str) -> None:
    # masked: a file gets /dev/null over it, a directory an empty ro tmpfs
    res = docker.run(runtime, "sh", "-c",
                     "wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l; "
                     "grep -E ' /proc/(sys|bus|fs|irq) ' /proc/mounts")
    assert res.returncode == 0, res
    lines = res.stdout.splitlines()
    assert lines[:2] == ["0", "0"], res
    mounts = {line.split()[1]: line.split()[3].split(",") for line in lines[2:]}
    assert set(mounts) == {"/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq"}, res
    assert all("ro" in opts for opts in mounts.values()), res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_default_devices_exist(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "sh", "-c",
                     "for d in null zero full random urandom tty; do "
                     "test -c /dev/$d || echo no-$d; done; head -c 4 /dev/zero | wc -c; "
                     "ls -l /dev/fd/ >/dev/null && echo fd-ok")
    assert (res.returncode, res.stdout.split()) == (0, ["4", "fd-ok"]), res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_ulimit_sets_rlimit(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "sh", "-c", "ulimit -n", opts=("--ulimit", "nofile=512:512"))
    assert (res.returncode, res.stdout) == (0, "512\n"), res


# --- namespaces shared with the host or another container ----------------------------------

@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_pid_host_sees_host_pids(docker: Docker, runtime: str) -> None:
    # no private pid namespace: the shim also calls `kill --all ID 9` after the init exits
    res = docker.run(runtime, "sh", "-c", "echo $$; test -d /proc/1 && cat /proc/1/comm",
                     opts=("--pid", "host"))
    assert res.returncode == 0, res
    mypid, init = res.stdout.split()
    assert mypid != "1" and init != "sh", res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_joins_namespaces_of_container(docker: Docker, runtime: str) -> None:
    donor = docker.run_detached(runtime, "sleep", "602", opts=("--ipc", "shareable"))
    res = docker("run", "--rm", "--runtime", runtime, "--name", docker.name(),
                 "--network", f"container:{donor}", "--pid", f"container:{donor}",
                 "--ipc", f"container:{donor}", docker.image,
                 "sh", "-c", "ps -o args | grep -c '^sleep 602'; readlink /proc/1/ns/ipc")
    assert res.returncode == 0, res
    count, ipc_ns = res.stdout.split()
    assert count == "1", res
    donor_pid = docker.inspect(donor)["State"]["Pid"]
    assert ipc_ns == os.readlink(f"/proc/{donor_pid}/ns/ipc"), res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_cgroupns_private_hides_host_paths(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "cat", "/proc/self/cgroup", opts=("--cgroupns", "private"))
    assert res.returncode == 0, res
    paths = {line.split(":", 2)[1]: line.split(":", 2)[2] for line in res.stdout.splitlines()}
    assert paths["memory"] == "/" and paths["pids"] == "/", res


# --- more per-container settings --------------------------------------------------------

@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_security_and_kernel_options(docker: Docker, runtime: str) -> None:
    res = docker.run(runtime, "sh", "-c",
                     "cat /proc/sys/kernel/shm_rmid_forced /proc/self/oom_score_adj; "
                     "grep -E '^(NoNewPrivs|CapEff):' /proc/self/status; df -k /dev/shm | tail -1",
                     opts=("--sysctl", "kernel.shm_rmid_forced=1", "--oom-score-adj", "500",
                           "--security-opt", "no-new-privileges", "--cap-add", "SYS_ADMIN",
                           "--shm-size", "8m"))
    assert res.returncode == 0, res
    lines = res.stdout.splitlines()
    assert lines[:2] == ["1", "500"], res
    status = dict(line.split(":\t") for line in lines[2:4])
    assert status == {"CapEff": "00000000a82425fb", "NoNewPrivs": "1"}, res  # + CAP_SYS_ADMIN
    assert lines[4].split()[1] == "8192", res


@pytest.mark.parametrize("runtime", runtimes())
def test_docker_run_memory_limit_oom_kill_is_reported(docker: Docker, runtime: str) -> None:
    # the shim watches memory.oom_control of the cgroup the runtime put the init in
    name = docker.name()
    res = docker("run", "--name", name, "--network=none", "--runtime", runtime,
                 "--memory", "16m", "--memory-swap", "16m", docker.image, "sh", "-c",
                 "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived", timeout=90)
    assert res.returncode == 137 and "survived" not in res.stdout, res
    assert wait_until(lambda: docker.inspect(name)["State"]["OOMKilled"] is True, timeout=10), \
        docker.inspect(name)["State"]
