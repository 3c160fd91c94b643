"""Make a small OCI bundle with a busybox rootfs (Debian's busybox-static).

Owns: the demo/test bundle: rootfs/bin/busybox plus applet links, /etc files, config.json.
Must not touch: containers (it only writes files). `python -m pyruntime.bundle DIR` makes one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


def find_busybox() -> str:
    """Path of a static busybox on the host.

    Raises:
        FileNotFoundError: busybox-static is not installed.
    """
    for path in BUSYBOX_CANDIDATES:
        if os.path.exists(path):
            return path
    raise FileNotFoundError("busybox not found: apt-get install busybox-static")


def make_rootfs(rootfs: str, busybox: str | None = None) -> None:
    """Create a busybox rootfs at `rootfs` (bin/ with every applet linked, etc/, empty dirs)."""
    busybox = busybox or find_busybox()
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root",
              "var", "run", "home"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    target = os.path.join(rootfs, "bin", "busybox")
    shutil.copy2(busybox, target)
    out = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=False)
    applets = out.stdout.split() if out.returncode == 0 else [
        f"bin/{a}" for a in subprocess.run([busybox, "--list"], capture_output=True, text=True,
                                           check=True).stdout.split()]
    for applet in applets:
        link = os.path.join(rootfs, applet)
        if os.path.lexists(link) or applet == "bin/busybox":
            continue
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("/bin/busybox", link)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        "etc/group": "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
        "etc/hostname": "pyruntime\n",
        "etc/hosts": "127.0.0.1 localhost\n",
    }
    for name, text in files.items():
        with open(os.path.join(rootfs, name), "w") as f:
            f.write(text)


def make_config(args: Sequence[str], *, terminal: bool = False, readonly: bool = False,
                hostname: str = "pyruntime") -> dict[str, Any]:
    """A config like `spec`'s default, running `args` without a terminal."""
    from pyruntime.spec.default import default_config

    config = default_config()
    config["process"]["args"] = list(args)
    config["process"]["terminal"] = terminal
    config["root"]["readonly"] = readonly
    config["hostname"] = hostname
    return config


def make_bundle(path: str, args: Sequence[str] = ("sh",), config: dict[str, Any] | None = None,
                busybox: str | None = None) -> str:
    """Create bundle `path` (rootfs + config.json); returns the path."""
    os.makedirs(path, exist_ok=True)
    make_rootfs(os.path.join(path, "rootfs"), busybox)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config or make_config(args), f, indent=2)
    return path


def main(argv: list[str] | None = None) -> int:
    """`python -m pyruntime.bundle DIR [ARGS...]`."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.stderr.write("usage: python -m pyruntime.bundle DIR [command args...]\n")
        return 1
    make_bundle(argv[0], argv[1:] or ("sh",))
    return 0


if __name__ == "__main__":
    sys.exit(main())
