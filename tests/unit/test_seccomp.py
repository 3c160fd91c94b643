"""Unit tests of pyruntime.seccomp: name mapping, validation, flags, features and the cache.

No filter is loaded here (tests/integration/test_seccomp_filter.py does that); these only need
the compiled libseccomp binding.
"""

from __future__ import annotations

import copy
import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pyruntime._libseccomp")

from pyruntime import seccomp  # noqa: E402
from pyruntime.errors import SpecError  # noqa: E402
from pyruntime.seccomp import compile_filter  # noqa: E402

SCHEMA_DIR = Path(seccomp.__file__).resolve().parent / "spec" / "schema"
REPO = Path(__file__).resolve().parents[2]


def _lib() -> Any:
    return seccomp._binding().lib


def _base(**extra: Any) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}],
    }
    profile.update(extra)
    return profile


def _spec_error(profile: Any) -> SpecError:
    try:
        compile_filter(profile, no_new_privs=True)
    except SpecError as e:
        return e
    raise AssertionError(f"no SpecError for {profile!r}")


# --- tables ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "definition"),
    [
        (seccomp.ACTIONS, "SeccompAction"),
        (seccomp.OPERATORS, "SeccompOperators"),
        (seccomp.ARCHS, "SeccompArch"),
        (seccomp.KNOWN_FLAGS, "SeccompFlag"),
    ],
)
def test_tables_vendored_schema_enums_match(table: tuple[str, ...], definition: str) -> None:
    defs = json.loads((SCHEMA_DIR / "defs-linux.json").read_text())["definitions"]
    assert sorted(table) == sorted(defs[definition]["enum"])


def test_action_value_kill_is_kill_thread() -> None:
    lib = _lib()
    assert seccomp.action_value("SCMP_ACT_KILL", None) == lib.SCMP_ACT_KILL_THREAD
    assert seccomp.action_value("SCMP_ACT_KILL_PROCESS", None) == lib.SCMP_ACT_KILL_PROCESS
    assert seccomp.action_value("SCMP_ACT_NOTIFY", None) == lib.SCMP_ACT_NOTIFY


def test_action_value_errno_without_code_is_eperm() -> None:
    assert seccomp.action_value("SCMP_ACT_ERRNO", None) == _lib().pyrt_scmp_act_errno(errno.EPERM)
    assert seccomp.action_value("SCMP_ACT_ERRNO", 42) & 0xFFFF == 42
    assert seccomp.action_value("SCMP_ACT_TRACE", None) & 0xFFFF == errno.EPERM
    assert seccomp.action_value("SCMP_ACT_TRACE", 7) == _lib().pyrt_scmp_act_trace(7)


def test_arch_token_spec_names_resolve_natively() -> None:
    assert seccomp.arch_token("SCMP_ARCH_X86_64") == 0xC000003E
    assert seccomp.arch_token("SCMP_ARCH_MIPSEL64N32") != 0


def test_conditions_same_index_split_into_separate_rules() -> None:
    a = seccomp._Arg(0, "SCMP_CMP_EQ", 1, 0)
    b = seccomp._Arg(0, "SCMP_CMP_EQ", 2, 0)
    c = seccomp._Arg(1, "SCMP_CMP_EQ", 3, 0)
    assert seccomp._conditions(()) == [()]
    assert seccomp._conditions((a, c)) == [(a, c)]
    assert seccomp._conditions((a, b, c)) == [(a,), (b,), (c,)]


# --- validation ------------------------------------------------------------------------------


def test_compile_missing_default_action_error_names_path() -> None:
    err = _spec_error({"syscalls": []})
    assert err.path == "linux.seccomp.defaultAction"


def test_compile_not_an_object_raises_spec_error() -> None:
    assert _spec_error(["SCMP_ACT_ALLOW"]).path == "linux.seccomp"


def test_compile_unknown_action_error_names_index() -> None:
    profile = _base()
    profile["syscalls"] = [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}] * 3 + [
        {"names": ["read"], "action": "SCMP_ACT_EXPLODE"}
    ]
    err = _spec_error(profile)
    assert err.path == "linux.seccomp.syscalls[3].action"
    assert "unknown action 'SCMP_ACT_EXPLODE'" in str(err)


@pytest.mark.parametrize(
    "action", ["SCMP_ACT_ALLOW", "SCMP_ACT_KILL", "SCMP_ACT_LOG", "SCMP_ACT_TRAP"]
)
def test_compile_errno_ret_on_action_without_errno_fails(action: str) -> None:
    err = _spec_error(_base(syscalls=[{"names": ["read"], "action": action, "errnoRet": 1}]))
    assert err.path == "linux.seccomp.syscalls[0].errnoRet"
    err = _spec_error({"defaultAction": action, "defaultErrnoRet": 1})
    assert err.path == "linux.seccomp.defaultErrnoRet"


@pytest.mark.parametrize("value", [-1, 65536, "1", 1.5, True])
def test_compile_errno_ret_out_of_range_fails(value: object) -> None:
    rule = {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": value}
    err = _spec_error(_base(syscalls=[rule]))
    assert err.path == "linux.seccomp.syscalls[0].errnoRet"


@pytest.mark.parametrize(
    ("arg", "path"),
    [
        ({"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}, "index"),
        ({"index": -1, "value": 0, "op": "SCMP_CMP_EQ"}, "index"),
        ({"index": 0, "value": 0, "op": "SCMP_CMP_SORTA"}, "op"),
        ({"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}, "value"),
        ({"index": 0, "value": 1 << 64, "op": "SCMP_CMP_EQ"}, "value"),
        ({"index": 0, "value": 1, "valueTwo": "x", "op": "SCMP_CMP_MASKED_EQ"}, "valueTwo"),
    ],
)
def test_compile_bad_argument_error_names_field(arg: dict[str, Any], path: str) -> None:
    good = {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}
    rule = {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [good, arg]}
    err = _spec_error(_base(syscalls=[rule]))
    assert err.path == f"linux.seccomp.syscalls[0].args[1].{path}"


@pytest.mark.parametrize("names", [[], "read", None, [""], ["read", 3]])
def test_compile_bad_names_fails(names: object) -> None:
    err = _spec_error(_base(syscalls=[{"names": names, "action": "SCMP_ACT_ERRNO"}]))
    assert err.path.startswith("linux.seccomp.syscalls[0].names")


def test_compile_unknown_arch_fails() -> None:
    err = _spec_error(_base(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]))
    assert err.path == "linux.seccomp.architectures[1]"


def test_compile_arch_unknown_to_libseccomp_fails_clearly() -> None:
    missing = [a for a in seccomp.ARCHS if seccomp.arch_token(a) == 0]
    if not missing:
        pytest.skip("this libseccomp knows every spec architecture")
    err = _spec_error(_base(architectures=[missing[0]]))
    assert "not supported by libseccomp" in str(err)


def test_compile_unknown_flag_fails() -> None:
    err = _spec_error(_base(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_FAST"]))
    assert err.path == "linux.seccomp.flags[1]"


def test_compile_notify_as_default_fails() -> None:
    err = _spec_error({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"})
    assert err.path == "linux.seccomp.defaultAction"


def test_compile_notify_on_write_fails() -> None:
    rule = {"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}
    profile = _base(listenerPath="/x", syscalls=[rule])
    assert _spec_error(profile).path == "linux.seccomp.syscalls[0].action"


def test_compile_notify_without_listener_path_fails() -> None:
    profile = _base(syscalls=[{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}])
    assert _spec_error(profile).path == "linux.seccomp.listenerPath"


def test_compile_listener_metadata_without_path_fails() -> None:
    assert _spec_error(_base(listenerMetadata="m")).path == "linux.seccomp.listenerMetadata"


# --- compilation -----------------------------------------------------------------------------


def test_compile_output_is_whole_sock_filters_and_deterministic() -> None:
    one = compile_filter(_base(), no_new_privs=True)
    two = compile_filter(copy.deepcopy(_base()), no_new_privs=True)
    assert one == two
    assert one.length == len(one.bpf) // 8 > 0 and len(one.bpf) % 8 == 0


def test_compile_unknown_syscall_skipped_with_debug_log(capsys: pytest.CaptureFixture[str]) -> None:
    from pyruntime import log

    plain = compile_filter(_base(), no_new_privs=True)
    profile = _base()
    profile["syscalls"].append({"names": ["not_a_syscall_at_all"], "action": "SCMP_ACT_KILL"})
    log.setup(None, "text", True)
    try:
        skipped = compile_filter(profile, no_new_privs=True)
    finally:
        log.setup(None, "text", False)
    assert skipped.bpf == plain.bpf
    assert "not_a_syscall_at_all" in capsys.readouterr().err


def test_compile_rule_with_default_action_is_redundant_and_skipped() -> None:
    plain = compile_filter(_base(), no_new_privs=True)
    profile = _base()
    profile["syscalls"].append({"names": ["read"], "action": "SCMP_ACT_ALLOW"})
    assert compile_filter(profile, no_new_privs=True).bpf == plain.bpf


def test_compile_non_native_only_names_resolve_for_other_archs() -> None:
    # socketcall/mmap2 exist only on 32-bit x86; libseccomp maps them per architecture.
    profile: dict[str, Any] = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["read", "socketcall", "mmap2"], "action": "SCMP_ACT_ALLOW"}],
    }
    without = copy.deepcopy(profile)
    without["syscalls"][0]["names"] = ["read"]
    longer = compile_filter(profile, no_new_privs=True)
    assert longer.length > compile_filter(without, no_new_privs=True).length


def test_compile_extra_arch_grows_program_and_native_duplicate_is_fine() -> None:
    native = compile_filter(_base(architectures=["SCMP_ARCH_X86_64"]), no_new_privs=True)
    both = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    multi = compile_filter(_base(architectures=both), no_new_privs=True)
    assert multi.length > native.length


def test_compile_conflicting_rules_report_libseccomp_error() -> None:
    # The same condition with two different actions cannot be expressed (EEXIST).
    cond = [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]
    profile = _base(
        syscalls=[
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": cond},
            {"names": ["read"], "action": "SCMP_ACT_KILL", "args": cond},
        ]
    )
    err = _spec_error(profile)
    assert err.path == "linux.seccomp.syscalls[1]" and "read" in str(err)


def test_compile_no_new_privs_false_sets_before_privilege_drop() -> None:
    assert compile_filter(_base(), no_new_privs=False).before_privilege_drop
    assert not compile_filter(_base(), no_new_privs=True).before_privilege_drop


# --- flags -----------------------------------------------------------------------------------


def test_flags_absent_defaults_to_spec_allow_like_runc() -> None:
    lib = _lib()
    supported = "SECCOMP_FILTER_FLAG_SPEC_ALLOW" in seccomp.supported_flags()
    expected = lib.SECCOMP_FILTER_FLAG_SPEC_ALLOW if supported else 0
    assert compile_filter(_base(), no_new_privs=True).flags == expected


def test_flags_empty_list_means_no_flags() -> None:
    assert compile_filter(_base(flags=[]), no_new_privs=True).flags == 0


def test_flags_log_and_tsync_map_to_log_bit_only() -> None:
    prog = compile_filter(
        _base(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"]), no_new_privs=True
    )
    assert prog.flags == _lib().SECCOMP_FILTER_FLAG_LOG


def test_flags_wait_killable_recv_needs_a_listener() -> None:
    if "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" not in seccomp.supported_flags():
        pytest.skip("kernel lacks SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
    lib = _lib()
    flag = ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    assert compile_filter(_base(flags=flag), no_new_privs=True).flags == 0
    notify = _base(flags=flag, listenerPath="/run/a.sock", listenerMetadata="meta")
    notify["syscalls"].append({"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"})
    prog = compile_filter(notify, no_new_privs=True)
    assert prog.listener and prog.listener_path == "/run/a.sock"
    assert prog.listener_metadata == "meta"
    wanted = lib.SECCOMP_FILTER_FLAG_NEW_LISTENER | lib.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    assert prog.flags == wanted


# --- features --------------------------------------------------------------------------------


def test_features_validates_against_features_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMA_DIR / "features-linux.json").read_text())
    defs = json.loads((SCHEMA_DIR / "defs-linux.json").read_text())["definitions"]
    sub = copy.deepcopy(schema["linux"]["properties"]["seccomp"])
    text = json.dumps(sub).replace("defs-linux.json#/definitions/", "#/definitions/")
    sub = json.loads(text)
    sub["definitions"] = defs
    sub["additionalProperties"] = False
    jsonschema.validate(seccomp.features(), sub)


def test_features_reports_only_archs_this_libseccomp_knows() -> None:
    feats = seccomp.features()
    assert feats["enabled"] is True
    assert "SCMP_ARCH_X86_64" in feats["archs"]
    assert all(seccomp.arch_token(a) != 0 for a in feats["archs"])
    assert set(feats["supportedFlags"]) <= set(feats["knownFlags"])
    assert sorted(feats["actions"]) == sorted(seccomp.ACTIONS)


def test_features_without_binding_reports_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seccomp, "_BINDING", [])
    monkeypatch.setitem(sys.modules, "pyruntime._libseccomp", None)
    assert seccomp.features() == {"enabled": False}
    assert seccomp.features_annotations() == {}
    with pytest.raises(SpecError, match="not supported by this build"):
        compile_filter(_base(), no_new_privs=True)


def test_annotations_name_libseccomp_version() -> None:
    version = seccomp.features_annotations()["io.github.seccomp.libseccomp.version"]
    assert version.count(".") == 2


def test_import_does_not_load_libseccomp() -> None:
    code = "import sys, pyruntime.seccomp; print('pyruntime._libseccomp' in sys.modules)"
    cmd = [sys.executable, "-c", code]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


# --- cache -----------------------------------------------------------------------------------


def test_cache_hit_returns_same_filter_with_caller_fields(tmp_path: Path) -> None:
    cache = str(tmp_path / "c")
    fresh = compile_filter(_base(), no_new_privs=True, cache_dir=cache)
    assert oct(os.stat(cache).st_mode & 0o777) == "0o700"
    hit = compile_filter(_base(), no_new_privs=False, cache_dir=cache)
    assert hit.bpf == fresh.bpf and hit.flags == fresh.flags and hit.before_privilege_drop


def test_cache_world_writable_entry_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "c"
    compile_filter(_base(), no_new_privs=True, cache_dir=str(cache))
    (entry,) = cache.iterdir()
    entry.chmod(0o666)
    calls: list[int] = []
    real = seccomp._export

    def counting_export(lib: Any, ctx: Any) -> bytes:
        calls.append(1)
        return real(lib, ctx)

    monkeypatch.setattr(seccomp, "_export", counting_export)
    compile_filter(_base(), no_new_privs=True, cache_dir=str(cache))
    assert calls == [1]


def test_cache_corrupt_entry_recompiles(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    good = compile_filter(_base(), no_new_privs=True, cache_dir=str(cache))
    (entry,) = cache.iterdir()
    entry.write_bytes(entry.read_bytes()[:-3])
    assert compile_filter(_base(), no_new_privs=True, cache_dir=str(cache)) == good
    assert entry.read_bytes()[-8:] == good.bpf[-8:]


def test_cache_key_differs_per_profile_and_flags() -> None:
    keys = {
        seccomp._cache_key(_base()),
        seccomp._cache_key(_base(flags=[])),
        seccomp._cache_key(_base(defaultAction="SCMP_ACT_LOG")),
    }
    assert len(keys) == 3 and None not in keys
    assert seccomp._cache_key({"defaultAction": object()}) is None


def test_cache_invalid_profile_is_never_cached(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    with pytest.raises(SpecError):
        compile_filter({"defaultAction": "SCMP_ACT_NOPE"}, no_new_privs=True, cache_dir=str(cache))
    assert not cache.exists() or not list(cache.iterdir())


# --- property --------------------------------------------------------------------------------

_NAMES = ["read", "write", "openat", "mkdir", "getpid", "kill", "socket", "mmap2", "bogus_call"]
_ACTIONS = [a for a in seccomp.ACTIONS if a != "SCMP_ACT_NOTIFY"]
_arg = st.fixed_dictionaries(
    {
        "index": st.integers(0, 5),
        "value": st.integers(0, (1 << 64) - 1),
        "op": st.sampled_from(seccomp.OPERATORS),
    },
    optional={"valueTwo": st.integers(0, (1 << 64) - 1)},
)


@st.composite
def _rules(draw: st.DrawFn) -> dict[str, Any]:
    action = draw(st.sampled_from(_ACTIONS))
    rule: dict[str, Any] = {
        "names": [draw(st.sampled_from(_NAMES))],
        "action": action,
        "args": draw(st.lists(_arg, max_size=3)),
    }
    if action in seccomp.ERRNO_ACTIONS and draw(st.booleans()):
        rule["errnoRet"] = draw(st.integers(0, 4095))
    return rule


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    default=st.sampled_from(_ACTIONS),
    rules=st.lists(_rules(), max_size=4),
    archs=st.lists(
        st.sampled_from(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]), max_size=3
    ),
)
def test_compile_random_valid_profiles_give_program_or_rule_error(
    default: str, rules: list[dict[str, Any]], archs: list[str]
) -> None:
    profile = {"defaultAction": default, "architectures": archs, "syscalls": rules}
    try:
        prog = compile_filter(profile, no_new_privs=True)
    except SpecError as e:
        # Only libseccomp refusing a rule combination is acceptable for schema-valid input.
        assert e.path.startswith("linux.seccomp.syscalls[") and "cannot add rule" in e.message
        return
    assert prog.length == len(prog.bpf) // 8 > 0
