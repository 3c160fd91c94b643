"""Drive a runtime binary and build OCI bundles for the conformance suite.

Owns: the runc-compatible command line we speak to the runtime under test
(global ``--root``, verbs create/start/state/kill/delete/run), the busybox
bundle builder, the default config.json, the in-container probe script and
its output parser, and small host-side observers (namespaces, cgroups,
processes).  It must not import anything from ``pyruntime``: the suite judges
any runtime binary from the outside.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUSYBOX = Path("/bin/busybox")
CGROUP_ROOT = Path("/sys/fs/cgroup")
CMD_TIMEOUT = 30.0

# Applets the probes use; each becomes a symlink to busybox in rootfs/bin.
APPLETS = (  # noqa: SIM905 - one readable line per group
    "sh cat ls echo readlink id hostname env pwd mkdir touch stat grep head tail "
    "dd sleep test true false tty stty ip ionice uname wc sed ln rm mount umount "
    "printf kill sync chmod realpath find cut tr sort uniq xargs"
).split()

# capabilities(7) numbering, index == bit.
CAPABILITIES = (  # noqa: SIM905 - index == capability number
    "CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID CAP_KILL "
    "CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_LINUX_IMMUTABLE CAP_NET_BIND_SERVICE "
    "CAP_NET_BROADCAST CAP_NET_ADMIN CAP_NET_RAW CAP_IPC_LOCK CAP_IPC_OWNER "
    "CAP_SYS_MODULE CAP_SYS_RAWIO CAP_SYS_CHROOT CAP_SYS_PTRACE CAP_SYS_PACCT "
    "CAP_SYS_ADMIN CAP_SYS_BOOT CAP_SYS_NICE CAP_SYS_RESOURCE CAP_SYS_TIME "
    "CAP_SYS_TTY_CONFIG CAP_MKNOD CAP_LEASE CAP_AUDIT_WRITE CAP_AUDIT_CONTROL "
    "CAP_SETFCAP CAP_MAC_OVERRIDE CAP_MAC_ADMIN CAP_SYSLOG CAP_WAKE_ALARM "
    "CAP_BLOCK_SUSPEND CAP_AUDIT_READ CAP_PERFMON CAP_BPF CAP_CHECKPOINT_RESTORE"
).split()

DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

DEFAULT_MASKED = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
    "/proc/scsi",
]
DEFAULT_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

NAMESPACE_FILES = {
    "pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
    "user": "user", "cgroup": "cgroup", "time": "time",
}


def caps_mask(names: Iterable[str]) -> int:
    """Bitmask of capability names, as /proc/PID/status prints it."""
    mask = 0
    for name in names:
        mask |= 1 << CAPABILITIES.index(name)
    return mask


def default_config(args: Sequence[str] = ("true",)) -> dict[str, Any]:
    """The config `runc spec` writes, made non-interactive (terminal false, rw root)."""
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm", "HOME=/root"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS)
                             for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": list(DEFAULT_MASKED),
            "readonlyPaths": list(DEFAULT_READONLY),
        },
    }


_counter = itertools.count()


def new_id(prefix: str = "cf") -> str:
    """A container id unique across runs and workers."""
    return f"{prefix}-{os.getpid()}-{next(_counter)}-{uuid.uuid4().hex[:6]}"


@dataclass
class Result:
    """Outcome of one runtime command."""

    argv: list[str]
    rc: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def __str__(self) -> str:
        return f"$ {' '.join(self.argv)}\nrc={self.rc}\nstdout:\n{self.out}\nstderr:\n{self.err}"


@dataclass
class Runtime:
    """A runtime binary plus the private state dir every call passes as --root."""

    path: str
    root: Path
    created: list[str] = field(default_factory=list)

    def cmd(self, *args: str, timeout: float = CMD_TIMEOUT, cwd: Path | None = None,
            stdin: Any = subprocess.DEVNULL, pass_fds: Sequence[int] = (),
            preexec: Any = None) -> Result:
        """Run `RUNTIME --root ROOT ARGS` with captured output."""
        argv = [self.path, "--root", str(self.root), *args]
        try:
            proc = subprocess.run(argv, stdin=stdin, capture_output=True, text=True,
                                  timeout=timeout, cwd=cwd, pass_fds=pass_fds,
                                  preexec_fn=preexec, check=False)
        except subprocess.TimeoutExpired as exc:
            return Result(argv, -1, str(exc.stdout or ""), f"TIMEOUT after {timeout}s")
        except OSError as exc:
            return Result(argv, -2, "", f"cannot execute the runtime: {exc}")
        return Result(argv, proc.returncode, proc.stdout, proc.stderr)

    def create(self, cid: str, bundle: Bundle, *extra: str, cwd: Path | None = None,
               pass_fds: Sequence[int] = (), preexec: Any = None,
               bundle_arg: str | None = None) -> Result:
        """`create --bundle B ID`; the init's stdio goes to files in the bundle.

        A pipe would keep the create call blocked until the container exits,
        so stdout/stderr of the container are files: bundle.stdout/stderr.
        """
        self.created.append(cid)
        argv = [self.path, "--root", str(self.root), "create", "--bundle",
                bundle_arg if bundle_arg is not None else str(bundle.path), *extra, cid]
        with open(bundle.stdout, "ab") as out, open(bundle.stderr, "ab") as err:
            try:
                proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                      timeout=CMD_TIMEOUT, cwd=cwd or bundle.path,
                                      pass_fds=pass_fds, preexec_fn=preexec, check=False)
                rc = proc.returncode
            except subprocess.TimeoutExpired:
                rc = -1
            except OSError as exc:
                err.write(f"cannot execute the runtime: {exc}\n".encode())
                rc = -2
        return Result(argv, rc, bundle.stdout.read_text(), bundle.stderr.read_text())

    def run(self, cid: str, bundle: Bundle, *extra: str, timeout: float = CMD_TIMEOUT,
            pass_fds: Sequence[int] = (), preexec: Any = None) -> Result:
        """`run --bundle B ID` in the foreground with stdout/stderr captured."""
        self.created.append(cid)
        return self.cmd("run", "--bundle", str(bundle.path), *extra, cid, timeout=timeout,
                        cwd=bundle.path, pass_fds=pass_fds, preexec=preexec)

    def start(self, cid: str) -> Result:
        return self.cmd("start", cid)

    def kill(self, cid: str, sig: str = "KILL") -> Result:
        return self.cmd("kill", cid, sig)

    def delete(self, cid: str, force: bool = False) -> Result:
        return self.cmd("delete", *(["--force"] if force else []), cid)

    def state(self, cid: str) -> dict[str, Any] | None:
        """The parsed state JSON, or None when `state` fails."""
        res = self.cmd("state", cid)
        if not res.ok:
            return None
        try:
            data: dict[str, Any] = json.loads(res.out)
        except ValueError:
            return None
        return data

    def status(self, cid: str) -> str | None:
        st = self.state(cid)
        return None if st is None else st.get("status")

    def wait_status(self, cid: str, want: str, timeout: float = 10.0) -> str | None:
        """Poll state until status == want; returns the last status seen."""
        deadline = time.monotonic() + timeout
        last = self.status(cid)
        while last != want and time.monotonic() < deadline:
            time.sleep(0.05)
            last = self.status(cid)
        return last

    def cleanup(self) -> None:
        """Best effort: force-delete every container this test touched."""
        for cid in self.created:
            st = self.state(cid)
            if st is not None:
                pid = st.get("pid") or 0
                self.delete(cid, force=True)
                if pid > 0 and self.state(cid) is not None:
                    # The runtime failed to delete: do not leave a process behind.
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                    self.delete(cid, force=True)


@dataclass
class Bundle:
    """A bundle directory: rootfs built from busybox plus a config dict."""

    path: Path
    config: dict[str, Any]

    @property
    def rootfs(self) -> Path:
        root = Path(self.config.get("root", {}).get("path", "rootfs"))
        return root if root.is_absolute() else self.path / root

    @property
    def stdout(self) -> Path:
        return self.path / "ct.stdout"

    @property
    def stderr(self) -> Path:
        return self.path / "ct.stderr"

    @property
    def process(self) -> dict[str, Any]:
        proc: dict[str, Any] = self.config.setdefault("process", {})
        return proc

    @property
    def linux(self) -> dict[str, Any]:
        lin: dict[str, Any] = self.config.setdefault("linux", {})
        return lin

    def set_args(self, *args: str) -> None:
        self.process["args"] = list(args)

    def shell(self, script: str) -> None:
        """Make the container process `sh -c SCRIPT` (sh is the init: $$ is its pid)."""
        self.set_args("sh", "-c", script)

    def write(self) -> None:
        (self.path / "config.json").write_text(json.dumps(self.config, indent=1))

    def add_mount(self, destination: str, mtype: str, source: str,
                  options: Sequence[str] | None = None, **extra: Any) -> None:
        entry: dict[str, Any] = {"destination": destination, "type": mtype, "source": source}
        if options is not None:
            entry["options"] = list(options)
        entry.update(extra)
        self.config.setdefault("mounts", []).append(entry)

    def hostdir(self, name: str) -> Path:
        """A fresh host directory inside the bundle (bind sources, hook outputs)."""
        d = self.path / name
        d.mkdir(parents=True, exist_ok=True)
        return d


def build_rootfs(rootfs: Path) -> None:
    """Busybox rootfs with applet links, passwd/group and empty mount points."""
    for d in ("bin", "proc", "sys", "dev", "tmp", "etc", "root", "mnt"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    os.chmod(rootfs / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in APPLETS:
        link = rootfs / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (rootfs / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\ntty:x:5:\nnogroup:x:65534:\n")


def make_traversable(path: Path) -> None:
    """o+x on path and its ancestors, so an unprivileged mapped root can reach it."""
    for p in [path, *path.parents]:
        mode = p.stat().st_mode & 0o7777
        if not mode & 0o001:
            os.chmod(p, mode | 0o001)


def make_bundle(path: Path, args: Sequence[str] = ("true",)) -> Bundle:
    path.mkdir(parents=True, exist_ok=True)
    build_rootfs(path / "rootfs")
    return Bundle(path, copy.deepcopy(default_config(args)))


# --- the in-container probe --------------------------------------------------

PROBE_MARK = "@@@"


def probe_script(items: dict[str, str]) -> str:
    """A shell script printing each command's output under a marker line.

    Keys are names, values shell snippets run by the container's sh (pid $$).
    """
    parts = []
    for name, snippet in items.items():
        parts.append(f"echo '{PROBE_MARK} {name}'; ( {snippet} ) 2>&1")
    parts.append(f"echo '{PROBE_MARK} END'")
    return "\n".join(parts)


def parse_probe(out: str) -> dict[str, str]:
    """Inverse of probe_script: {name: output text}."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in out.splitlines():
        at = line.find(PROBE_MARK + " ")
        if at >= 0:
            # A section without a final newline leaves the marker mid-line.
            if at > 0 and current is not None:
                current.append(line[:at])
            current = sections.setdefault(line[at + len(PROBE_MARK) + 1:], [])
            continue
        if current is not None:
            current.append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


STANDARD_PROBE = {
    "status": "cat /proc/$$/status",
    "limits": "cat /proc/$$/limits",
    "mountinfo": "cat /proc/$$/mountinfo",
    "fds": "ls /proc/$$/fd",
    "env": "cat /proc/$$/environ | tr '\\0' '\\n'",
    "cwd": "readlink /proc/$$/cwd",
    "pid": "echo $$",
    "hostname": "hostname",
    "domainname": "cat /proc/sys/kernel/domainname",
    "uid_map": "cat /proc/$$/uid_map",
    "gid_map": "cat /proc/$$/gid_map",
    "oom_score_adj": "cat /proc/$$/oom_score_adj",
    "cgroup": "cat /proc/$$/cgroup",
    "ns": "for n in pid net mnt ipc uts user cgroup time; do "
          "echo $n $(readlink /proc/$$/ns/$n); done",
    "devices": "for d in null zero full random urandom tty ptmx; do "
               "stat -c \"$d %F %t %T %a\" /dev/$d; done",
    "devlinks": "for d in fd stdin stdout stderr; do echo $d $(readlink /dev/$d); done",
    "netdev": "cat /proc/net/dev",
}


def status_field(status: str, key: str) -> str:
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(key)


@dataclass
class MountEntry:
    """One /proc/PID/mountinfo line."""

    mount_id: int
    parent_id: int
    root: str
    mountpoint: str
    options: set[str]
    optional: list[str]
    fstype: str
    source: str
    super_options: set[str]


def parse_mountinfo(text: str) -> list[MountEntry]:
    entries = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 10 or "-" not in parts:
            continue
        sep = parts.index("-")
        entries.append(MountEntry(
            int(parts[0]), int(parts[1]), _unescape(parts[3]), _unescape(parts[4]),
            set(parts[5].split(",")), parts[6:sep], parts[sep + 1], parts[sep + 2],
            set(parts[sep + 3].split(",")) if len(parts) > sep + 3 else set()))
    return entries


def _unescape(s: str) -> str:
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")


def mount_at(entries: list[MountEntry], mountpoint: str) -> MountEntry | None:
    """The topmost mount at mountpoint (last in mountinfo order)."""
    found = [e for e in entries if e.mountpoint == mountpoint]
    return found[-1] if found else None


# --- host-side observers ------------------------------------------------------

def ns_inode(pid: int | str, nstype: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{NAMESPACE_FILES.get(nstype, nstype)}")


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def processes_under(path: Path) -> list[int]:
    """Live pids whose cwd or root lies inside path (leftover container processes)."""
    prefix = str(path.resolve())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        for link in ("cwd", "root"):
            try:
                target = os.readlink(f"/proc/{entry}/{link}")
            except OSError:
                continue
            if (target == prefix or target.startswith(prefix + "/")) and pid_alive(int(entry)):
                found.append(int(entry))
                break
    return found


def v1_controllers(with_unified: bool = False) -> list[str]:
    """Mounted cgroup v1 hierarchies under /sys/fs/cgroup (+ hybrid 'unified')."""
    kinds = ("cgroup", "cgroup2") if with_unified else ("cgroup",)
    out = []
    with open("/proc/self/mountinfo") as f:
        for e in parse_mountinfo(f.read()):
            if e.fstype in kinds and e.mountpoint.startswith(str(CGROUP_ROOT) + "/"):
                out.append(Path(e.mountpoint).name)
    return out


def cgroup_v2_only() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


def cgroup_dirs(cgroups_path: str) -> list[Path]:
    """Existing directories for an absolute cgroupsPath, in every hierarchy."""
    rel = cgroups_path.lstrip("/")
    if cgroup_v2_only():
        cands = [CGROUP_ROOT / rel]
    else:
        cands = [CGROUP_ROOT / c / rel for c in v1_controllers(with_unified=True)]
    return [c for c in cands if c.is_dir()]


def cgroup_file(controller: str, cgroups_path: str, name: str) -> Path:
    return CGROUP_ROOT / controller / cgroups_path.lstrip("/") / name


def read_text(path: Path | str) -> str:
    with open(path) as f:
        return f.read()


def poll(pred: Any, timeout: float = 5.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


@dataclass
class NsHolder:
    """A host process sitting in fresh namespaces, to be joined by path."""

    proc: subprocess.Popen[bytes]
    pid: int

    def stop(self) -> None:
        if self.pid != self.proc.pid:
            # With --fork the member is unshare's child; it outlives its parent.
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc.kill()
        self.proc.wait()


def spawn_ns_holder(flags: Sequence[str]) -> NsHolder:
    """`unshare FLAGS sleep` on the host; for --pid the holder's child is the member."""
    fork = ["--fork"] if "--pid" in flags or "--user" in flags else []
    proc = subprocess.Popen(["unshare", *flags, *fork, "--", "sleep", "300"],
                            stdin=subprocess.DEVNULL)
    pid = proc.pid
    if fork:
        def child() -> int | None:
            try:
                kids = read_text(f"/proc/{proc.pid}/task/{proc.pid}/children").split()
            except OSError:
                return None
            return int(kids[0]) if kids else None
        poll(lambda: child() is not None, timeout=5)
        pid = child() or proc.pid
    else:
        me = os.readlink("/proc/self/ns/uts")
        poll(lambda: _exe(proc.pid).endswith("sleep") or me != _safe_ns(proc.pid), 5)
    return NsHolder(proc, pid)


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def _safe_ns(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/uts")
    except OSError:
        return ""


def iter_lines(text: str) -> Iterator[str]:
    return iter(text.splitlines())


def leftovers(rt: Runtime, cid: str, bundle: Bundle) -> list[str]:
    """What a failed or deleted container left behind (empty list == nothing)."""
    found = []
    if rt.state(cid) is not None:
        found.append(f"`state {cid}` still succeeds")
    listing = rt.cmd("list", "--format", "json")
    if listing.ok and cid in listing.out:
        found.append(f"`list` still shows {cid}")
    procs = processes_under(bundle.path)
    if procs:
        found.append(f"processes still alive in the bundle: {procs}")
    cg = bundle.config.get("linux", {}).get("cgroupsPath")
    if cg:
        dirs = cgroup_dirs(cg)
        if dirs:
            found.append(f"cgroup directories remain: {[str(d) for d in dirs]}")
    return found


def create_ok(rt: Runtime, cid: str, bundle: Bundle, script: str = "sleep 300") -> dict[str, Any]:
    """Write the bundle with `sh -c script`, create it, return its state."""
    bundle.shell(script)
    bundle.write()
    res = rt.create(cid, bundle)
    assert res.ok, str(res)
    st = rt.state(cid)
    assert st is not None, f"state {cid} failed after create"
    return st


def start_ok(rt: Runtime, cid: str) -> None:
    res = rt.start(cid)
    assert res.ok, str(res)
