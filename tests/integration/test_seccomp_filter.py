"""Integration tests of pyruntime.seccomp: compiled filters loaded into real processes.

Each test compiles a profile in this (parent) process, then runs a throwaway child Python that
loads the BPF with seccomp(2) exactly as the C child does (optionally after no_new_privs) and
execs a command, whose behaviour shows the filter's effect.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyruntime._libseccomp")

from pyruntime import seccomp  # noqa: E402
from pyruntime.seccomp import CompiledFilter, compile_filter  # noqa: E402

pytestmark = pytest.mark.root

DOCKER_CONFIG = (Path(__file__).resolve().parents[2].parent / "shared" / "contract-examples"
                 / "docker-run-d-default.config.json")
PR_SET_NO_NEW_PRIVS = 38
MKDIR_TMP = "import os\ntry: os.mkdir('/tmp')\nexcept OSError as e: print(e.errno)"

# Loads the filter the way the runtime's child does, then execs argv[5:].
LOADER = textwrap.dedent(
    """
    import ctypes, os, sys
    path, flags, nnp, nr = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
    data = open(path, "rb").read()
    libc = ctypes.CDLL(None, use_errno=True)
    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    buf = ctypes.create_string_buffer(data, len(data))
    prog = Fprog(len(data) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if nnp and libc.prctl(%d, 1, 0, 0, 0) != 0:
        sys.exit("prctl: " + os.strerror(ctypes.get_errno()))
    rc = libc.syscall(ctypes.c_long(nr), ctypes.c_long(1), ctypes.c_ulong(flags),
                      ctypes.byref(prog))
    if rc < 0:
        sys.stderr.write("seccomp: %%s\\n" %% os.strerror(ctypes.get_errno()))
        os._exit(99)
    if sys.argv[5:]:
        os.execv(sys.argv[5], sys.argv[5:])
    print("listener-fd", rc)
    """
    % PR_SET_NO_NEW_PRIVS
)


def _seccomp_nr() -> int:
    """The native number of seccomp(2), from libseccomp rather than a hard-coded table."""
    from pyruntime._libseccomp import lib

    return int(lib.seccomp_syscall_resolve_name(b"seccomp"))


def _run(
    tmp_path: Path, prog: CompiledFilter, argv: list[str], *, nnp: bool = True
) -> subprocess.CompletedProcess[str]:
    bpf = tmp_path / "filter.bpf"
    bpf.write_bytes(prog.bpf)
    loader = tmp_path / "loader.py"
    loader.write_text(LOADER)
    cmd = [sys.executable, "-I", str(loader), str(bpf), str(prog.flags), "1" if nnp else "0"]
    cmd += [str(_seccomp_nr()), *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def _py(code: str) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", textwrap.dedent(code)]


def _docker_profile() -> dict[str, Any]:
    if not DOCKER_CONFIG.is_file():  # a checkout without ../shared next to it
        pytest.skip(f"{DOCKER_CONFIG} not found")
    config = json.loads(DOCKER_CONFIG.read_text())
    result: dict[str, Any] = config["linux"]["seccomp"]
    return result


CUSTOM = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
        {"names": ["getppid"], "action": "SCMP_ACT_KILL"},
        {"names": ["getpgid"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["getsid"], "action": "SCMP_ACT_TRAP"},
        {"names": ["getpriority"], "action": "SCMP_ACT_LOG"},
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["no_such_syscall_xyz"], "action": "SCMP_ACT_KILL"},
    ],
}


def test_custom_errno_ret_mkdir_fails_with_42(tmp_path: Path) -> None:
    prog = compile_filter(CUSTOM, no_new_privs=True)
    target = tmp_path / "made"
    r = _run(
        tmp_path,
        prog,
        _py(f"""
            import os
            try:
                os.mkdir({str(target)!r})
            except OSError as e:
                print("errno", e.errno)
            try:
                os.rmdir("/nonexistent-dir")
            except OSError as e:
                print("rmdir", e.errno)
            os.getpriority(os.PRIO_PROCESS, 0)
            print("alive", os.getpid() > 0)
            """),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == ["errno 42", f"rmdir {errno.EPERM}", "alive True"]
    assert not target.exists()


@pytest.mark.parametrize("call", ["os.getppid()", "os.getpgid(0)", "os.getsid(0)"])
def test_custom_kill_and_trap_actions_die_by_sigsys(tmp_path: Path, call: str) -> None:
    prog = compile_filter(CUSTOM, no_new_privs=True)
    r = _run(tmp_path, prog, _py(f"import os; print('before', flush=True); {call}; print('after')"))
    assert r.returncode == -signal.SIGSYS
    assert r.stdout == "before\n"


def test_custom_without_no_new_privs_loads_as_root(tmp_path: Path) -> None:
    prog = compile_filter(CUSTOM, no_new_privs=False)
    assert prog.before_privilege_drop
    r = _run(tmp_path, prog, _py(MKDIR_TMP), nnp=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "42\n"


def test_args_and_same_index_or_and_different_index_and(tmp_path: Path) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            # Two conditions on arg 0: separate rules, so either value matches.
            {
                "names": ["getpriority"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 43,
                "args": [
                    {"index": 0, "value": os.PRIO_PGRP, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": os.PRIO_USER, "op": "SCMP_CMP_EQ"},
                ],
            },
            # Conditions on different args: one rule, all must match.
            {
                "names": ["lseek"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 44,
                "args": [
                    {"index": 1, "value": 1000, "op": "SCMP_CMP_GT"},
                    {"index": 2, "value": os.SEEK_SET, "op": "SCMP_CMP_EQ"},
                ],
            },
            # MASKED_EQ: (arg0 & 0xf0) == 0x30
            {
                "names": ["dup"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 45,
                "args": [{"index": 0, "value": 0xF0, "valueTwo": 0x30, "op": "SCMP_CMP_MASKED_EQ"}],
            },
        ],
    }
    prog = compile_filter(profile, no_new_privs=True)
    r = _run(
        tmp_path,
        prog,
        _py("""
            import os
            def t(f, *a):
                try:
                    f(*a)
                    return 0
                except OSError as e:
                    return e.errno
            fd = os.open("/dev/null", os.O_RDONLY)
            print(t(os.getpriority, os.PRIO_PGRP, 0), t(os.getpriority, os.PRIO_USER, 0),
                  t(os.getpriority, os.PRIO_PROCESS, 0))
            print(t(os.lseek, fd, 2000, os.SEEK_SET), t(os.lseek, fd, 2000, os.SEEK_CUR),
                  t(os.lseek, fd, 10, os.SEEK_SET))
            # os.dup uses fcntl(F_DUPFD_CLOEXEC); call libc's dup(2) directly.
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            def dup(n):
                return ctypes.get_errno() if libc.dup(n) < 0 else 0
            print(dup(0x35), dup(0x45), dup(fd))
            """),
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "43 43 0"
    assert lines[1] == "44 0 0"
    # dup(0x45) is allowed by the filter and then fails as a bad fd in the kernel.
    assert lines[2] == f"45 {errno.EBADF} 0"


def test_default_errno_ret_is_used_for_unlisted_calls(tmp_path: Path) -> None:
    docker = _docker_profile()
    allowed = [
        c for c in docker["syscalls"] if c["action"] == "SCMP_ACT_ALLOW" and not c.get("args")
    ]
    names = [n for c in allowed for n in c["names"] if n != "mkdir" and n != "mkdirat"]
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 77,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
    }
    prog = compile_filter(profile, no_new_privs=True)
    r = _run(tmp_path, prog, _py(f"""
        import os
        try:
            os.mkdir({str(tmp_path / 'x')!r})
        except OSError as e:
            print(e.errno)
        """))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "77\n"


def test_docker_default_profile_allows_shell_and_blocks_privileged_calls(tmp_path: Path) -> None:
    prog = compile_filter(_docker_profile(), no_new_privs=False)
    assert prog.flags & seccomp._binding().lib.SECCOMP_FILTER_FLAG_SPEC_ALLOW
    r = _run(
        tmp_path,
        prog,
        _py("""
            import ctypes, os, subprocess
            libc = ctypes.CDLL(None, use_errno=True)
            def err(rc):
                return ctypes.get_errno() if rc < 0 else 0
            out = subprocess.run(["/bin/sh", "-c", "echo shell-ok; ls / >/dev/null && echo ls-ok"],
                                 capture_output=True, text=True).stdout.split()
            print(*out)
            print("mount", err(libc.mount(b"none", b"/mnt", b"tmpfs", 0, None)))
            print("unshare", err(libc.unshare(0x20000)))
            print("clone3", err(libc.syscall(435, None, 0)))
            print("personality", libc.personality(ctypes.c_ulong(0xffffffff)) >= 0)
            """),
        nnp=False,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "shell-ok ls-ok"
    assert lines[1] == f"mount {errno.EPERM}"
    assert lines[2] == f"unshare {errno.EPERM}"
    assert lines[3] == f"clone3 {errno.ENOSYS}"
    assert lines[4] == "personality True"


def test_flags_log_spec_allow_accepted_by_kernel(tmp_path: Path) -> None:
    profile = dict(CUSTOM, flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                  "SECCOMP_FILTER_FLAG_TSYNC"])
    prog = compile_filter(profile, no_new_privs=True)
    lib = seccomp._binding().lib
    assert prog.flags == lib.SECCOMP_FILTER_FLAG_LOG | lib.SECCOMP_FILTER_FLAG_SPEC_ALLOW
    r = _run(tmp_path, prog, ["/bin/true"])
    assert r.returncode == 0, r.stderr


def test_notify_filter_loads_and_returns_listener_fd(tmp_path: Path) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}],
    }
    prog = compile_filter(profile, no_new_privs=True)
    assert prog.listener
    lib = seccomp._binding().lib
    assert prog.flags == (
        lib.SECCOMP_FILTER_FLAG_NEW_LISTENER | lib.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    )
    r = _run(tmp_path, prog, [])
    assert r.returncode == 0, r.stderr
    word, fd = r.stdout.split()
    assert word == "listener-fd" and int(fd) > 2


def test_cached_filter_loads_like_a_fresh_one(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    fresh = compile_filter(CUSTOM, no_new_privs=True, cache_dir=cache)
    cached = compile_filter(CUSTOM, no_new_privs=True, cache_dir=cache)
    assert cached == fresh
    r = _run(tmp_path, cached, _py(MKDIR_TMP))
    assert r.stdout == "42\n"


def test_docker_profile_compile_time_is_reported(tmp_path: Path) -> None:
    profile = _docker_profile()
    start = time.perf_counter()
    compile_filter(profile, no_new_privs=False)
    cold_ms = (time.perf_counter() - start) * 1000
    cache = str(tmp_path / "cache")
    compile_filter(profile, no_new_privs=False, cache_dir=cache)
    start = time.perf_counter()
    compile_filter(profile, no_new_privs=False, cache_dir=cache)
    hit_ms = (time.perf_counter() - start) * 1000
    print(f"docker default profile: compile {cold_ms:.1f} ms, cache hit {hit_ms:.2f} ms")
    # Generous bounds: only catches a pathological regression, not machine noise.
    assert cold_ms < 250
    assert hit_ms < 25
