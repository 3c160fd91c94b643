"""Unit tests of pyruntime.state: id validation, the state directory, atomic save/load,
damaged files, locking and status computation (with fake pids; no root needed).
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
from pathlib import Path

import pytest

from pyruntime import state as S
from pyruntime.errors import NotExistError, StateError


def make_state(cid: str = "c1", **kw: object) -> S.State:
    return S.State(id=cid, bundle="/b", rootfs="/b/rootfs", created="2024-01-01T00:00:00Z",
                   **kw)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> S.StateStore:
    return S.StateStore(str(tmp_path / "root"))


@pytest.fixture
def alive(monkeypatch: pytest.MonkeyPatch) -> dict[int, int]:
    """Fake process table {pid: start_time} behind StateStore.status."""
    table: dict[int, int] = {}

    def fake_is_alive(pid: int, start_time: int | None) -> bool:
        return pid in table and (start_time is None or table[pid] == start_time)

    monkeypatch.setattr(S, "is_alive", fake_is_alive)
    return table


# ---------------------------------------------------------------------------- ids


@pytest.mark.parametrize("cid", ["a", "A", "0", "abc-DEF_1.2+3", "x" * 250, "1.0", "a..b"])
def test_validate_id_valid_accepted(cid: str) -> None:
    S.validate_id(cid)


@pytest.mark.parametrize("cid", ["", ".", "..", "../x", "a/b", "/abs", ".hidden", "-dash",
                                 "_under", "a b", "tab\t", "new\nline", "x" * 251, "é",
                                 "a:b", "a\0b", "*"])
def test_validate_id_invalid_refused(cid: str) -> None:
    with pytest.raises(StateError):
        S.validate_id(cid)


def test_store_dir_validates_before_building_path(store: S.StateStore) -> None:
    with pytest.raises(StateError):
        store.dir("../../etc")
    assert store.dir("ok") == os.path.join(store.root, "ok")


def test_now_rfc3339_nanoseconds_utc() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", S.now_rfc3339())


# ---------------------------------------------------------------------------- make / lock


def test_make_creates_private_directory_and_holds_lock(store: S.StateStore) -> None:
    lock = store.make("c1")
    try:
        path = Path(store.dir("c1"))
        assert path.is_dir()
        assert path.stat().st_mode & 0o777 == 0o711
        other = os.open(path / S.LOCK_FILE, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    finally:
        lock.release()


def test_make_existing_id_refused(store: S.StateStore) -> None:
    store.make("c1").release()
    with pytest.raises(StateError, match="exists"):
        store.make("c1")


def test_lock_released_can_be_taken_again(store: S.StateStore) -> None:
    store.make("c1").release()
    with store.lock("c1") as lock:
        assert lock.fd >= 0
    assert lock.fd == -1


def test_lock_missing_container_not_exist(store: S.StateStore) -> None:
    with pytest.raises(NotExistError, match="does not exist"):
        store.lock("ghost")


def test_lock_after_remove_not_exist(store: S.StateStore) -> None:
    store.make("c1").release()
    store.remove("c1")
    with pytest.raises(NotExistError):
        store.lock("c1")


# ---------------------------------------------------------------------------- save / load


def test_save_load_roundtrip(store: S.StateStore) -> None:
    store.make("c1").release()
    st = make_state(pid=42, start_time=1234, oci_version="1.2.0", annotations={"k": "v"},
                    owner="root", cgroup_path="/c1", hooks={"poststop": [{"path": "/x"}]},
                    namespaces=[{"type": "pid"}], config_process={"args": ["sh"]},
                    started=True, cgroup_paths={"memory": "/sys/fs/cgroup/memory/c1"},
                    cgroup_mounts={"memory": "/sys/fs/cgroup/memory"})
    store.save(st)
    back = store.load("c1")
    for name in ("id", "bundle", "rootfs", "created", "pid", "start_time", "oci_version",
                 "annotations", "owner", "cgroup_path", "hooks", "namespaces",
                 "config_process", "started", "cgroup_paths", "cgroup_mounts"):
        assert getattr(back, name) == getattr(st, name), name


def test_save_on_disk_has_oci_fields(store: S.StateStore) -> None:
    import json

    store.make("c1").release()
    store.save(make_state(pid=7, oci_version="1.2.0"))
    doc = json.loads((Path(store.dir("c1")) / S.STATE_FILE).read_text())
    assert {"ociVersion", "id", "pid", "bundle", "rootfs", "created"} <= set(doc)
    assert doc["id"] == "c1" and doc["pid"] == 7


def test_save_replaces_file_atomically_without_temp_left(store: S.StateStore) -> None:
    store.make("c1").release()
    store.save(make_state(pid=1))
    path = Path(store.dir("c1")) / S.STATE_FILE
    first = path.stat().st_ino
    store.save(make_state(pid=2))
    assert path.stat().st_ino != first  # a new file renamed over the old one
    assert store.load("c1").pid == 2
    assert sorted(os.listdir(store.dir("c1"))) == sorted([S.LOCK_FILE, S.STATE_FILE])


def test_save_by_exchange_swaps_then_unlinks_the_old_state(store: S.StateStore) -> None:
    store.make("c1").release()
    calls: list[tuple[str, str]] = []

    def exchange(a: str, b: str) -> None:
        calls.append((a, b))
        os.rename(b, a + ".old")  # what RENAME_EXCHANGE does, in three renames
        os.rename(a, b)
        os.rename(a + ".old", a)

    store.save(make_state(pid=1), exchange)  # no state.json yet (ENOENT): a plain rename
    assert store.load("c1").pid == 1
    path = Path(store.dir("c1")) / S.STATE_FILE
    calls.clear()
    store.save(make_state(pid=2), exchange)
    assert calls == [(str(path.parent / f".{S.STATE_FILE}.tmp"), str(path))]
    assert store.load("c1").pid == 2
    assert sorted(os.listdir(store.dir("c1"))) == sorted([S.LOCK_FILE, S.STATE_FILE])


def test_save_falls_back_to_rename_when_exchange_fails(store: S.StateStore) -> None:
    store.make("c1").release()
    store.save(make_state(pid=1))

    def exchange(a: str, b: str) -> None:
        raise OSError(22, "Invalid argument")  # a filesystem without RENAME_EXCHANGE

    store.save(make_state(pid=3), exchange)
    assert store.load("c1").pid == 3
    assert sorted(os.listdir(store.dir("c1"))) == sorted([S.LOCK_FILE, S.STATE_FILE])


def test_save_file_is_private(store: S.StateStore) -> None:
    store.make("c1").release()
    store.save(make_state())
    assert (Path(store.dir("c1")) / S.STATE_FILE).stat().st_mode & 0o077 == 0


def test_load_missing_container_not_exist(store: S.StateStore) -> None:
    with pytest.raises(NotExistError, match="container ghost does not exist"):
        store.load("ghost")


def test_load_directory_without_state_not_exist(store: S.StateStore) -> None:
    store.make("c1").release()
    with pytest.raises(NotExistError):
        store.load("c1")


@pytest.mark.parametrize("content", [
    "garbage", "", '{"id": ', "[]", '{"bundle": "/b"}',
    ('{"id": "c1", "bundle": "/b", "rootfs": "/r", "created": "t", '
     '"pid": "not-a-number"}'),
    pytest.param('{"id": "c1"', marks=()), pytest.param("{", marks=()),
    pytest.param('{"id": "c1",}', marks=()),
])
def test_load_damaged_file_state_error(store: S.StateStore, content: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # as in the CLI, where nothing imports the json package
    monkeypatch.delitem(sys.modules, "json.decoder", raising=False)
    store.make("c1").release()
    (Path(store.dir("c1")) / S.STATE_FILE).write_text(content)
    with pytest.raises(StateError, match="damaged") as e:
        store.load("c1")
    assert not isinstance(e.value, NotExistError)


# ---------------------------------------------------------------------------- ids / remove


def test_ids_lists_only_containers_with_state(store: S.StateStore) -> None:
    for cid in ("b", "a"):
        store.make(cid).release()
        store.save(make_state(cid))
    store.make("nostate").release()
    Path(store.root, ".hidden").mkdir()
    Path(store.root, "stray-file").write_text("")
    assert store.ids() == ["a", "b"]


def test_ids_missing_root_empty(tmp_path: Path) -> None:
    assert S.StateStore(str(tmp_path / "nope")).ids() == []


def test_remove_deletes_directory(store: S.StateStore) -> None:
    store.make("c1").release()
    store.save(make_state())
    os.mkfifo(store.fifo_path("c1"))
    store.remove("c1")
    assert not os.path.exists(store.dir("c1"))
    store.remove("c1")  # idempotent


def test_fifo_path_inside_state_dir(store: S.StateStore) -> None:
    assert store.fifo_path("c1") == os.path.join(store.root, "c1", S.FIFO_FILE)


# ---------------------------------------------------------------------------- status


def test_status_no_pid_no_creator_stopped(store: S.StateStore, alive: dict[int, int]) -> None:
    assert store.status(make_state()) == "stopped"


def test_status_creator_alive_creating(store: S.StateStore, alive: dict[int, int]) -> None:
    alive[100] = 5
    assert store.status(make_state(creating_pid=100, creating_start=5)) == "creating"


def test_status_creator_dead_stopped(store: S.StateStore, alive: dict[int, int]) -> None:
    assert store.status(make_state(creating_pid=100, creating_start=5)) == "stopped"


def test_status_creator_pid_reused_stopped(store: S.StateStore, alive: dict[int, int]) -> None:
    alive[100] = 6
    assert store.status(make_state(creating_pid=100, creating_start=5)) == "stopped"


def test_status_init_alive_with_fifo_created(store: S.StateStore, alive: dict[int, int]) -> None:
    store.make("c1").release()
    os.mkfifo(store.fifo_path("c1"))
    alive[200] = 9
    assert store.status(make_state(pid=200, start_time=9)) == "created"


def test_status_init_alive_without_fifo_running(store: S.StateStore,
                                                alive: dict[int, int]) -> None:
    store.make("c1").release()
    alive[200] = 9
    assert store.status(make_state(pid=200, start_time=9)) == "running"


def test_status_init_dead_stopped_even_with_fifo(store: S.StateStore,
                                                 alive: dict[int, int]) -> None:
    store.make("c1").release()
    os.mkfifo(store.fifo_path("c1"))
    assert store.status(make_state(pid=200, start_time=9)) == "stopped"


def test_status_init_pid_reused_stopped(store: S.StateStore, alive: dict[int, int]) -> None:
    store.make("c1").release()
    alive[200] = 10
    assert store.status(make_state(pid=200, start_time=9)) == "stopped"


@pytest.mark.parametrize("content,status", [("FROZEN\n", "paused"), ("FREEZING", "paused"),
                                            ("THAWED\n", "running"), ("1\n", "paused"),
                                            ("0\n", "running")])
def test_status_freezer_file(store: S.StateStore, alive: dict[int, int], tmp_path: Path,
                             content: str, status: str) -> None:
    store.make("c1").release()
    freezer = tmp_path / "freezer.state"
    freezer.write_text(content)
    alive[200] = 9
    st = make_state(pid=200, start_time=9, freezer_file=str(freezer))
    assert store.status(st) == status


def test_status_freezer_file_missing_running(store: S.StateStore, alive: dict[int, int],
                                             tmp_path: Path) -> None:
    store.make("c1").release()
    alive[200] = 9
    st = make_state(pid=200, start_time=9, freezer_file=str(tmp_path / "gone"))
    assert store.status(st) == "running"


def test_status_real_process_running(store: S.StateStore) -> None:
    from pyruntime.procs import process_start_time

    store.make("c1").release()
    pid = os.getpid()
    assert store.status(make_state(pid=pid, start_time=process_start_time(pid))) == "running"
    assert store.status(make_state(pid=pid, start_time=1)) == "stopped"
