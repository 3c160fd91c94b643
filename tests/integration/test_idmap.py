"""Idmapped bind mounts (mount uidMappings/gidMappings, idmap/ridmap options)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def _bundle(make_bundle: Any, src: Path, options: list[str], maps: bool = True) -> Any:
    b = make_bundle("sh", "-c", "ls -ln /mnt/id | tail -n +2; grep ' /mnt/id ' /proc/self/mountinfo")
    mount: dict[str, Any] = {"destination": "/mnt/id", "type": "bind", "source": str(src),
                             "options": options}
    if maps:
        mount["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
        mount["gidMappings"] = [{"containerID": 0, "hostID": 2000, "size": 1}]
    b.config["mounts"].append(mount)
    return b.write()


@pytest.mark.root
def test_idmap_mount_shows_mapped_owner(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    b = _bundle(make_bundle, src, ["rbind"])
    proc = cli("run", "--bundle", str(b.path), cli.new_id())
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    fields = out.splitlines()[0].split()
    assert (fields[2], fields[3]) == ("1000", "2000"), out
    assert "idmapped" in out
    assert (src / "f").stat().st_uid == 0  # the files themselves are untouched


@pytest.mark.root
def test_idmap_option_without_mappings_or_userns_fails(cli: Any, make_bundle: Any,
                                                        tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    b = _bundle(make_bundle, src, ["rbind", "idmap"], maps=False)
    proc = cli("run", "--bundle", str(b.path), cli.new_id())
    assert proc.returncode == 1
    assert b"idmap needs mappings or a user namespace" in proc.stderr
