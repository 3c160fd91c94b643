"""The command line: --version, --help, usage errors, --log/--log-format, list formats, spec.

Most tests here need no container; those that do create one with stdio in files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import one_line_error

COMMANDS = ("create", "start", "run", "state", "kill", "delete", "list", "spec")



def create(cli: Any, bundle: Any, cid: str) -> None:
    with open(bundle.path / "create.log", "wb") as log:
        rc = subprocess.run([*cli.base, "--root", str(cli.root), "create", "-b",
                             str(bundle.path), cid], stdin=subprocess.DEVNULL, stdout=log,
                            stderr=log, timeout=30, check=False).returncode
    assert rc == 0, (bundle.path / "create.log").read_text()


# ---------------------------------------------------------------------------- version, help


def test_version_first_line_and_spec_line(cli: Any) -> None:
    proc = cli("--version", check=True)
    lines = proc.stdout.decode().splitlines()
    assert re.fullmatch(r"pyruntime version \d+\.\d+\.\d+\S*", lines[0]), lines[0]
    spec = [line for line in lines if line.startswith("spec: ")]
    assert len(spec) == 1
    assert re.fullmatch(r"spec: 1\.\d+\.\d+\S*", spec[0])


def test_version_short_flag_same_output(cli: Any) -> None:
    assert cli("-v", check=True).stdout == cli("--version", check=True).stdout


def test_help_lists_every_command(cli: Any) -> None:
    out = cli("--help", check=True).stdout.decode()
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", out, re.MULTILINE), command


@pytest.mark.parametrize("command", COMMANDS)
def test_help_per_command_exits_zero_with_usage(cli: Any, command: str) -> None:
    proc = cli(command, "--help")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "USAGE" in out
    assert f"pyruntime {command}" in out


@pytest.mark.parametrize("flag", ["--bundle", "--pid-file", "--no-pivot", "--no-new-keyring",
                                  "--preserve-fds", "--console-socket"])
def test_help_create_mentions_runc_flags(cli: Any, flag: str) -> None:
    assert flag in cli("create", "--help", check=True).stdout.decode()


def test_help_short_flag_works_for_command(cli: Any) -> None:
    assert b"USAGE" in cli("kill", "-h", check=True).stdout


# ---------------------------------------------------------------------------- usage errors


def test_unknown_global_flag_fails_one_line(cli: Any) -> None:
    text = one_line_error(cli("--no-such-flag", "list"))
    assert "no-such-flag" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_command_flag_fails_one_line(cli: Any, command: str) -> None:
    text = one_line_error(cli(command, "--no-such-flag", "some-id"))
    assert "no-such-flag" in text


def test_unknown_command_fails_one_line(cli: Any) -> None:
    text = one_line_error(cli("no-such-command"))
    assert "no-such-command" in text


@pytest.mark.parametrize("argv", [["state"], ["start"], ["kill"], ["delete"], ["create"],
                                  ["state", "a", "b"]])
def test_wrong_argument_count_fails_one_line(cli: Any, argv: list[str]) -> None:
    one_line_error(cli(*argv))


def test_flag_missing_value_fails_one_line(cli: Any) -> None:
    one_line_error(cli("create", "--bundle"))


@pytest.mark.root
def test_preserve_fds_not_a_number_fails_one_line(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    cid = cli.new_id()
    text = one_line_error(cli("run", "--preserve-fds", "many", "-b", str(b.path), cid))
    assert "preserve-fds" in text
    assert not (cli.root / cid).exists()


def test_bad_log_format_fails_one_line(cli: Any) -> None:
    assert "log-format" in one_line_error(cli("list", glob=("--log-format", "yaml")))


def test_global_flags_accepted(cli: Any) -> None:
    proc = cli("list", glob=("--debug", "--systemd-cgroup", "--rootless", "false",
                             "--criu", "/usr/sbin/criu"))
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------------------- logging


def test_log_json_writes_level_msg_time_lines(cli: Any, tmp_path: Path) -> None:
    log = tmp_path / "runtime.log"
    proc = cli("state", "missing-id", glob=("--log", str(log), "--log-format", "json"))
    assert proc.returncode == 1
    lines = log.read_text().splitlines()
    assert lines, "nothing logged"
    docs = [json.loads(line) for line in lines]
    err = docs[-1]
    assert set(err) == {"level", "msg", "time"}
    assert err["level"] == "error"
    assert "missing-id" in err["msg"] and "does not exist" in err["msg"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", err["time"])
    # the error still reaches stderr, once
    assert len(proc.stderr.decode().strip().splitlines()) == 1


def test_log_text_format_is_logfmt(cli: Any, tmp_path: Path) -> None:
    log = tmp_path / "runtime.log"
    cli("state", "missing-id", glob=("--log", str(log)))
    line = log.read_text().splitlines()[-1]
    assert re.match(r'time="[^"]+" level=error msg=".*does not exist.*"', line), line


@pytest.mark.root
def test_log_json_on_create_failure(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b = make_bundle("no-such-program")
    log = tmp_path / "runtime.log"
    cid = cli.new_id()
    proc = cli("run", "-b", str(b.path), cid, glob=("--log", str(log), "--log-format", "json"))
    assert proc.returncode == 1
    err = json.loads(log.read_text().splitlines()[-1])
    assert err["level"] == "error"
    assert "executable file not found" in err["msg"]


@pytest.mark.root
def test_log_debug_lines_are_json(cli: Any, make_bundle: Any, tmp_path: Path) -> None:
    b = make_bundle("true")
    log = tmp_path / "runtime.log"
    proc = cli("run", "-b", str(b.path), cli.new_id(),
               glob=("--debug", "--log", str(log), "--log-format", "json"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""  # debug output goes to the log file only
    for line in (log.read_text().splitlines() if log.exists() else []):
        assert set(json.loads(line)) == {"level", "msg", "time"}


# ---------------------------------------------------------------------------- list


@pytest.mark.root
def test_list_table_json_quiet(cli: Any, make_bundle: Any) -> None:
    b = make_bundle("true")
    cid = cli.new_id()
    create(cli, b, cid)
    table = cli("list", check=True).stdout.decode().splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    row = table[1].split()
    assert row[0] == cid and row[2] == "created" and row[3] == os.path.realpath(b.path)
    assert row[5] == "root"
    docs = json.loads(cli("list", "--format", "json", check=True).stdout)
    assert [d["id"] for d in docs] == [cid]
    assert {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
            "owner"} <= set(docs[0])
    assert cli("list", "-q", check=True).stdout.decode() == f"{cid}\n"


def test_list_empty_root_prints_header_only(cli: Any) -> None:
    out = cli("list", check=True).stdout.decode().splitlines()
    assert len(out) == 1 and out[0].split()[0] == "ID"
    assert not json.loads(cli("list", "--format", "json", check=True).stdout)
    assert cli("list", "--quiet", check=True).stdout == b""


def test_list_bad_format_fails_one_line(cli: Any) -> None:
    one_line_error(cli("list", "--format", "xml"))


def test_list_skips_foreign_entries(cli: Any) -> None:
    (cli.root / "not-a-container").mkdir(parents=True)
    (cli.root / "stray-file").write_text("")
    proc = cli("list", "--format", "json", check=True)
    assert not json.loads(proc.stdout)


# ---------------------------------------------------------------------------- spec


def test_spec_writes_config_validate_accepts(cli: Any, tmp_path: Path) -> None:
    cli("spec", "-b", str(tmp_path), check=True)
    doc = json.loads((tmp_path / "config.json").read_text())
    assert doc["process"]["args"] == ["sh"]
    assert doc["root"]["path"] == "rootfs"
    proc = cli("validate", "-b", str(tmp_path))
    assert proc.returncode == 0, proc.stdout


def test_spec_rootless_has_user_namespace_and_mappings(cli: Any, tmp_path: Path) -> None:
    cli("spec", "--rootless", "--bundle", str(tmp_path), check=True)
    doc = json.loads((tmp_path / "config.json").read_text())
    kinds = [n["type"] for n in doc["linux"]["namespaces"]]
    assert "user" in kinds and "network" not in kinds
    assert doc["linux"]["uidMappings"] == [
        {"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert doc["linux"]["gidMappings"] == [
        {"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert "resources" not in doc["linux"]
    assert cli("validate", "-b", str(tmp_path)).returncode == 0


def test_spec_in_cwd_by_default(cli: Any, tmp_path: Path) -> None:
    cli("spec", check=True, cwd=str(tmp_path))
    assert (tmp_path / "config.json").exists()


def test_spec_refuses_to_overwrite(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    text = one_line_error(cli("spec", "-b", str(tmp_path)))
    assert "exists" in text
    assert (tmp_path / "config.json").read_text() == "{}"


def test_spec_missing_bundle_dir_fails(cli: Any, tmp_path: Path) -> None:
    one_line_error(cli("spec", "-b", str(tmp_path / "missing")))


def test_validate_reports_schema_errors(cli: Any, tmp_path: Path) -> None:
    cli("spec", "-b", str(tmp_path), check=True)
    doc = json.loads((tmp_path / "config.json").read_text())
    doc["process"]["args"] = "not-a-list"
    (tmp_path / "config.json").write_text(json.dumps(doc))
    proc = cli("validate", "-b", str(tmp_path))
    assert proc.returncode == 1
    assert b"process" in proc.stdout + proc.stderr
