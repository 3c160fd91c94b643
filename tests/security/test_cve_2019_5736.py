"""CVE-2019-5736: a container process reaches the runtime's own binary through /proc/PID/exe
of a runtime process that has entered the container, and overwrites it on the host.

For pyruntime that binary is the host's python. Every runtime call here runs on a private
copy of the interpreter (`copy_cli`), so the only binary an attack could damage is that copy;
its checksum is the evidence.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Any

import pytest

from tests.security.conftest import detached, drive, file_digest

pytestmark = pytest.mark.root

# Looks at every process it can see; reports the ones whose exe is readable and is not the
# container's busybox (LEAK), and the ones it may not look at (DENIED, with their comm).
WATCHER = """#!/bin/sh
while :; do
  for d in /proc/[0-9]*; do
    [ "$d" = "/proc/$$" ] && continue
    if t=$(readlink "$d/exe" 2>/dev/null); then
      [ "$t" = /bin/busybox ] || echo "LEAK $d $t" >> /tmp/result
      if [ "$t" != /bin/busybox ] && exec 3<"$d/exe"; then
        echo "OPENED $d" >> /tmp/result
        echo pwned >> "$d/exe" 2>/dev/null && echo "WROTE $d" >> /tmp/result
        exec 3<&-
      fi
    else
      c=$(cat "$d/comm" 2>/dev/null) && echo "DENIED $d $c" >> /tmp/result
    fi
  done
done
"""


def watcher_bundle(make_bundle: Any) -> Any:
    b = make_bundle("/watch.sh")
    script = b.rootfs / "watch.sh"
    script.write_text(WATCHER)
    script.chmod(0o755)
    return b


def results(bundle: Any) -> list[str]:
    path = bundle.rootfs / "tmp" / "result"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.slow
def test_exec_child_exe_race_never_readable(copy_cli: Any, make_bundle: Any) -> None:
    """While a container process scans /proc, many `exec`s come and go: none of the runtime
    processes joining the container ever shows its exe."""
    before = file_digest(copy_cli.python)
    b = watcher_bundle(make_bundle)
    cid = copy_cli.new_id()
    detached(copy_cli, "run", "-d", "-b", str(b.path), cid)

    def one_exec() -> None:
        copy_cli("exec", cid, "true", check=True)

    rounds = drive(one_exec, seconds=8, max_rounds=40)
    copy_cli("kill", cid, "KILL")
    assert rounds >= 5
    lines = results(b)
    assert not [x for x in lines if not x.startswith("DENIED")], lines
    assert file_digest(copy_cli.python) == before


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_exec_child_non_dumpable_while_joining(copy_cli: Any, make_bundle: Any) -> None:
    """strace holds the exec child at its execve for a second: it is in the container's
    namespaces with the container's credentials and caps, and still the container process
    (same uid, same caps) may not read its /proc/PID/exe: it is non-dumpable."""
    before = file_digest(copy_cli.python)
    b = watcher_bundle(make_bundle)
    cid = copy_cli.new_id()
    detached(copy_cli, "run", "-d", "-b", str(b.path), cid)
    time.sleep(0.2)
    cmd = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=execve",
           "-e", "inject=execve:delay_enter=1000000",
           *copy_cli.base, "--root", str(copy_cli.root), "exec", cid, "true"]
    proc = subprocess.run(cmd, capture_output=True, timeout=60, env=copy_cli.env)
    copy_cli("kill", cid, "KILL")
    assert proc.returncode == 0, proc.stderr
    lines = results(b)
    assert not [x for x in lines if not x.startswith("DENIED")], lines
    # the watcher did see the held exec child (comm = the interpreter copy's name)
    assert any(x.endswith(" " + copy_cli.python.name) for x in lines), lines[:20]
    assert file_digest(copy_cli.python) == before


# Holds the init's exe open while the container is only created, then (after `start`)
# reopens it for writing through /proc/self/fd: the CVE-2019-5736 payload.
HOLDER = """if ! (exec 3</proc/1/exe) 2>/dev/null; then echo closed > /tmp/r; exit 0; fi
exec 3</proc/1/exe
echo opened > /tmp/r
while [ ! -e /tmp/go ]; do usleep 20000; done
if echo pwned >> /proc/self/fd/3; then echo wrote >> /tmp/r; else echo refused >> /tmp/r; fi
"""


def test_created_init_exe_not_reachable_from_exec(copy_cli: Any, make_bundle: Any) -> None:
    """`exec` into a created (not started) container: its init is still the runtime's
    interpreter; a process of the container must not be able to open it."""
    before = file_digest(copy_cli.python)
    b = make_bundle("sleep", "30")
    cid = copy_cli.new_id()
    detached(copy_cli, "create", "-b", str(b.path), cid)
    assert os.readlink(f"/proc/{copy_cli.state(cid)['pid']}/exe") == str(copy_cli.python)
    detached(copy_cli, "exec", "-d", cid, "sh", "-c", HOLDER)
    r = b.rootfs / "tmp" / "r"

    def said() -> list[str]:
        return r.read_text().split() if r.exists() else []

    deadline = time.monotonic() + 5
    while not said() and time.monotonic() < deadline:
        time.sleep(0.02)
    copy_cli("start", cid, check=True)
    # nothing runs the copy any more: the write is no longer refused as ETXTBSY
    (b.rootfs / "tmp" / "go").touch()
    deadline = time.monotonic() + 5
    while len(said()) < 2 and "closed" not in said() and time.monotonic() < deadline:
        time.sleep(0.02)
    copy_cli("kill", cid, "KILL")
    damaged = file_digest(copy_cli.python) != before
    assert said()[:1] == ["closed"], (said(), f"copy damaged: {damaged}")
    assert not damaged
