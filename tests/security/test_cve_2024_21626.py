"""CVE-2024-21626: a host fd or the runtime's host cwd leaks into the container; with
process.cwd = /proc/self/fd/N the container starts inside a host directory.

Here the runtime itself is started the way a careless caller would: with fds 3-9 open on a
host directory (holding a HOST_SECRET file) and that directory as its cwd. The container must
see only 0, 1, 2 (plus what --preserve-fds asks for), start in its own root, and a cwd
through /proc/self/fd must be refused or stay inside the container.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.root

LEAKED = range(3, 10)

# Everything a container process could try to reach the host with.
PROBE = ("ls /proc/self/fd; echo --; ls /proc/1/fd; echo --; ls -a /proc/self/cwd/ /proc/1/cwd/;"
         " for n in 3 4 5 6 7 8 9; do ls -a /proc/self/fd/$n/ /proc/1/fd/$n/; done;"
         " readlink /proc/1/cwd; true")


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    d = tmp_path / "host-dir"
    d.mkdir()
    (d / "HOST_SECRET").write_text("secret\n")
    return d


def leaky(cli: Any, host_dir: Path, *args: str, detach: bool = False,
          timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    """Run the runtime with fds 3-9 open on host_dir and host_dir as its cwd."""
    opens = " ".join(f'{n}<"$D"' for n in LEAKED)
    script = f'exec {opens}; cd "$D" && exec "$@"'
    cmd = ["sh", "-c", script, "sh", *cli.base, "--root", str(cli.root), *args]
    env = dict(getattr(cli, "env", None) or os.environ, D=str(host_dir))
    if detach:
        # the container keeps its stdio: never a pipe we would wait on
        with tempfile.TemporaryFile() as log:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=log, timeout=timeout, env=env)
            log.seek(0)
            return subprocess.CompletedProcess(cmd, proc.returncode, b"", log.read())
    return subprocess.run(cmd, capture_output=True, timeout=timeout, env=env)


def fds_of(pid: int) -> list[int]:
    return sorted(int(n) for n in os.listdir(f"/proc/{pid}/fd"))


def wait_exec(pid: int, timeout: float = 5.0) -> None:
    """`start` returns once the init may exec, like runc's: wait until it has (until then
    it still holds its close-on-exec exec.fifo)."""
    import sys
    import time

    runtime_exe = os.path.realpath(sys.executable)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exe = os.readlink(f"/proc/{pid}/exe")
        if "python" not in exe and exe != runtime_exe:
            return
        time.sleep(0.005)
    raise AssertionError(f"init {pid} did not exec within {timeout}s")


def same_file(a: str, b: Path) -> bool:
    sa, sb = os.stat(a), os.stat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def test_leaked_fds_and_cwd_run_container_sees_only_stdio(cli: Any, make_bundle: Any,
                                                          host_dir: Path) -> None:
    b = make_bundle("sh", "-c", PROBE)
    proc = leaky(cli, host_dir, "run", "-b", str(b.path), cli.new_id())
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "HOST_SECRET" not in out
    own, _, init = out.partition("--")
    assert own.split() == ["0", "1", "2", "3"]  # 3: ls's own directory fd
    assert init.split("--")[0].split() == ["0", "1", "2"]
    assert out.strip().splitlines()[-1] == "/"


def test_leaked_fds_and_cwd_init_fds_and_cwd_from_host(cli: Any, make_bundle: Any,
                                                       host_dir: Path) -> None:
    b = make_bundle("sleep", "30")
    cid = cli.new_id()
    proc = leaky(cli, host_dir, "create", "-b", str(b.path), cid, detach=True)
    assert proc.returncode == 0, proc.stderr
    pid = cli.state(cid)["pid"]
    cli("start", cid, check=True)
    wait_exec(pid)
    assert fds_of(pid) == [0, 1, 2]
    assert same_file(f"/proc/{pid}/cwd", b.rootfs)
    assert same_file(f"/proc/{pid}/root", b.rootfs)


def test_leaked_fds_and_cwd_exec_process_sees_only_stdio(cli: Any, make_bundle: Any,
                                                         host_dir: Path,
                                                         tmp_path: Path) -> None:
    b = make_bundle("sleep", "30")
    cid = cli.new_id()
    assert leaky(cli, host_dir, "run", "-d", "-b", str(b.path), cid,
                 detach=True).returncode == 0
    proc = leaky(cli, host_dir, "exec", cid, "sh", "-c", PROBE.replace("/proc/1/", "/proc/$$/"))
    assert proc.returncode == 0, proc.stderr
    assert "HOST_SECRET" not in proc.stdout.decode()
    pid_file = tmp_path / "exec.pid"
    proc = leaky(cli, host_dir, "exec", "-d", "--pid-file", str(pid_file), cid, "sleep", "30",
                 detach=True)
    assert proc.returncode == 0, proc.stderr
    pid = int(pid_file.read_text())
    assert fds_of(pid) == [0, 1, 2]
    assert same_file(f"/proc/{pid}/cwd", b.rootfs)


@pytest.mark.parametrize("n", list(LEAKED))
def test_cwd_proc_self_fd_n_refused_or_inside(cli: Any, make_bundle: Any, host_dir: Path,
                                              n: int) -> None:
    b = make_bundle("sh", "-c", "readlink /proc/self/cwd; ls -a")
    b.config["process"]["cwd"] = f"/proc/self/fd/{n}"
    b.write()
    proc = leaky(cli, host_dir, "run", "-b", str(b.path), cli.new_id())
    out = proc.stdout.decode()
    assert "HOST_SECRET" not in out
    if proc.returncode != 0:
        err = proc.stderr.decode().strip()
        assert "Traceback" not in err and len(err.splitlines()) == 1, err
    else:
        assert out.startswith("/") and "unreachable" not in out and str(host_dir) not in out


@pytest.mark.parametrize("n", [3, 5, 7, 9])
def test_exec_cwd_proc_self_fd_n_refused_or_inside(cli: Any, make_bundle: Any,
                                                   host_dir: Path, n: int) -> None:
    b = make_bundle("sleep", "30")
    cid = cli.new_id()
    assert leaky(cli, host_dir, "run", "-d", "-b", str(b.path), cid,
                 detach=True).returncode == 0
    proc = leaky(cli, host_dir, "exec", "--cwd", f"/proc/self/fd/{n}", cid, "sh", "-c",
                 "readlink /proc/self/cwd; ls -a")
    out = proc.stdout.decode()
    assert "HOST_SECRET" not in out
    if proc.returncode == 0:
        assert out.startswith("/") and "unreachable" not in out and str(host_dir) not in out


def test_preserve_fds_passes_only_the_asked_ones(cli: Any, make_bundle: Any,
                                                 host_dir: Path) -> None:
    """--preserve-fds 2 hands over 3 and 4 (the caller's explicit choice); 5-9 stay out."""
    b = make_bundle("sleep", "30")
    cid = cli.new_id()
    proc = leaky(cli, host_dir, "run", "-d", "--preserve-fds", "2", "-b", str(b.path), cid,
                 detach=True)
    assert proc.returncode == 0, proc.stderr
    assert fds_of(cli.state(cid)["pid"]) == [0, 1, 2, 3, 4]
