"""Load and attach the cgroup v2 device program with the bpf(2) syscall (via ctypes).

Owns: BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program, BPF_PROG_ATTACH to a
cgroup directory with BPF_F_ALLOW_MULTI, and detaching the programs it replaces.
Must not touch: program generation (bpfprog.py), other cgroup files. Imported lazily:
only a v2 ``set`` with device rules pays for ctypes. The lead may move these calls
into the C shim later; the interface (``attach_device_program``) stays.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

from pyruntime.errors import CgroupError

_SYS_BPF = {
    "x86_64": 321,
    "aarch64": 280,
    "armv7l": 386,
    "ppc64le": 361,
    "s390x": 351,
    "riscv64": 280,
}

BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

_ATTR_SIZE = 128  # larger than every layout used here; the tail stays zero
_libc: ctypes.CDLL | None = None


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    nr = _SYS_BPF.get(platform.machine())
    if nr is None:
        raise OSError(errno.ENOSYS, f"bpf syscall number unknown on {platform.machine()}")
    ret = int(_libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), attr, ctypes.c_uint(_ATTR_SIZE)))
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def load_device_program(code: bytes, license: str = "Apache") -> int:
    """BPF_PROG_LOAD the device program; returns the program fd (caller closes it).

    Raises:
        CgroupError: the kernel refused it (the verifier log is included).
    """
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(65536)
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into(
        "<IIQQIIQII16sII",
        attr,
        0,
        BPF_PROG_TYPE_CGROUP_DEVICE,
        len(code) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(lic),
        1,  # log_level: the verifier explains a rejection
        len(log),
        ctypes.addressof(log),
        0,
        0,
        b"pyrt_devices",
        0,
        BPF_CGROUP_DEVICE,
    )
    try:
        return _bpf(BPF_PROG_LOAD, attr)
    except OSError as e:
        detail = log.value.decode(errors="replace").strip().splitlines()
        tail = f" ({detail[-1]})" if detail else ""
        raise CgroupError(
            f"unable to load the device cgroup BPF program: {e.strerror}{tail}"
        ) from e


def query_device_programs(dirfd: int) -> list[int]:
    """IDs of the device programs attached directly to the cgroup ``dirfd``."""
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("<IIIIQI", attr, 0, dirfd, BPF_CGROUP_DEVICE, 0, 0, ctypes.addressof(ids), 64)
    try:
        _bpf(BPF_PROG_QUERY, attr)
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.ENOENT):
            return []
        raise
    count = struct.unpack_from("<I", attr, 24)[0]
    return [int(ids[i]) for i in range(min(count, 64))]


def _prog_fd_by_id(prog_id: int) -> int:
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("<III", attr, 0, prog_id, 0, 0)
    return _bpf(BPF_PROG_GET_FD_BY_ID, attr)


def _attach_op(cmd: int, dirfd: int, prog_fd: int, flags: int) -> None:
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("<IIIII", attr, 0, dirfd, prog_fd, BPF_CGROUP_DEVICE, flags, 0)
    _bpf(cmd, attr)


def attach_device_program(cgroup_dir: str, code: bytes) -> None:
    """Load ``code`` and make it the only device program of ``cgroup_dir``.

    The new program is attached before the old ones are detached, so there is no
    window without a filter.

    Raises:
        CgroupError: loading, attaching or detaching failed.
    """
    prog_fd = load_device_program(code)
    try:
        try:
            dirfd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise CgroupError(f"unable to open cgroup {cgroup_dir}: {e.strerror}") from e
        try:
            old = query_device_programs(dirfd)
            try:
                _attach_op(BPF_PROG_ATTACH, dirfd, prog_fd, BPF_F_ALLOW_MULTI)
            except OSError as e:
                raise CgroupError(
                    f"unable to attach the device BPF program to {cgroup_dir}: {e.strerror}"
                ) from e
            for prog_id in old:
                try:
                    old_fd = _prog_fd_by_id(prog_id)
                except OSError:
                    continue  # already gone
                try:
                    _attach_op(BPF_PROG_DETACH, dirfd, old_fd, 0)
                except OSError as e:
                    if e.errno != errno.ENOENT:
                        raise CgroupError(
                            f"unable to detach old device program {prog_id} from {cgroup_dir}: "
                            f"{e.strerror}"
                        ) from e
                finally:
                    os.close(old_fd)
        finally:
            os.close(dirfd)
    finally:
        os.close(prog_fd)
