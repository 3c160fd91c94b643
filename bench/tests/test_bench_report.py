"""report, harness statistics, cycles and option parsing: pure pieces of the suite."""

from __future__ import annotations

import json
import math
from pathlib import Path

import census
import harness
import pytest
import report
import run
from cycles import CycleResult


def row(name: str, py: list[float], rc: list[float], unit: str = "ms") -> report.Row:
    return report.Row(name, unit, {"pyruntime": py, "runc": rc})


def test_stats_empty_and_single_samples_are_nan_or_value() -> None:
    assert math.isnan(harness.median([]))
    assert math.isnan(harness.p90([]))
    assert harness.p90([3.0]) == 3.0
    assert harness.p90([float(x) for x in range(1, 11)]) == pytest.approx(9.1)
    assert math.isnan(harness.ratio(1.0, 0.0))
    assert math.isnan(harness.ratio(math.nan, 1.0))


def test_row_ratio_is_ratio_of_medians() -> None:
    r = row("run", [10.0, 20.0, 30.0], [10.0, 10.0, 40.0])
    assert r.ratio == pytest.approx(2.0)
    assert r.as_dict()["pyruntime"]["median"] == 20.0  # type: ignore[index]


def test_table_missing_runtime_prints_dash() -> None:
    lines = report.table([report.Row("state", "ms", {"pyruntime": [1.0]})])
    assert lines[-1].split()[:3] == ["state", "ms", "1.0"]
    assert " - " in lines[-1]


def test_verdicts_targets_met_and_missed() -> None:
    rows = [row("run", [7.0], [10.0]), row("state", [30.0], [10.0]),
            row("peak RSS run", [90.0], [100.0], "KiB"),
            row("peak RSS exec", [120.0], [100.0], "KiB")]
    text = "\n".join(report.verdicts(rows, None))
    assert "run <= 0.8: MET (0.70)" in text
    assert "state <= 2.0: MISSED (3.00)" in text
    assert "create-start-delete <= 1.0: not measured" in text
    assert "MISSED (worst peak RSS exec: 1.20)" in text


def snap(**kw: int) -> census.Census:
    base = {"mounts_all": 20, "mounts": 0, "cgroups": 0, "fds": 5, "state_dirs": 0,
            "zombies_all": 3, "zombies": 0, "processes": 0}
    base.update(kw)
    return census.Census(**base)


def test_cycle_result_leak_and_drift_reported() -> None:
    res = CycleResult(times=[0.1] * 90 + [0.2] * 10, before=snap(), after=snap(cgroups=2,
                                                                              mounts_all=99))
    assert res.first_last() == pytest.approx((0.1, 0.2, 2.0))
    assert res.leaked()["cgroups"] == 2
    text = "\n".join(report.verdicts([], {"pyruntime": res}))
    assert "100 cycles leak nothing: MISSED {'cgroups': 2}" in text
    assert "MISSED (2.00)" in text


def test_drift_judged_against_runc_in_the_same_loop() -> None:
    slow_machine = CycleResult(times=[0.1] * 90 + [0.115] * 10, before=snap(), after=snap())
    text = "\n".join(report.verdicts([], {"pyruntime": slow_machine,
                                           "runc": CycleResult(times=[0.2] * 90 + [0.23] * 10)}))
    assert "MET (1.15; runc 1.15 in the same loop, relative 1.00)" in text
    ours_only = "\n".join(report.verdicts([], {"pyruntime": slow_machine,
                                                "runc": CycleResult(times=[0.2] * 100)}))
    assert "MISSED (1.15; runc 1.00 in the same loop, relative 1.15)" in ours_only


def test_write_outputs_json_and_png(tmp_path: Path) -> None:
    res = CycleResult(times=[0.1, 0.1], before=snap(), after=snap())
    js, png = report.write(str(tmp_path), {"nproc": 2}, {"quick": True},
                           [row("run", [1.0], [2.0])], {"pyruntime": res})
    doc = json.loads(Path(js).read_text())
    assert doc["rows"][0]["ratio"] == 0.5
    assert doc["cycles"]["pyruntime"]["leaked"]["mounts"] == 0
    assert Path(png).read_bytes()[:4] == b"\x89PNG"


def test_call_failing_command_returns_code_or_raises() -> None:
    _, code, err = harness.call(["sh", "-c", "echo oops >&2; exit 3"], check=False)
    assert (code, err) == (3, "oops")
    with pytest.raises(harness.BenchError, match="exit 3: oops"):
        harness.call(["sh", "-c", "echo oops >&2; exit 3"])


def test_rss_meter_true_reports_plausible_kib() -> None:
    meter = harness.RssMeter()
    if meter.tool is None:
        pytest.skip("no GNU time or busybox")
    assert 100 < meter.floor_kib < 20000


def test_parse_args_quick_and_bad_group() -> None:
    args = run.parse_args(["--quick"])
    assert (args.rounds, args.cycles, args.burst, args.burst_rounds) == (5, 100, 100, 1)
    assert run.parse_args(["--cycles", "0"]).cycles == 0
    with pytest.raises(SystemExit):
        run.parse_args(["--only", "latency,nope"])
