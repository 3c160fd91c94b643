"""CVE-2025-52565: with a terminal, the runtime bind-mounts the pty onto /dev/console; if the
container's /dev/console is a symlink (or the /dev it lives in is the container's own), the
bind follows it and lands somewhere else, e.g. on a procfs file, leaving it writable.

pyruntime opens /dev with O_NOFOLLOW|O_DIRECTORY and console with O_NOFOLLOW after
pivot_root, and moves a clone of the pty onto that fd (open_tree + move_mount): the pty ends
up on /dev/console itself, or creation is refused; the link's target is never mounted on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.security.conftest import HostGuard

pytestmark = pytest.mark.root

PTS_MAJOR = 136
SHOW = ("stat -c '%n %t' /dev/console; readlink /proc/self/fd/0; echo ==; "
        "cat /proc/self/mountinfo")


def terminal_bundle(make_bundle: Any) -> Any:
    b = make_bundle("sh", "-c", SHOW)
    b.config["process"]["terminal"] = True
    (b.rootfs / "evil").write_text("EVIL\n")
    return b.write()


def fake_dev(bundle: Any, console: str | None) -> Path:
    """Replace the /dev tmpfs with a bind of a bundle directory holding `console` (a symlink
    target; None: no console at all) and what a pty needs."""
    fake: Path = bundle.path / "fakedev"
    (fake / "pts").mkdir(parents=True)
    os.symlink("pts/ptmx", fake / "ptmx")
    if console is not None:
        os.symlink(console, fake / "console")
    mounts = bundle.config["mounts"]
    index = next(i for i, m in enumerate(mounts) if m["destination"] == "/dev")
    mounts[index] = {"destination": "/dev", "type": "bind", "source": str(fake),
                     "options": ["rbind"]}
    bundle.write()
    return fake


def run_terminal(cli: Any, bundle: Any, console_socket: Any) -> tuple[int, str, str]:
    proc = cli("run", "--console-socket", console_socket.path, "-b", str(bundle.path),
               cli.new_id())
    text = console_socket.text() if proc.returncode == 0 else ""
    return proc.returncode, text, proc.stderr.decode().strip()


def check_console(text: str) -> None:
    shown, _, mountinfo = text.partition("==")
    lines = shown.split("\n")
    assert lines[0].split() == ["/dev/console", format(PTS_MAJOR, "x")], shown
    assert lines[1].startswith("/dev/pts/"), shown
    points = [line.split()[4] for line in mountinfo.strip().splitlines() if len(line.split()) > 4]
    assert "/dev/console" in points
    assert "/evil" not in points and not any(p.startswith("/proc/sys/kernel/") for p in points)


def test_console_symlink_in_image_hidden_pty_on_dev_console(cli: Any, make_bundle: Any,
                                                             console_socket: Any) -> None:
    b = terminal_bundle(make_bundle)
    os.symlink("/evil", b.rootfs / "dev" / "console")
    guard = HostGuard(b.rootfs / "evil")
    code, text, err = run_terminal(cli, b, console_socket)
    assert code == 0, err
    check_console(text)
    guard.assert_untouched()


@pytest.mark.parametrize("target", ["/evil", "../evil", "/proc/sys/kernel/core_pattern",
                                    "host-file"])
def test_console_symlink_in_container_dev_never_followed(cli: Any, make_bundle: Any,
                                                          console_socket: Any, tmp_path: Path,
                                                          target: str) -> None:
    host_file = tmp_path / "host-file"
    host_file.write_text("host\n")
    b = terminal_bundle(make_bundle)
    fake = fake_dev(b, str(host_file) if target == "host-file" else target)
    with open("/proc/sys/kernel/core_pattern") as f:
        core_pattern = f.read()
    guard = HostGuard(b.rootfs / "evil", host_file)
    code, text, err = run_terminal(cli, b, console_socket)
    print(f"exit {code}: {err}")
    if code == 0:
        check_console(text)
    else:
        assert "Traceback" not in err and len(err.splitlines()) == 1, err
    guard.assert_untouched()
    assert os.path.islink(fake / "console")
    with open("/proc/sys/kernel/core_pattern") as f:
        assert f.read() == core_pattern


def test_console_missing_in_container_dev_created_there(cli: Any, make_bundle: Any,
                                                         console_socket: Any) -> None:
    b = terminal_bundle(make_bundle)
    fake = fake_dev(b, None)
    code, text, err = run_terminal(cli, b, console_socket)
    assert code == 0, err
    check_console(text)
    assert (fake / "console").is_file()  # the empty mount point, inside the bind source
