"""CVE-2025-31133: maskedPaths are covered by bind-mounting /dev/null; if the container's
/dev/null is a symlink (to a procfs file such as core_pattern) or a regular file, the runtime
bind-mounts the wrong thing, e.g. a writable host procfs file, over the masked path.

pyruntime masks with the host's /dev/null, opened and checked (char 1:3) before any
container step. The container's /dev here comes from a bundle directory (a bind mount
replacing the default tmpfs), so its `null` is whatever the test puts there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.security.conftest import HostGuard, run_ok

pytestmark = pytest.mark.root

MASKED = ["/proc/keys", "/proc/timer_list", "/etc/masked-file", "/etc/masked-dir"]
CHECK = ("for p in /proc/keys /proc/timer_list /etc/masked-file; do "
         "stat -c '%n %t:%T %F' $p; cat $p; done; ls -a /etc/masked-dir; echo ==; "
         "cat /proc/self/mountinfo")


def devnull_fstype() -> str:
    """Filesystem type of the mount holding the host's /dev/null."""
    best = ("", "")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            point = left.split()[4]
            if ("/dev/null" + "/").startswith(point.rstrip("/") + "/") and len(point) >= len(
                    best[0]):
                best = (point, right.split()[0])
    return best[1]


def fake_dev_bundle(make_bundle: Any, tmp_path: Path, null: str) -> tuple[Any, Path]:
    """A bundle whose /dev is a bind of a bundle directory with `null` as asked:
    'symlink:<target>', 'file' or 'missing'."""
    b = make_bundle("sh", "-c", CHECK)
    fake = b.path / "fakedev"
    fake.mkdir()
    if null.startswith("symlink:"):
        os.symlink(null.split(":", 1)[1], fake / "null")
    elif null == "file":
        (fake / "null").write_text("FAKE-NULL\n")
    (b.rootfs / "evil").write_text("EVIL\n")
    (b.rootfs / "etc" / "masked-file").write_text("MASKED-CONTENT\n")
    (b.rootfs / "etc" / "masked-dir").mkdir()
    (b.rootfs / "etc" / "masked-dir" / "inside").write_text("x\n")
    b.config["mounts"] = [m for m in b.config["mounts"]
                          if not m["destination"].startswith("/dev")]
    b.config["mounts"].insert(1, {"destination": "/dev", "type": "bind", "source": str(fake),
                                  "options": ["rbind"]})
    b.config["linux"]["maskedPaths"] = list(MASKED)
    b.write()
    return b, fake


def check_masked(out: str) -> None:
    text, _, mountinfo = out.partition("==")
    assert "EVIL" not in text and "FAKE-NULL" not in text and "MASKED-CONTENT" not in text
    for path in ("/proc/keys", "/proc/timer_list", "/etc/masked-file"):
        assert f"{path} 1:3 character special file" in text, text
    assert "inside" not in text  # the masked directory is an empty read-only tmpfs
    fstype = devnull_fstype()
    seen = set()
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] in MASKED[:3]:
            seen.add(fields[4])
            assert fields[3] == "/null", line  # the root of the mount: a file named null ...
            assert line.partition(" - ")[2].split()[0] == fstype, line  # ... on the host's /dev
    assert seen == set(MASKED[:3]), mountinfo


@pytest.mark.parametrize("null", ["symlink:/evil", "symlink:/proc/sys/kernel/core_pattern",
                                  "symlink:../evil", "file", "missing"])
def test_masked_paths_container_dev_null_replaced_use_host_dev_null(
        cli: Any, make_bundle: Any, tmp_path: Path, null: str) -> None:
    with open("/proc/sys/kernel/core_pattern") as f:
        core_pattern = f.read()
    b, fake = fake_dev_bundle(make_bundle, tmp_path, null)
    guard = HostGuard(fake, b.rootfs / "evil", b.rootfs / "etc")
    check_masked(run_ok(cli, b))
    guard.assert_untouched()
    with open("/proc/sys/kernel/core_pattern") as f:
        assert f.read() == core_pattern


def test_masked_path_itself_a_symlink_target_not_masked(cli: Any, make_bundle: Any) -> None:
    """A masked path that is a symlink is not followed: what it points to stays as it is
    (or the runtime refuses); nothing outside the rootfs is touched."""
    b = make_bundle("sh", "-c", "cat /etc/target; ls /proc/sys/kernel/ | head -3")
    (b.rootfs / "etc" / "target").write_text("TARGET-CONTENT\n")
    os.symlink("/etc/target", b.rootfs / "etc" / "link")
    os.symlink("/proc/sys/kernel", b.rootfs / "etc" / "proclink")
    b.config["linux"]["maskedPaths"] = ["/etc/link", "/etc/proclink"]
    b.write()
    guard = HostGuard(b.rootfs / "etc")
    proc = cli("run", "-b", str(b.path), cli.new_id())
    if proc.returncode == 0:
        out = proc.stdout.decode()
        assert "TARGET-CONTENT" in out
        assert len(out.splitlines()) == 4  # /proc/sys/kernel is not hidden either
    else:
        err = proc.stderr.decode().strip()
        assert "Traceback" not in err and len(err.splitlines()) == 1, err
    guard.assert_untouched()
