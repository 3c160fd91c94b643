"""Running one runtime command and measuring it: wall time, exit status, peak RSS.

Owns: the `Runtime` handle (binary + its private --root and bundles), timed calls, the peak-RSS
wrapper, and the small statistics (median, p90) every report uses.
Must not touch: scenario logic (scenarios.py, burst.py, cycles.py) or output formatting.

Why peak RSS needs a wrapper: the kernel folds the high-water RSS of the pre-exec address space
into the process's `ru_maxrss` at execve, so a runtime forked from this (15+ MB) Python process
would report at least the bench's own size. GNU `time` (or busybox `time`) is a ~1 MB process that
forks, execs the runtime and reports the `ru_maxrss` from its own wait4(); that is the runtime
process plus whatever helpers it reaps itself, never the container's init (not its child by then).
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


class BenchError(Exception):
    """A runtime command failed or the harness cannot measure something."""


@dataclass
class Runtime:
    """One runtime under test: its command, a private state root and its own bundles.

    Every container id the bench makes for it starts with `prefix`, so cgroups, state dirs and
    leftover processes can be told apart from the other runtime's and from unrelated containers.
    """

    name: str
    exe: str
    root: str
    prefix: str
    bundles: dict[str, str] = field(default_factory=dict)

    def argv(self, *args: str) -> list[str]:
        """Full command line for `args` with this runtime's --root."""
        return [self.exe, "--root", self.root, *args]

    def cid(self, label: str) -> str:
        """A container id unique to this runtime and bench run."""
        return f"{self.prefix}-{label}"


# stderr goes to a reused temp file, not a pipe: a chatty runtime can never block on a full
# pipe while we sit in wait4(). Opened here, not at the first call, so that the cycle loop's
# census of our own fds does not count it as a leak of whichever runtime ran first.
_ERRFILE = tempfile.TemporaryFile()  # noqa: SIM115 - lives for the process


def call(cmd: Sequence[str], *, check: bool = True) -> tuple[float, int, str]:
    """Run `cmd` to completion: (wall seconds, exit code, stderr text).

    The clock covers spawn + run + reap of the runtime process only.

    Raises:
        BenchError: `check` is set and the command exited non-zero.
    """
    err = _ERRFILE
    err.seek(0)
    err.truncate()
    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=err)
    _, status, _ = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    err.seek(0)
    text = err.read().decode(errors="replace").strip()
    if code != 0 and check:
        raise BenchError(f"{' '.join(cmd)}: exit {code}: {text[-400:]}")
    return elapsed, code, text


def timed(rt: Runtime, *args: str) -> float:
    """Wall seconds of one successful `rt` call.

    Raises:
        BenchError: the call failed.
    """
    return call(rt.argv(*args))[0]


def quiet(rt: Runtime, *args: str) -> int:
    """Run an untimed helper call (setup / cleanup); returns its exit code."""
    return call(rt.argv(*args), check=False)[1]


class RssMeter:
    """Peak RSS (KiB) of one command, measured by a small `time` process that wait4()s it."""

    def __init__(self) -> None:
        gnu = "/usr/bin/time"
        busybox = shutil.which("busybox")
        self.tool: str | None = None
        self.scale = 1.0
        if os.access(gnu, os.X_OK) and _is_gnu_time(gnu):
            self.tool = gnu
        elif busybox:
            self.tool = busybox
            # busybox `time` treats ru_maxrss as pages and multiplies by the page size in KiB
            self.scale = 1024 / os.sysconf("SC_PAGE_SIZE")
        self.floor_kib = self.measure(["/bin/true"]) if self.tool else 0

    def measure(self, cmd: Sequence[str]) -> int:
        """Peak RSS in KiB of `cmd` (which must succeed).

        Raises:
            BenchError: no `time` tool, or the command failed.
        """
        if self.tool is None:
            raise BenchError("peak RSS needs GNU time (apt-get install time) or busybox")
        with tempfile.NamedTemporaryFile(prefix="pyrt-rss-") as out:
            if self.tool.endswith("busybox"):
                # busybox time has no -o: the format line is the last line of stderr
                wrapped = [self.tool, "time", "-f", "RSSKIB=%M", *cmd]
            else:
                wrapped = [self.tool, "-f", "%M", "-o", out.name, *cmd]
            _, code, err = call(wrapped, check=False)
            if code != 0:
                raise BenchError(f"{' '.join(cmd)}: exit {code}: {err[-400:]}")
            if self.tool.endswith("busybox"):
                lines = [ln for ln in err.splitlines() if ln.startswith("RSSKIB=")]
                if not lines:
                    raise BenchError("busybox time printed no RSS line")
                return int(int(lines[-1].split("=", 1)[1]) * self.scale)
            return int(out.read().decode().split()[-1])


def _is_gnu_time(path: str) -> bool:
    res = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return "GNU" in res.stdout + res.stderr


def median(xs: Sequence[float]) -> float:
    """Median, or NaN for no samples."""
    return statistics.median(xs) if xs else float("nan")


def p90(xs: Sequence[float]) -> float:
    """90th percentile (linear interpolation between closest ranks), NaN for no samples."""
    if not xs:
        return float("nan")
    if len(xs) == 1:
        return float(xs[0])
    return statistics.quantiles(xs, n=10, method="inclusive")[8]


def ratio(a: float, b: float) -> float:
    """a / b, NaN when b is zero or either is NaN."""
    if b == 0 or math.isnan(a) or math.isnan(b):
        return float("nan")
    return a / b
