"""Socket activation: LISTEN_FDS/LISTEN_PID fds reach the container as runc passes them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.root
def test_listen_fds_passed_with_env(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b = make_bundle("sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; ls /proc/self/fd; cat <&3")
    data = tmp_path / "activated"
    data.write_text("socket-data\n")
    cid = cli.new_id()
    # LISTEN_PID must be the runtime's own pid: let a shell exec the runtime with it set
    script = (f'exec 3<{data}; export LISTEN_FDS=1 LISTEN_PID=$$; exec '
              + " ".join(cli.base) + f" --root {cli.root} run --bundle {b.path} {cid}")
    proc = subprocess.run(["sh", "-c", script], capture_output=True, timeout=30,
                          env={k: v for k, v in os.environ.items() if k != "LISTEN_FDS"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().split()
    assert lines[:2] == ["1", "1"]
    assert "3" in lines
    assert "socket-data" in lines
