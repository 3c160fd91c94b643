"""Process identity: a pid with its start time, so that no verb acts on a reused pid.

Owns: reading /proc/PID/stat, liveness with start-time checks, pidfds and signals through
them. Loaded by every verb (state, start, kill, delete): small on purpose.
Must not touch: container state or policy.
"""

from __future__ import annotations

import posix

from pyruntime import pathops


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks), None if gone or a zombie."""
    try:
        data = pathops.read_bytes(f"/proc/{pid}/stat")
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2:].split()
    if rest[0] in (b"Z", b"X"):
        return None
    return int(rest[19])


def is_alive(pid: int, start_time: int | None) -> bool:
    """pid exists, is not a zombie and (if known) started at start_time: no PID reuse."""
    if pid <= 0:
        return False
    now = process_start_time(pid)
    return now is not None and (start_time is None or now == start_time)


def open_pidfd(pid: int, start_time: int | None) -> int | None:
    """A pidfd for pid if it is still the same process, else None."""
    try:
        fd = posix.pidfd_open(pid)
    except OSError:
        return None
    if not is_alive(pid, start_time):
        posix.close(fd)
        return None
    return fd


def signal_pid(pid: int, start_time: int | None, sig: int) -> bool:
    """Send sig through a pidfd (never to a reused pid); False if the process is gone."""
    fd = open_pidfd(pid, start_time)
    if fd is None:
        return False
    import _signal  # type: ignore[import-not-found]  # (signal would import enum)

    try:
        _signal.pidfd_send_signal(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        posix.close(fd)
