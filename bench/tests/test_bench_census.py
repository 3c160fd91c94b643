"""census: parsing /proc formats and counting only our objects."""

from __future__ import annotations

import os
from pathlib import Path

import census


def test_count_mounts_needle_counts_only_matching_lines() -> None:
    text = ("22 1 0:21 / /proc rw - proc proc rw\n"
            "30 22 0:40 / /tmp/pyrt-bench-x/rootfs/proc rw - proc proc rw\n\n")
    assert census.count_mounts(text, "/tmp/pyrt-bench-x") == (2, 1)


def test_parse_stat_comm_with_parens_and_spaces_reads_state_and_ppid() -> None:
    assert census.parse_stat("42 (a) b (c) Z 7 42 42 0") == ("Z", 7)


def test_count_cgroups_prefix_counts_nested_dirs_only(tmp_path: Path) -> None:
    for d in ("memory/pbX-1", "pids/pbX-1", "pids/other", "cpu/a/pbX-2", "cpu/a/b/c/d/pbX-deep"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "pids" / "pbX-file").write_text("")
    assert census.count_cgroups(("pbX",), str(tmp_path), depth=4) == 3


def test_count_state_dirs_missing_root_counts_zero(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "c1").mkdir()
    assert census.count_state_dirs((str(tmp_path / "r"), str(tmp_path / "none"))) == 1


def test_take_and_leaks_same_state_reports_no_growth(tmp_path: Path) -> None:
    a = census.take(("pb-none-",), str(tmp_path), (str(tmp_path),))
    fd = os.open(str(tmp_path), os.O_RDONLY)
    try:
        b = census.take(("pb-none-",), str(tmp_path), (str(tmp_path),))
    finally:
        os.close(fd)
    growth = census.leaks(a, b)
    assert growth["fds"] == 1
    assert all(v == 0 for k, v in growth.items() if k != "fds")
    assert "mounts_all" not in growth
