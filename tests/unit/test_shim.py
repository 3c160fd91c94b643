"""The Python mirror of csrc/pyrt.h matches the compiled shim, and plans pack faithfully."""

from __future__ import annotations

from pathlib import Path

import pytest

shim = pytest.importorskip("pyruntime.shim")
from pyruntime._shim import ffi, lib  # noqa: E402
from pyruntime.plan import (  # noqa: E402
    ChildPlan,
    HostFacts,
    IdMapping,
    LaunchOptions,
    Op,
    build_plan,
)


def test_shim_step_numbers_match_compiled_enum() -> None:
    names = [n for n in vars(shim.Step) if n.isupper()]
    assert names
    for name in names:
        assert getattr(shim.Step, name) == getattr(lib, f"PYRT_STEP_{name}"), name


def test_shim_op_kinds_match_compiled_enum() -> None:
    for name, value in shim.OP_KINDS.items():
        assert value == getattr(lib, f"PYRT_OP_{name}")


def test_shim_record_is_sixteen_bytes_under_pipe_buf() -> None:
    assert ffi.sizeof("struct pyrt_record") == 16


def _plan(**process: object) -> ChildPlan:
    config = {
        "ociVersion": "1.2.0",
        "process": {"args": ["sh", "-c", "true"], "cwd": "/", "env": ["PATH=/bin"],
                    "user": {"uid": 5, "gid": 6, "additionalGids": [7, 8]},
                    "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}], **process},
        "root": {"path": "rootfs"},
        "hostname": "h",
        "mounts": [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "mode=1777"]}],
        "linux": {"namespaces": [{"type": "mount"}, {"type": "uts"}, {"type": "pid"}]},
    }
    return build_plan(config, "/b", "/b/rootfs", LaunchOptions(fifo_path="/s/exec.fifo"),
                      HostFacts())


def test_shim_pack_plan_copies_every_field() -> None:
    plan = _plan()
    packed, keep = shim.pack_plan(plan, 7, [], -1)
    assert keep is not None
    assert ffi.string(packed.rootfs) == b"/b/rootfs"
    assert ffi.string(packed.hostname) == b"h"
    assert ffi.string(packed.fifo_path) == b"/s/exec.fifo"
    assert packed.sync_fd == 7
    assert packed.clone_flags == plan.clone_flags
    assert (packed.uid, packed.gid, packed.n_groups) == (5, 6, 2)
    assert [packed.groups[i] for i in range(2)] == [7, 8]
    assert packed.n_rlimits == 1 and packed.rlimits[0].soft == 10
    assert packed.n_ops == len(plan.ops)
    kinds = [packed.ops[i].kind for i in range(packed.n_ops)]
    assert kinds == [shim.OP_KINDS[op.kind] for op in plan.ops]
    assert [ffi.string(packed.argv[i]) for i in range(3)] == [b"sh", b"-c", b"true"]
    assert packed.argv[3] == ffi.NULL
    assert packed.cgroup_fd == -1 and packed.n_tasks_fds == 0
    assert list(packed.stdio) == [-1, -1, -1]


def test_shim_child_awaits_go_only_for_id_maps() -> None:
    plain = _plan()
    assert not shim.awaits_go(plain)
    assert shim.pack_plan(plain, 3, [], -1)[0].await_go == 0
    mapped = plain.replace(uid_mappings=(IdMapping(0, 1000, 1),))
    assert shim.awaits_go(mapped)
    assert shim.pack_plan(mapped, 3, [], -1)[0].await_go == 1


def test_shim_pack_plan_op_fields() -> None:
    plan = _plan()
    mount = next(i for i, op in enumerate(plan.ops) if op.kind == "MOUNT")
    packed, _keep = shim.pack_plan(plan, 3, [], -1)
    op: Op = plan.ops[mount]
    assert ffi.string(packed.ops[mount].path) == op.path.encode()
    assert ffi.string(packed.ops[mount].fstype) == b"tmpfs"
    assert ffi.string(packed.ops[mount].data) == b"mode=1777"
    assert packed.ops[mount].mflags == op.mflags


def test_shim_exchange_swaps_two_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("new")
    b.write_text("old")
    shim.exchange(str(a), str(b))
    assert (a.read_text(), b.read_text()) == ("old", "new")
    with pytest.raises(FileNotFoundError):
        shim.exchange(str(a), str(tmp_path / "missing"))


def test_shim_socketpair_is_cloexec_seqpacket() -> None:
    import fcntl
    import os
    import socket

    a, b = shim.socketpair()
    try:
        assert fcntl.fcntl(a, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        s = socket.socket(fileno=os.dup(a))
        assert s.type == socket.SOCK_SEQPACKET
        s.close()
    finally:
        os.close(a)
        os.close(b)
