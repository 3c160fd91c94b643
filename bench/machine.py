"""Describe the machine a result came from: CPUs, model, kernel, memory, load, versions.

Owns: read-only probes of /proc and of the runtimes' `--version`.
Must not touch: anything else (no containers are made here).
"""

from __future__ import annotations

import os
import platform
import subprocess
import time


def first_line(cmd: list[str]) -> str:
    """First output line of `cmd`, or the error text."""
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except OSError as e:
        return f"unavailable ({e.strerror})"
    out = (res.stdout or res.stderr).strip().splitlines()
    return out[0] if out else f"no output (exit {res.returncode})"


def cpu_model() -> str:
    """`model name` from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_mib() -> int:
    """MemTotal in MiB."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def cgroup_mode() -> str:
    """v2 (unified), hybrid (v1 controllers + cgroup2 at unified/) or v1."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "v2"
    if os.path.isdir("/sys/fs/cgroup/unified"):
        return "hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified)"
    return "v1"


def launcher_python(launcher: str) -> list[str]:
    """The interpreter (and flags) from the launcher's #! line, or [] if it is not a script."""
    try:
        with open(launcher, "rb") as f:
            head = f.readline(512)
    except OSError:
        return []
    if not head.startswith(b"#!"):
        return []
    return head[2:].decode(errors="replace").split()


def installed_vs_checkout(interp: list[str], checkout: str) -> str:
    """Does the launcher's installed pyruntime package match the checkout's .py files?

    The launcher imports from site-packages, not from the checkout, so a stale install would
    silently benchmark old code.
    """
    if not interp:
        return "unknown (launcher is not a python script)"
    prefix = os.path.dirname(os.path.dirname(interp[0]))
    found = [os.path.join(root, "pyruntime") for root in
             (f"{prefix}/lib/python{v}/site-packages" for v in _py_versions(prefix))
             if os.path.isdir(os.path.join(root, "pyruntime"))]
    if not found:
        return "unknown (no site-packages/pyruntime next to the launcher's python)"
    differ = []
    for root, _, files in os.walk(checkout):
        for name in files:
            if not name.endswith(".py"):
                continue
            mine = os.path.join(root, name)
            theirs = os.path.join(found[0], os.path.relpath(mine, checkout))
            if not _same_bytes(mine, theirs):
                differ.append(os.path.relpath(mine, checkout))
    if not differ:
        return f"yes ({found[0]})"
    return (f"NO: {len(differ)} file(s) differ, e.g. {', '.join(sorted(differ)[:3])} "
            f"- reinstall (pip install .) to benchmark the checkout")


def _py_versions(prefix: str) -> list[str]:
    try:
        return [d[len("python"):] for d in os.listdir(f"{prefix}/lib") if d.startswith("python")]
    except OSError:
        return []


def _same_bytes(a: str, b: str) -> bool:
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False


def describe(pyruntime: str, runc: str, checkout: str) -> dict[str, object]:
    """Everything the README asks to quote with a result."""
    interp = launcher_python(pyruntime)
    py = first_line([interp[0], "-c", "import sys; print(sys.version.split()[0])"]) if interp \
        else platform.python_version()
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "nproc": len(os.sched_getaffinity(0)),
        "model": cpu_model(),
        "kernel": platform.release(),
        "memory_mib": mem_total_mib(),
        "cgroups": cgroup_mode(),
        "python": py,
        "pyruntime": first_line([pyruntime, "--version"]),
        "pyruntime_path": pyruntime,
        "installed_is_checkout": installed_vs_checkout(interp, checkout),
        "runc": first_line([runc, "--version"]),
        "runc_path": runc,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
