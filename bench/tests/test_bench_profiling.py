"""profiling: importtime and strace -c parsers."""

from __future__ import annotations

import profiling

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |   _io
import time:       300 |        400 | _frozen_importlib_external
import time:        50 |         50 |       collections
import time:       700 |        750 |     enum
import time:       200 |        950 |   signal
import time:       100 |       1050 | pyruntime.cgroups
something else on stderr
"""


def test_parse_importtime_nested_lines_give_depth_and_importers() -> None:
    entries = profiling.parse_importtime(IMPORTTIME)
    by = {e.name: e for e in entries}
    assert len(entries) == 6
    assert by["_frozen_importlib_external"].depth == 0
    assert by["collections"].depth == 3
    assert by["enum"].chain == "signal <- pyruntime.cgroups"
    assert by["collections"].chain == "enum <- signal <- pyruntime.cgroups"
    assert by["pyruntime.cgroups"].chain == ""


def test_merge_runs_two_runs_takes_median_per_module() -> None:
    a = profiling.parse_importtime(IMPORTTIME)
    b = profiling.parse_importtime(IMPORTTIME.replace("       700 |", "       900 |"))
    c = profiling.parse_importtime(IMPORTTIME.replace("       700 |", "       800 |"))
    merged = {e.name: e for e in profiling.merge_runs([a, b, c])}
    assert merged["enum"].self_us == 800


def test_summarize_imports_groups_and_totals() -> None:
    text = "\n".join(profiling.summarize_imports(profiling.parse_importtime(IMPORTTIME)))
    assert "6 modules imported, 1.4 ms" in text
    assert "pyruntime" in text and "stdlib/other" in text


def test_group_of_names_buckets() -> None:
    assert profiling.group_of("pyruntime.cli.main") == "pyruntime"
    assert profiling.group_of("_cffi_backend") == "cffi"
    assert profiling.group_of("enum") == "stdlib/other"


def test_parse_strace_summary_keeps_header_top_rows_and_total() -> None:
    text = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
22185 ???( <detached ...>
 41.06    0.005384        5384         1           wait4
  6.61    0.000867           5       147        20 openat2
  6.07    0.000796         796         1           clone3
------ ----------- ----------- --------- --------- ----------------
100.00    0.013113           6      1900       184 total
"""
    lines = profiling.parse_strace_summary(text, top=2)
    assert lines[0].startswith("% time")
    assert [ln.split()[-1] for ln in lines[2:]] == ["wait4", "openat2", "total"]
