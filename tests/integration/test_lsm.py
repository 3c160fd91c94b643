"""LSM requests on a host without that LSM: a clear error, nothing left behind."""

from __future__ import annotations

import os
from typing import Any

import pytest

from pyruntime.lsm import apparmor_enabled, selinux_enabled


def _run(cli: Any, bundle: Any) -> Any:
    cid = cli.new_id()
    proc = cli("run", "--bundle", str(bundle.path), cid)
    return cid, proc


@pytest.mark.root
@pytest.mark.skipif(apparmor_enabled(), reason="AppArmor is enabled here")
def test_lsm_apparmor_profile_without_apparmor_fails_clearly(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    b.config["process"]["apparmorProfile"] = "docker-default"
    b.write()
    cid, proc = _run(cli, b)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "AppArmor is not enabled" in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(os.path.join(cli.root, cid))


@pytest.mark.root
@pytest.mark.skipif(selinux_enabled(), reason="SELinux is enabled here")
def test_lsm_selinux_label_without_selinux_fails_clearly(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    b.config["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0"
    b.write()
    cid, proc = _run(cli, b)
    assert proc.returncode == 1
    assert "SELinux is not enabled" in proc.stderr.decode()
    assert not os.path.exists(os.path.join(cli.root, cid))


@pytest.mark.root
@pytest.mark.skipif(selinux_enabled(), reason="SELinux is enabled here")
def test_lsm_mount_label_without_selinux_only_warns(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("echo", "ran")
    b.config["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0"
    b.write()
    _cid, proc = _run(cli, b)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"ran\n"
    assert b"mountLabel ignored" in proc.stderr
