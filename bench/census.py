"""Counting what a runtime could leak: mounts, cgroup dirs, fds, state dirs, zombies, processes.

Owns: read-only snapshots of /proc and /sys/fs/cgroup, and the before/after difference.
Must not touch: anything it counts (it never unmounts, removes or kills).

The machine may be shared, so every count comes in two flavours: "ours" (only objects that carry
this bench run's container-id prefix or work dir, which is what the leak verdict uses) and a
host-wide total for context.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass(frozen=True)
class Census:
    """One snapshot. Fields ending in _all are host-wide context, the rest are ours."""

    mounts_all: int
    mounts: int
    cgroups: int
    fds: int
    state_dirs: int
    zombies_all: int
    zombies: int
    processes: int

    def as_dict(self) -> dict[str, int]:
        """Plain dict for JSON."""
        return asdict(self)


def count_mounts(mountinfo: str, needle: str) -> tuple[int, int]:
    """(all lines, lines mentioning `needle`) of a mountinfo text."""
    lines = [ln for ln in mountinfo.splitlines() if ln.strip()]
    return len(lines), sum(1 for ln in lines if needle in ln)


def walk_dirs(top: str, depth: int) -> Iterator[str]:
    """Directory paths under `top` down to `depth` levels, without following symlinks."""
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield entry.path
            if depth > 1:
                yield from walk_dirs(entry.path, depth - 1)


def count_cgroups(prefixes: tuple[str, ...], root: str = CGROUP_ROOT, depth: int = 4) -> int:
    """Cgroup directories (any hierarchy) whose name starts with one of `prefixes`."""
    return sum(1 for path in walk_dirs(root, depth)
               if os.path.basename(path).startswith(prefixes))


def count_state_dirs(roots: tuple[str, ...]) -> int:
    """Entries left in the runtimes' --root directories."""
    total = 0
    for root in roots:
        try:
            total += len(os.listdir(root))
        except FileNotFoundError:
            pass
    return total


def parse_stat(text: str) -> tuple[str, int]:
    """(state letter, ppid) from a /proc/PID/stat line (the comm may contain spaces and ')')."""
    rest = text[text.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def scan_processes(prefixes: tuple[str, ...], me: int) -> tuple[int, int, int]:
    """(zombies host-wide, zombie children of `me`, live processes in a cgroup of ours)."""
    zombies_all = zombies = ours = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                state, ppid = parse_stat(f.read())
            with open(f"/proc/{name}/cgroup") as f:
                cgroup = f.read()
        except (OSError, ValueError):
            continue  # exited while we looked
        if state == "Z":
            zombies_all += 1
            zombies += ppid == me
        elif any(f"/{p}" in cgroup for p in prefixes):
            ours += 1
    return zombies_all, zombies, ours


def take(prefixes: tuple[str, ...], work: str, roots: tuple[str, ...]) -> Census:
    """Snapshot everything for container ids starting with `prefixes` and mounts under `work`."""
    with open("/proc/self/mountinfo") as f:
        mounts_all, mounts = count_mounts(f.read(), work)
    zombies_all, zombies, processes = scan_processes(prefixes, os.getpid())
    return Census(mounts_all=mounts_all, mounts=mounts, cgroups=count_cgroups(prefixes),
                  fds=len(os.listdir("/proc/self/fd")), state_dirs=count_state_dirs(roots),
                  zombies_all=zombies_all, zombies=zombies, processes=processes)


def leaks(before: Census, after: Census) -> dict[str, int]:
    """Growth of every "ours" count; all zero means nothing leaked."""
    b, a = before.as_dict(), after.as_dict()
    return {k: a[k] - b[k] for k in a if not k.endswith("_all")}
