"""config.md process, user, hostname/domainname; runtime-linux.md fds and /dev links.

Owns the requirement tests about the container process as it sees itself:
argv, env, cwd, ids, umask, rlimits, capabilities, no_new_privs, oom score,
terminal, scheduler and I/O priority.  Most tests share one probe run.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance import harness
from conformance.conftest import Probe, ProbeFn
from conformance.harness import Bundle, Runtime, status_field
from conformance.marks import req, runc_bug


@pytest.fixture(scope="module")
def std(probe: ProbeFn) -> Probe:
    """The default config, observed once."""
    return probe(key="std")


# --- runtime-linux.md ----------------------------------------------------------------

@req("runtime-linux.md#file-descriptors", "by default only stdin, stdout and stderr are kept open")
def test_fds_only_stdio_open(std: Probe) -> None:
    assert sorted(std["fds"].split()) == ["0", "1", "2"]


@req("runtime-linux.md#file-descriptors", "a descriptor inherited by the runtime does not leak into "
     "the container")
def test_fds_runtime_extra_fd_not_leaked(rt: Runtime, bundle: Bundle, cid: str) -> None:
    leak_r, leak_w = os.pipe()
    os.set_inheritable(leak_r, True)
    try:
        # Not the last command: busybox sh would exec ls and list ls's own fds.
        bundle.shell("ls /proc/$$/fd; exit 0")
        bundle.write()
        res = rt.run(cid, bundle, pass_fds=(leak_r,))
    finally:
        os.close(leak_r)
        os.close(leak_w)
    assert res.ok, str(res)
    assert sorted(res.out.split()) == ["0", "1", "2"]


@req("runtime-linux.md#dev-symbolic-links", "runtimes MUST create the /dev/fd, stdin, stdout, "
     "stderr symlinks")
@pytest.mark.parametrize("link,target", [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                                         ("stdout", "/proc/self/fd/1"),
                                         ("stderr", "/proc/self/fd/2")])
def test_dev_symlink(std: Probe, link: str, target: str) -> None:
    links = dict(line.split(" ", 1) for line in std["devlinks"].splitlines() if " " in line)
    assert links.get(link) == target, std["devlinks"]


# --- process: args / env / cwd -------------------------------------------------------

@req("config.md#process", "args: execvp semantics, args[0] is looked up in the container PATH")
def test_process_args_execvp_path_lookup(rt: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("echo", "hello", "world")
    bundle.write()
    res = rt.run(cid, bundle)
    assert res.ok and res.out.strip() == "hello world", str(res)


@req("config.md#process", "env: the process environment is exactly the configured environ")
def test_process_env_set(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.process["env"] = ["PATH=/bin", "HOME=/root", "FOO=bar baz", "EMPTY="]
    p = probe({"env": harness.STANDARD_PROBE["env"]}, setup)
    env = p["env"].splitlines()
    for item in ("PATH=/bin", "HOME=/root", "FOO=bar baz", "EMPTY="):
        assert item in env, env


@req("config.md#process", "cwd: the working directory set for the executable")
def test_process_cwd_set(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        (b.rootfs / "work" / "dir").mkdir(parents=True)
        b.process["cwd"] = "/work/dir"
    p = probe({"cwd": "pwd"}, setup)
    assert p["cwd"].strip() == "/work/dir"


# --- user ----------------------------------------------------------------------------

def _user_setup(b: Bundle) -> None:
    b.process["user"] = {"uid": 1234, "gid": 2345, "additionalGids": [3456, 4567],
                         "umask": 0o027}


@pytest.fixture(scope="module")
def user_probe(probe: ProbeFn) -> Probe:
    return probe({"status": "cat /proc/$$/status"}, _user_setup, key="user")


@req("config.md#posix-platform-user", "uid: the user ID in the container namespace")
def test_user_uid_applied(user_probe: Probe) -> None:
    assert status_field(user_probe["status"], "Uid").split() == ["1234"] * 4


@req("config.md#posix-platform-user", "gid: the group ID in the container namespace")
def test_user_gid_applied(user_probe: Probe) -> None:
    assert status_field(user_probe["status"], "Gid").split() == ["2345"] * 4


@req("config.md#posix-platform-user", "additionalGids: additional group IDs added to the process")
def test_user_additional_gids_applied(user_probe: Probe) -> None:
    groups = set(status_field(user_probe["status"], "Groups").split())
    assert {"3456", "4567"} <= groups, groups


@req("config.md#posix-platform-user", "umask: the umask of the user")
def test_user_umask_applied(user_probe: Probe) -> None:
    assert status_field(user_probe["status"], "Umask") == "0027"


# --- rlimits -------------------------------------------------------------------------

# Values stay under this host's hard limits: raising a hard limit needs
# CAP_SYS_RESOURCE, which the test host may lack (types whose host hard
# limit is 0 are skipped).
RLIMITS = {
    # type: (soft, hard, /proc/PID/limits row)
    "RLIMIT_CPU": (1000, 2000, "Max cpu time"),
    "RLIMIT_FSIZE": (1 << 30, 1 << 31, "Max file size"),
    "RLIMIT_DATA": (1 << 31, 1 << 32, "Max data size"),
    "RLIMIT_STACK": (8 << 20, 16 << 20, "Max stack size"),
    "RLIMIT_CORE": (0, 1 << 20, "Max core file size"),
    "RLIMIT_RSS": (1 << 30, 1 << 31, "Max resident set"),
    "RLIMIT_NPROC": (50000, 60000, "Max processes"),
    "RLIMIT_NOFILE": (1000, 2000, "Max open files"),
    "RLIMIT_MEMLOCK": (1 << 20, 2 << 20, "Max locked memory"),
    "RLIMIT_AS": (1 << 32, 1 << 33, "Max address space"),
    "RLIMIT_LOCKS": (1000, 2000, "Max file locks"),
    "RLIMIT_SIGPENDING": (1000, 2000, "Max pending signals"),
    "RLIMIT_MSGQUEUE": (409600, 819200, "Max msgqueue size"),
    "RLIMIT_NICE": (10, 20, "Max nice priority"),
    "RLIMIT_RTPRIO": (0, 5, "Max realtime priority"),
    "RLIMIT_RTTIME": (1000000, 2000000, "Max realtime timeout"),
}


def _host_allows(rtype: str) -> bool:
    """Whether the configured hard limit is reachable without CAP_SYS_RESOURCE."""
    host_hard = _limit_row(harness.read_text("/proc/self/limits"), RLIMITS[rtype][2])[1]
    return host_hard == "unlimited" or RLIMITS[rtype][1] <= int(host_hard)


@pytest.fixture(scope="module")
def rlimit_probe(probe: ProbeFn) -> Probe:
    def setup(b: Bundle) -> None:
        b.process["rlimits"] = [{"type": t, "soft": s, "hard": h}
                                for t, (s, h, _) in RLIMITS.items() if _host_allows(t)]
    return probe({"limits": "cat /proc/$$/limits"}, setup, key="rlimits")


def _limit_row(limits: str, row: str) -> tuple[str, str]:
    for line in limits.splitlines():
        if line.startswith(row):
            parts = line[len(row):].split()
            return parts[0], parts[1]
    raise AssertionError(f"{row!r} not in limits:\n{limits}")


@req("config.md#posix-process", "rlimits: rlim_cur MUST match soft, rlim_max MUST match hard")
@pytest.mark.parametrize("rtype", list(RLIMITS))
def test_rlimit_applied(rlimit_probe: Probe, rtype: str) -> None:
    soft, hard, row = RLIMITS[rtype]
    if not _host_allows(rtype):
        pytest.skip(f"host hard limit for {rtype} is below {hard} and raising it needs "
                    "CAP_SYS_RESOURCE")
    assert _limit_row(rlimit_probe["limits"], row) == (str(soft), str(hard))


# --- capabilities ----------------------------------------------------------------------

CAPS_WIDE = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID",
             "CAP_SETGID", "CAP_AUDIT_WRITE"]
CAPS_INH = ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETGID"]
CAPS_AMB = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]

# After execve the kernel recomputes permitted/effective: as root they become
# bounding|inheritable, as an unprivileged user they become ambient.  The two
# configs below are chosen so that every configured set is also what the
# kernel leaves, so each set can be compared exactly.
CAP_CONFIGS = {
    "root": ({"bounding": CAPS_WIDE, "permitted": CAPS_WIDE, "effective": CAPS_WIDE,
              "inheritable": CAPS_INH, "ambient": CAPS_AMB}, 0),
    "user": ({"bounding": CAPS_WIDE, "permitted": CAPS_AMB, "effective": CAPS_AMB,
              "inheritable": CAPS_INH, "ambient": CAPS_AMB}, 1000),
}
CAP_FIELDS = {"bounding": "CapBnd", "permitted": "CapPrm", "effective": "CapEff",
              "inheritable": "CapInh", "ambient": "CapAmb"}


@req("config.md#linux-process", "capabilities: each set (effective, bounding, inheritable, "
     "permitted, ambient) is kept for the process")
@pytest.mark.parametrize("who", list(CAP_CONFIGS))
@pytest.mark.parametrize("capset", list(CAP_FIELDS))
def test_capability_set_applied(probe: ProbeFn, who: str, capset: str) -> None:
    caps, uid = CAP_CONFIGS[who]

    def setup(b: Bundle) -> None:
        b.process["capabilities"] = caps
        b.process["user"] = {"uid": uid, "gid": uid}
        b.process["noNewPrivileges"] = False
    p = probe({"status": "cat /proc/$$/status"}, setup, key=f"caps-{who}")
    got = int(status_field(p["status"], CAP_FIELDS[capset]), 16)
    want = harness.caps_mask(caps[capset])
    assert got == want, f"{CAP_FIELDS[capset]}={got:#x}, configured {caps[capset]} ({want:#x})"


@req("config.md#linux-process", "capabilities that cannot be granted: warn; runtimes SHOULD NOT fail")
def test_capability_unknown_does_not_fail(rt: Runtime, bundle: Bundle, cid: str) -> None:
    for key in ("bounding", "effective", "permitted"):
        bundle.process["capabilities"][key].append("CAP_NOT_A_REAL_ONE")
    bundle.shell("echo ok")
    bundle.write()
    res = rt.run(cid, bundle)
    assert res.ok and res.out.strip() == "ok", str(res)


# --- noNewPrivileges / oomScoreAdj ----------------------------------------------------

@req("config.md#linux-process", "noNewPrivileges true prevents gaining privileges (no_new_privs set)")
def test_no_new_privileges_true_sets_flag(std: Probe) -> None:
    assert status_field(std["status"], "NoNewPrivs") == "1"


@req("config.md#linux-process", "noNewPrivileges false leaves no_new_privs unset")
def test_no_new_privileges_false_leaves_flag(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.process["noNewPrivileges"] = False
    p = probe({"status": "cat /proc/$$/status"}, setup)
    assert status_field(p["status"], "NoNewPrivs") == "0"


@req("config.md#linux-process", "if oomScoreAdj is set, the runtime MUST set oom_score_adj to it")
def test_oom_score_adj_set(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.process["oomScoreAdj"] = 345
    p = probe({"oom": "cat /proc/$$/oom_score_adj"}, setup)
    assert p["oom"].strip() == "345"


def _raise_own_oom_score() -> None:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("123")


@req("config.md#linux-process", "if oomScoreAdj is not set, the runtime MUST NOT change oom_score_adj")
def test_oom_score_adj_unset_inherited(rt: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.shell("cat /proc/$$/oom_score_adj")
    bundle.write()
    res = rt.run(cid, bundle, preexec=_raise_own_oom_score)
    assert res.ok, str(res)
    assert res.out.strip() == "123"


# --- terminal ----------------------------------------------------------------------------

class ConsoleSocket:
    """A --console-socket listener that keeps the received pty master open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)
        self.fds: list[int] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(20)
        try:
            conn, _ = self.sock.accept()
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 4096, 4)
                self.fds.extend(fds)
        except OSError:
            pass

    def drain(self) -> None:
        for fd in self.fds:
            os.set_blocking(fd, False)
            try:
                while os.read(fd, 65536):
                    pass
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()
        for fd in self.fds:
            os.close(fd)


@pytest.fixture(scope="module")
def tty_run(runtime_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A terminal container writing what it sees to rootfs/tmp; yields that dir."""
    base = tmp_path_factory.mktemp("tty")
    rt = Runtime(runtime_path, base / "state")
    cid = harness.new_id("tty")
    b = harness.make_bundle(base / "bundle")
    b.process["terminal"] = True
    b.process["consoleSize"] = {"height": 31, "width": 97}
    b.shell("stty size > /tmp/size; tty > /tmp/tty; "
            "stat -c '%t:%T' /dev/console > /tmp/console; stat -L -c '%t:%T' $(tty) > /tmp/pty; "
            "echo done > /tmp/done")
    b.write()
    cons = ConsoleSocket(base / "console.sock")
    try:
        res = rt.create(cid, b, "--console-socket", str(cons.path))
        if res.ok:
            rt.start(cid)
            harness.poll(lambda: (b.rootfs / "tmp" / "done").exists(), timeout=10)
            cons.drain()
        (b.rootfs / "tmp" / "create.log").write_text(str(res))
        yield b.rootfs / "tmp"
    finally:
        rt.cleanup()
        cons.close()


def _tty_fact(d: Path, name: str) -> str:
    p = d / name
    assert p.exists(), (d / "create.log").read_text()
    return p.read_text().strip()


@req("config.md#process", "terminal true: a pseudoterminal is attached to the standard streams")
def test_terminal_stdio_is_pty(tty_run: Path) -> None:
    assert _tty_fact(tty_run, "tty").startswith("/dev/pts/")


@req("config-linux.md#default-devices", "/dev/console is set up by bind mounting the pty when "
     "terminal is enabled")
def test_terminal_dev_console_is_pty(tty_run: Path) -> None:
    assert _tty_fact(tty_run, "console") == _tty_fact(tty_run, "pty")


@req("config.md#process", "consoleSize: the console size in characters of the terminal")
def test_terminal_console_size_applied(tty_run: Path) -> None:
    assert _tty_fact(tty_run, "size") == "31 97"


@req("config.md#process", "runtimes MUST ignore consoleSize if terminal is false or unset")
def test_console_size_ignored_without_terminal(rt: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.process["consoleSize"] = {"height": 10, "width": 10}
    bundle.shell("echo ok")
    bundle.write()
    res = rt.run(cid, bundle)
    assert res.ok and res.out.strip() == "ok", str(res)


# --- hostname / domainname -------------------------------------------------------------

@req("config.md#hostname", "hostname: the container's hostname as seen inside the container")
def test_hostname_set(std: Probe) -> None:
    assert std["hostname"].strip() == "conformance"


@runc_bug("domainname is not supported (ignored)")
@req("config.md#domainname", "domainname: the container's domainname as seen inside the container")
def test_domainname_set(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.config["domainname"] = "example.test"
    p = probe({"dn": "cat /proc/sys/kernel/domainname"}, setup)
    assert p["dn"].strip() == "example.test"


@req("config.md#hostname", "the hostname is changed in the container UTS namespace, not the host's")
def test_hostname_host_unchanged(std: Probe) -> None:
    assert std.result.ok
    assert socket.gethostname() != "conformance"


# --- scheduler / ioPriority / LSMs -------------------------------------------------------

@runc_bug("process.scheduler is not supported (ignored)")
@req("runtime.md#start", "start MUST run the program as specified by process (scheduler policy)")
def test_scheduler_policy_applied(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.process["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
    p = probe({"stat": "cat /proc/$$/stat"}, setup, key="sched")
    fields = p["stat"].rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); policy is field 41, nice is field 19.
    assert fields[41 - 3] == "3", "policy is not SCHED_BATCH (3)"


@runc_bug("process.scheduler is not supported (ignored)")
@req("runtime.md#start", "start MUST run the program as specified by process (scheduler nice)")
def test_scheduler_nice_applied(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.process["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
    p = probe({"stat": "cat /proc/$$/stat"}, setup, key="sched")
    fields = p["stat"].rsplit(")", 1)[1].split()
    assert fields[19 - 3] == "7"


@runc_bug("process.ioPriority is not supported (ignored)")
@req("config.md#linux-process", "ioPriority: the I/O scheduling class and priority of the process")
def test_io_priority_applied(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.process["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 6}
    p = probe({"io": "ionice -p $$"}, setup)
    assert p["io"].strip() == "best-effort: prio 6"


@req("config.md#linux-process", "apparmorProfile: the AppArmor profile for the process")
def test_apparmor_profile_applied() -> None:
    if not Path("/sys/kernel/security/apparmor").exists():
        pytest.skip("host has no AppArmor")
    pytest.skip("AppArmor profile loading is not exercised by this suite")


@req("config.md#linux-process", "selinuxLabel: the SELinux label for the process")
def test_selinux_label_applied() -> None:
    if not Path("/sys/fs/selinux/enforce").exists():
        pytest.skip("host has no SELinux")
    pytest.skip("SELinux labelling is not exercised by this suite")

