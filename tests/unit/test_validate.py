"""Unit tests of pyruntime.spec.validate, compile_schema and fullcheck."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pyruntime.errors import SpecError
from pyruntime.spec import compile_schema, fullcheck, validate
from pyruntime.spec.validate import (
    check_process_semantics,
    check_semantics,
    validate_config,
    validate_process,
    validate_resources,
    validate_state,
)

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "contract-examples"
REPO = Path(__file__).resolve().parents[2]

# Kind of each example file, from its second suffix.
_KINDS = {
    "config": "config",
    "process": "process",
    "resources": "resources",
    "stdin": "state",
    "output": "features",
}


def _examples(kind: str) -> list[Path]:
    if not EXAMPLES.is_dir():
        return []
    return sorted(p for p in EXAMPLES.glob("*.json") if _KINDS.get(p.suffixes[-2][1:]) == kind)


def _params(kind: str) -> list[Any]:
    return [pytest.param(p, id=p.name) for p in _examples(kind)]


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def _minimal() -> dict[str, Any]:
    return {
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "process": {"args": ["sh"], "cwd": "/"},
        "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]},
    }


def _error(fn: Any, doc: Any) -> tuple[str, str]:
    with pytest.raises(SpecError) as info:
        fn(doc)
    err: SpecError = info.value
    return err.path, err.message


# ---------------------------------------------------------------- examples


@pytest.mark.parametrize("path", _params("config"))
def test_validate_config_docker_ctr_example_valid(path: Path) -> None:
    doc = _load(path)
    validate_config(doc)
    check_semantics(doc)
    assert fullcheck.full_report(doc) == []


@pytest.mark.parametrize("path", _params("process"))
def test_validate_process_exec_example_valid(path: Path) -> None:
    doc = _load(path)
    validate_process(doc)
    check_process_semantics(doc)
    assert fullcheck.full_report(doc, "process") == []


@pytest.mark.parametrize("path", _params("resources"))
def test_validate_resources_update_example_valid(path: Path) -> None:
    doc = _load(path)
    validate_resources(doc)
    assert fullcheck.full_report(doc, "resources") == []


@pytest.mark.parametrize("path", _params("state"))
def test_validate_state_hook_stdin_example_valid(path: Path) -> None:
    doc = _load(path)
    validate_state(doc)
    assert fullcheck.full_report(doc, "state") == []


def test_examples_directory_has_samples() -> None:
    if not EXAMPLES.is_dir():
        pytest.skip("no contract examples on this machine")
    assert len(_examples("config")) >= 10


# ---------------------------------------------------------------- paths and messages


def test_validate_config_minimal_valid() -> None:
    validate_config(_minimal())
    check_semantics(_minimal())


@pytest.mark.parametrize("version", ["1.0.0", "1.0.1", "1.0.2-dev", "1.1.0", "1.2.0", "1.2.1",
                                     "1.3.0", "1.3.0+dev"])
def test_validate_config_oci_versions_1_0_to_1_3_valid(version: str) -> None:
    doc = _minimal()
    doc["ociVersion"] = version
    validate_config(doc)
    check_semantics(doc)


def test_validate_config_root_not_object_error() -> None:
    assert _error(validate_config, []) == ("", "config must be an object")
    assert str(pytest.raises(SpecError, validate_config, "x").value) == "config must be an object"


def test_validate_config_missing_oci_version_required() -> None:
    doc = _minimal()
    del doc["ociVersion"]
    assert _error(validate_config, doc) == ("ociVersion", "is required")


def test_validate_config_args_string_must_be_list() -> None:
    doc = _minimal()
    doc["process"]["args"] = "sh -c true"
    assert _error(validate_config, doc) == ("process.args", "must be a list")


def test_validate_config_args_item_number_must_be_string() -> None:
    doc = _minimal()
    doc["process"]["args"] = ["sh", 3]
    assert _error(validate_config, doc) == ("process.args[1]", "must be a string")


def test_validate_config_mount_without_destination_required() -> None:
    doc = _minimal()
    doc["mounts"] = [{"destination": "/a"}, {"destination": "/b"}, {"source": "x"}]
    assert _error(validate_config, doc) == ("mounts[2].destination", "is required")


def test_validate_config_bad_namespace_type_enum() -> None:
    doc = _minimal()
    doc["linux"]["namespaces"][0]["type"] = "bogus"
    path, msg = _error(validate_config, doc)
    assert path == "linux.namespaces[0].type"
    assert msg.startswith("must be one of: mount, pid, network, uts, ipc, user, cgroup, time")


def test_validate_config_rlimit_type_pattern_mismatch() -> None:
    doc = _minimal()
    doc["process"]["rlimits"] = [{"type": "nofile", "soft": 1, "hard": 1}]
    assert _error(validate_config, doc) == (
        "process.rlimits[0].type", "does not match pattern ^RLIMIT_[A-Z]+$")


def test_validate_config_negative_uid_minimum() -> None:
    doc = _minimal()
    doc["process"]["user"] = {"uid": -1, "gid": 0}
    assert _error(validate_config, doc) == ("process.user.uid", "must be >= 0")


def test_validate_config_huge_gid_maximum() -> None:
    doc = _minimal()
    doc["process"]["user"] = {"uid": 0, "gid": 2**32}
    assert _error(validate_config, doc) == ("process.user.gid", "must be <= 4294967295")


@pytest.mark.parametrize("value", [True, 1.0, "1", None])
def test_validate_config_non_integer_uid_must_be_integer(value: object) -> None:
    doc = _minimal()
    doc["process"]["user"] = {"uid": value, "gid": 0}
    assert _error(validate_config, doc) == ("process.user.uid", "must be an integer")


def test_validate_config_string_terminal_must_be_boolean() -> None:
    doc = _minimal()
    doc["process"]["terminal"] = "true"
    assert _error(validate_config, doc) == ("process.terminal", "must be a boolean")


def test_validate_config_dotted_annotation_key_quoted_in_path() -> None:
    doc = _minimal()
    doc["annotations"] = {"com.example.key": 1}
    assert _error(validate_config, doc) == ('annotations["com.example.key"]', "must be a string")


def test_validate_config_control_char_key_escaped_in_path() -> None:
    doc = _minimal()
    doc["linux"]["resources"] = {"rdma": {"a\nb\ud800": {"hcaObjects": "x"}}}
    path, _ = _error(validate_config, doc)
    assert path == 'linux.resources.rdma["a\\nb\\ud800"].hcaObjects'


def test_validate_config_newline_annotation_key_not_checked() -> None:
    # ".{1,}" cannot match "\n", so draft 4 (and jsonschema) puts no rule on that value.
    doc = _minimal()
    doc["annotations"] = {"\n": 1, "": 2}
    validate_config(doc)
    assert fullcheck.full_report(doc) == []


def test_validate_config_rdma_additional_properties_checked() -> None:
    doc = _minimal()
    doc["linux"]["resources"] = {"rdma": {"mlx5_1": {"hcaHandles": -3}}}
    assert _error(validate_config, doc) == (
        "linux.resources.rdma.mlx5_1.hcaHandles", "must be >= 0")


def test_validate_config_empty_syscall_names_min_items() -> None:
    doc = _minimal()
    doc["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}],
    }
    assert _error(validate_config, doc) == (
        "linux.seccomp.syscalls[0].names", "must have at least 1 item")


def test_validate_config_blkio_weight_device_all_of_checked() -> None:
    doc = _minimal()
    doc["linux"]["resources"] = {"blockIO": {"weightDevice": [{"major": 8, "minor": 0,
                                                                "weight": "x"}]}}
    assert _error(validate_config, doc) == (
        "linux.resources.blockIO.weightDevice[0].weight", "must be an integer")
    doc["linux"]["resources"]["blockIO"]["weightDevice"][0] = {"minor": 0}
    assert _error(validate_config, doc) == (
        "linux.resources.blockIO.weightDevice[0].major", "is required")


def test_validate_config_first_error_only_reported() -> None:
    doc = _minimal()
    doc["hostname"] = 1
    doc["domainname"] = 2
    assert _error(validate_config, doc) == ("hostname", "must be a string")


def test_validate_config_personality_ignores_sibling_type() -> None:
    # Draft 4 ignores keywords next to $ref; only Personality applies.
    doc = _minimal()
    doc["linux"]["personality"] = {"domain": "LINUX32"}
    validate_config(doc)
    doc["linux"]["personality"] = {"domain": "LINUX64"}
    assert _error(validate_config, doc)[0] == "linux.personality.domain"


def test_validate_config_error_str_has_path_and_message() -> None:
    doc = _minimal()
    doc["process"]["cwd"] = 5
    with pytest.raises(SpecError, match=r"^process\.cwd: must be a string$"):
        validate_config(doc)


def test_validate_config_doc_unchanged() -> None:
    doc = _load(_examples("config")[0]) if _examples("config") else _minimal()
    before = copy.deepcopy(doc)
    validate_config(doc)
    assert doc == before


def test_validate_process_missing_cwd_relative_path() -> None:
    assert _error(validate_process, {"args": ["sh"]}) == ("cwd", "is required")
    assert _error(validate_process, 3) == ("", "process must be an object")


def test_validate_resources_string_limit_relative_path() -> None:
    doc = {"memory": {"limit": "32m"}}
    assert _error(validate_resources, doc) == ("memory.limit", "must be an integer")


def test_validate_resources_pids_without_limit_required() -> None:
    assert _error(validate_resources, {"pids": {}}) == ("pids.limit", "is required")


def test_check_object_additional_false_not_allowed() -> None:
    # The vendored schema never forbids extra keys, but the interpreter supports it.
    with pytest.raises(validate._Invalid) as info:
        validate._check_object(({"a": 1}, (), False), {"a": "x", "b": 1})
    err: validate._Invalid = info.value
    assert err.parts == ["b"]
    assert err.message == "is not allowed"


# ---------------------------------------------------------------- semantics


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [
        (lambda d: d.update(ociVersion="1.0"), "ociVersion", "'1.0' is not a SemVer 2.0.0 version"),
        (lambda d: d.update(ociVersion="2.0.0"), "ociVersion",
         "unsupported major version 2 (want 1.x)"),
        (lambda d: d.pop("root"), "root", "is required"),
        (lambda d: d["process"].update(args=[]), "process.args", "must not be empty"),
        (lambda d: d["process"].pop("args"), "process.args", "must not be empty"),
        (lambda d: d["process"].update(cwd="tmp"), "process.cwd", "must be an absolute path"),
        (lambda d: d["process"].update(rlimits=[{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]),
         "process.rlimits[0].type", "unknown rlimit RLIMIT_FOO"),
        (lambda d: d["process"].update(
            rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}] * 2),
         "process.rlimits[1].type", "duplicate rlimit RLIMIT_NOFILE"),
        (lambda d: d["linux"]["namespaces"].append({"type": "pid"}),
         "linux.namespaces[2].type", "duplicate namespace pid"),
        (lambda d: d["linux"]["namespaces"].append({"type": "net", "path": "x"}), None, None),
        (lambda d: d["linux"]["namespaces"].append({"type": "network", "path": "proc/1/ns/net"}),
         "linux.namespaces[2].path", "must be an absolute path"),
        (lambda d: d["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]),
         "linux.uidMappings", "requires a user namespace"),
        (lambda d: d.update(hostname="box"), "hostname", "requires a uts namespace"),
        (lambda d: d.update(hooks={"prestart": [{"path": "hook"}]}),
         "hooks.prestart[0].path", "must be an absolute path"),
        (lambda d: d["linux"].update(devices=[{"path": "/dev/x", "type": "c", "major": 1}]),
         "linux.devices[0].minor", "is required"),
        (lambda d: d["linux"].update(devices=[{"path": "dev/x", "type": "p"}]),
         "linux.devices[0].path", "must be an absolute path"),
    ],
)
def test_check_semantics_rule_broken_error(mutate: Any, path: str | None, message: str) -> None:
    doc = _minimal()
    mutate(doc)
    if path is None:
        # Schema error, not a semantic one: the checks are separate.
        with pytest.raises(SpecError):
            validate_config(doc)
        return
    validate_config(doc)
    assert _error(check_semantics, doc) == (path, message)


def test_check_semantics_fifo_device_without_numbers_valid() -> None:
    doc = _minimal()
    doc["linux"]["devices"] = [{"path": "/dev/fifo", "type": "p"}]
    doc["linux"]["namespaces"].append({"type": "uts"})
    doc["hostname"] = "box"
    check_semantics(doc)


def test_check_process_semantics_exec_relative_paths() -> None:
    doc = {"args": [], "cwd": "/"}
    assert _error(check_process_semantics, doc) == ("args", "must not be empty")


# ---------------------------------------------------------------- generated table


def test_compiled_table_in_sync_with_schema_files() -> None:
    text = (compile_schema.SCHEMA_DIR / "compiled.py").read_text(encoding="utf-8")
    assert compile_schema.render() == text, "run: python -m pyruntime.spec.compile_schema"
    assert compile_schema.main(["--check"]) == 0


def test_compile_schema_unknown_keyword_refused(tmp_path: Path) -> None:
    for name in ("config-schema.json", "config-linux.json", "state-schema.json",
                 "features-schema.json"):
        (tmp_path / name).write_text('{"linux": {}, "properties": {"process": {}}}')
    (tmp_path / "config-schema.json").write_text(
        '{"properties": {"process": {"uniqueItems": true}}}')
    with pytest.raises(compile_schema.SchemaCompileError, match="uniqueItems"):
        compile_schema.render(tmp_path)


def test_vendored_schema_files_present() -> None:
    names = {p.name for p in compile_schema.SCHEMA_DIR.glob("*.json")}
    assert {"config-schema.json", "config-linux.json", "defs.json", "defs-linux.json",
            "state-schema.json", "features-schema.json", "features-linux.json"} <= names


# ---------------------------------------------------------------- hot path


def test_validate_import_never_loads_jsonschema() -> None:
    code = (
        "import sys, json\n"
        "from pyruntime.spec.validate import validate_config, check_semantics\n"
        "d = {'ociVersion': '1.0.2', 'root': {'path': 'r'},\n"
        "     'process': {'args': ['a'], 'cwd': '/'}}\n"
        "validate_config(d); check_semantics(d)\n"
        "heavy = ('jsonschema', 'referencing', 'typing')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in heavy]\n"
        "print(bad)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-S", "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_validate_config_typical_docker_config_fast() -> None:
    paths = _examples("config")
    doc = _load(paths[0]) if paths else _minimal()
    validate_config(doc)
    runs = 50
    start = time.perf_counter()
    for _ in range(runs):
        validate_config(doc)
    per_run = (time.perf_counter() - start) / runs
    assert per_run < 0.005


# ---------------------------------------------------------------- fullcheck


def test_full_report_lists_every_error() -> None:
    doc = {"ociVersion": 1, "process": {"args": "x"}, "mounts": [{}]}
    report = fullcheck.full_report(doc)
    assert "ociVersion: 1 is not of type 'string'" in report
    assert "process: 'cwd' is a required property" in report
    assert "process.args: 'x' is not of type 'array'" in report
    assert "mounts[0]: 'destination' is a required property" in report


def test_full_report_unknown_kind_key_error() -> None:
    with pytest.raises(KeyError):
        fullcheck.full_report({}, "bogus")
