"""Raw cgroupfs file I/O: the one place the cgroups package touches files.

Owns: reading, writing, creating and removing cgroup files and directories, and an
optional write recorder that unit tests use to pin the exact files and values written.
Must not touch: policy (what to write), the state directory, processes.

Every function takes plain absolute paths, so the same code runs against the real
cgroupfs and against a temporary directory tree built by a test.
"""

from __future__ import annotations

import posix
import time

from pyruntime import pathops
from pyruntime.errors import CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


# Set by record_writes(); called as recorder(path, value) before every write.
_recorder: Callable[[str, str], None] | None = None


class record_writes:  # noqa: N801 - used like a function: `with record_writes() as log`
    """Record every (path, value) written inside the block, in order (for tests)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.previous: Callable[[str, str], None] | None = None

    def __enter__(self) -> list[tuple[str, str]]:
        global _recorder
        self.previous = _recorder
        _recorder = self._record
        return self.log

    def _record(self, path: str, value: str) -> None:
        self.log.append((path, value))

    def __exit__(self, *exc: object) -> None:
        global _recorder
        _recorder = self.previous


def describe(err: OSError) -> str:
    """Lower-case errno text as runc prints it ('no such file or directory')."""
    import errno  # (only when handling an error: 0.08 ms to import)
    return (err.strerror or errno.errorcode.get(err.errno or 0, "error")).lower()


def write(path: str, value: str) -> None:
    """Write ``value`` to the cgroup file ``path`` in a single write(2).

    The file is never created: a missing file means the kernel lacks that knob.

    Raises:
        OSError: as the kernel reports it (callers wrap it with context).
    """
    if _recorder is not None:
        _recorder(path, value)
    # O_TRUNC is ignored by kernfs and makes a fake tree hold only the last value.
    fd = posix.open(path, posix.O_WRONLY | posix.O_TRUNC | posix.O_CLOEXEC)
    try:
        posix.write(fd, value.encode())
    finally:
        posix.close(fd)


def write_checked(directory: str, name: str, value: str) -> None:
    """Write ``value`` to ``directory/name`` or raise a CgroupError naming both.

    Raises:
        CgroupError: the write failed; ``errno`` is kept on the exception.
    """
    path = pathops.join(directory, name)
    try:
        write(path, value)
    except OSError as e:
        raise _write_failed(path, value, e) from e


def _write_failed(path: str, value: str, e: OSError) -> CgroupError:
    """The CgroupError for a failed write of value to path (errno kept on it)."""
    err = CgroupError(f"unable to write {value!r} to {path}: {describe(e)}")
    err.errno = e.errno  # type: ignore[attr-defined]
    return err


def write_each_checked(directory: str, name: str, values: list[str]) -> None:
    """Write every value to ``directory/name``, each in its own write(2) on one open file
    (kernfs takes each write as one input: one device rule), or raise a CgroupError naming
    the file and the value that failed. One open instead of one per value: 0.15 ms a
    create for the default device rules.

    Raises:
        CgroupError: a write (or the open) failed; ``errno`` is kept on the exception.
    """
    path = pathops.join(directory, name)
    value = values[0] if values else ""
    try:
        fd = posix.open(path, posix.O_WRONLY | posix.O_TRUNC | posix.O_CLOEXEC)
        try:
            for value in values:
                if _recorder is not None:
                    _recorder(path, value)
                posix.write(fd, value.encode())
        finally:
            posix.close(fd)
    except OSError as e:
        raise _write_failed(path, value, e) from e


def write_hugetlb_limits(directory: str, limits: list[tuple[str, int]], knob: str) -> None:
    """hugetlb.<size>.<knob> for each (size, limit), and its .rsvd. twin where the kernel
    accounts reservations too (limited the same, as runc does).

    Raises:
        CgroupError: the kernel refused a value.
    """
    rsvd = True
    for size, limit in limits:
        write_checked(directory, f"hugetlb.{size}.{knob}", str(limit))
        if rsvd and exists(pathops.join(directory, f"hugetlb.{size}.rsvd.{knob}")):
            write_checked(directory, f"hugetlb.{size}.rsvd.{knob}", str(limit))
        else:
            rsvd = False


def read(path: str) -> str:
    """Return the whole content of ``path``.

    Raises:
        OSError: as the kernel reports it.
    """
    return pathops.read_bytes(path).decode("utf-8", "replace")  # (no io stack: 3 syscalls)


def read_optional(directory: str, name: str) -> str | None:
    """Return the content of ``directory/name``, or None if it does not exist."""
    try:
        return read(pathops.join(directory, name))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        # ENODEV: the controller is not enabled for this cgroup (v2); same as absent.
        import errno
        if e.errno in (errno.ENODEV, errno.EOPNOTSUPP):
            return None
        raise


def read_checked(directory: str, name: str) -> str:
    """Return the content of ``directory/name``.

    Raises:
        CgroupError: the file cannot be read.
    """
    path = pathops.join(directory, name)
    try:
        return read(path)
    except OSError as e:
        raise CgroupError(f"unable to read {path}: {describe(e)}") from e


def exists(path: str) -> bool:
    """True when ``path`` exists."""
    return pathops.exists(path)


def mkdir_p(path: str, on_new: Callable[[str], None] | None = None) -> None:
    """Create ``path`` and missing parents; ``on_new(dir)`` runs for each one made.

    The leaf is tried first: its parent (a hierarchy root, or the container's parent
    cgroup) usually exists, so the common case is one mkdir and no stat.

    Raises:
        CgroupError: a directory could not be created.
    """
    path = pathops.normpath(path)
    try:
        posix.mkdir(path, 0o755)
    except FileExistsError:
        return
    except FileNotFoundError:
        parent = pathops.dirname(path)
        if parent == path:
            raise CgroupError(f"unable to create cgroup {path}: no such directory") from None
        mkdir_p(parent, on_new)
        try:
            posix.mkdir(path, 0o755)
        except FileExistsError:
            return
        except OSError as e:
            raise CgroupError(f"unable to create cgroup {path}: {describe(e)}") from e
    except OSError as e:
        raise CgroupError(f"unable to create cgroup {path}: {describe(e)}") from e
    if on_new is not None:
        on_new(path)


def subdirs(path: str) -> list[str]:
    """Names of the child directories (child cgroups) of ``path``."""
    try:
        with posix.scandir(path) as it:
            return [e.name for e in it if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def rmdir_tree(path: str, timeout: float = 1.0) -> None:
    """Remove the cgroup ``path`` and its child cgroups, deepest first.

    A missing directory is fine. EBUSY (a task is still exiting) is retried with a
    short backoff until ``timeout`` seconds have passed.

    Raises:
        CgroupError: a directory could not be removed.
    """
    try:
        posix.rmdir(path)  # the usual case, a leaf whose tasks are gone: no directory scan
        return
    except FileNotFoundError:
        return
    except OSError:
        pass  # child cgroups, a task still exiting, or a fake tree: the careful way
    for child in subdirs(path):
        rmdir_tree(pathops.join(path, child), timeout)
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            posix.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            # A fake tree (tests) holds regular files: remove them like cgroupfs would.
            import errno
            if e.errno == errno.ENOTEMPTY and _is_plain_dir_tree(path):
                _remove_plain_files(path)
                continue
            if e.errno != errno.EBUSY or time.monotonic() >= deadline:
                raise CgroupError(f"unable to remove cgroup {path}: {describe(e)}") from e
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _is_plain_dir_tree(path: str) -> bool:
    """True when ``path`` is on a regular filesystem (not cgroupfs)."""
    try:
        st = posix.statvfs(path)
    except OSError:
        return False
    # cgroupfs reports zero blocks; tmpfs and disk filesystems do not.
    return st.f_blocks != 0


def _remove_plain_files(path: str) -> None:
    with posix.scandir(path) as it:
        for e in it:
            if e.is_file(follow_symlinks=False):
                posix.unlink(e.path)
