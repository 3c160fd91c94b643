"""The whole command once, tiny counts, against the real runtimes (root only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent.parent / "run.py"


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_run_quick_tiny_counts_prints_table_and_writes_results(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--rounds", "1", "--rss-rounds", "1",
         "--burst", "3", "--cycles", "4", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    assert "ratio" in res.stdout and "issue 8 targets" in res.stdout
    doc = json.loads((tmp_path / "summary.json").read_text())
    names = {r["name"] for r in doc["rows"]}
    assert {"run", "state", "exec", "kill+delete", "3 concurrent run -d"} <= names
    assert all(v == 0 for v in doc["cycles"]["runc"]["leaked"].values())
    assert (tmp_path / "ratios.png").read_bytes()[:4] == b"\x89PNG"
