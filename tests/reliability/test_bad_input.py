"""Bad input never crashes pyruntime and never leaves anything behind.

Property tests drive the real CLI with generated config.json documents (valid, almost valid,
wrong types, huge values, odd unicode, deep nesting, raw bytes), container ids, signals, flags
and `update` payloads. Every rejected input must give exit 1 and exactly one stderr line
without a traceback, and leave no state dir, fifo, cgroup dir, mount or process behind.
The official JSON schema (through pyruntime's slow `fullcheck`, i.e. jsonschema) is the
oracle: a document it rejects must be rejected by `create`.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from tests.reliability.conftest import (
    COUNTS,
    RELIABILITY,
    alive,
    call,
    debris,
    examples,
    no_traceback,
    ok,
    one_line_error,
    state_of,
    wait_clean,
)

pytestmark = pytest.mark.root

ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,249}")

# ---------------------------------------------------------------- config documents

# JSON kind of config fields, per the runtime-spec schema.
FIELDS: dict[str, str] = {
    "ociVersion": "string", "hostname": "string", "domainname": "string",
    "root": "object", "root.path": "string", "root.readonly": "boolean",
    "process": "object", "process.args": "array", "process.env": "array",
    "process.cwd": "string", "process.terminal": "boolean", "process.user": "object",
    "process.user.uid": "integer", "process.user.gid": "integer",
    "process.user.umask": "integer", "process.user.additionalGids": "array",
    "process.noNewPrivileges": "boolean", "process.oomScoreAdj": "integer",
    "process.rlimits": "array", "process.rlimits.0.hard": "integer",
    "process.capabilities": "object", "process.capabilities.bounding": "array",
    "process.consoleSize": "object", "process.apparmorProfile": "string",
    "mounts": "array", "mounts.0": "object", "mounts.0.destination": "string",
    "mounts.0.options": "array", "annotations": "object", "hooks": "object",
    "hooks.prestart": "array", "linux": "object", "linux.namespaces": "array",
    "linux.namespaces.0": "object", "linux.namespaces.0.type": "string",
    "linux.resources": "object", "linux.resources.memory": "object",
    "linux.resources.memory.limit": "integer", "linux.resources.pids": "object",
    "linux.resources.pids.limit": "integer", "linux.resources.cpu": "object",
    "linux.resources.cpu.shares": "integer", "linux.resources.cpu.cpus": "string",
    "linux.resources.devices": "array", "linux.maskedPaths": "array",
    "linux.readonlyPaths": "array", "linux.sysctl": "object", "linux.uidMappings": "array",
    "linux.devices": "array", "linux.cgroupsPath": "string", "linux.rootfsPropagation": "string",
    "linux.seccomp": "object",
}
INT_FIELDS = [p for p, k in FIELDS.items() if k == "integer"]
ARRAY_OF_STRINGS = ["process.args", "process.env", "process.capabilities.bounding",
                    "linux.maskedPaths", "linux.readonlyPaths", "mounts.0.options"]
# string fields where any text is worth trying (cgroupsPath is left out on purpose: a
# generated path would create cgroups under names this suite does not look for)
TEXT_FIELDS = ["hostname", "domainname", "process.cwd", "process.env.0", "process.args.0",
               "linux.maskedPaths.0", "mounts.0.destination", "ociVersion", "root.path",
               "process.apparmorProfile"]
# Removing one of these must make `create` fail (schema, or runc's own checks).
REQUIRED = ["ociVersion", "root.path", "process.args", "process.cwd", "mounts.0.destination",
            "linux.namespaces.0.type"]
# (path, value, must fail). The ones that need not fail are accepted by runc too (with a
# warning): unknown capabilities, unknown syscalls, relative mount destinations.
ALMOST_VALID: list[tuple[str, Any, bool]] = [
    ("linux.namespaces.0.type", "bogus", True),
    ("linux.rootfsPropagation", "sideways", True),
    ("process.cwd", "relative/dir", True),
    ("process.capabilities.bounding", ["CAP_BOGUS"], False),
    ("process.rlimits", [{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}], True),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "hard": 1}], True),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 20}], True),
    ("linux.namespaces", [{"type": "pid"}, {"type": "pid"}], True),
    ("linux.seccomp", {"defaultAction": "SCMP_ACT_BOGUS"}, True),
    ("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["no_such_syscall_x"], "action": "SCMP_ACT_KILL"}]},
     False),
    ("mounts", [{"destination": "relative", "type": "tmpfs", "source": "tmpfs"}], False),
    ("mounts", [{"type": "tmpfs", "source": "tmpfs"}], True),
    ("linux.maskedPaths", ["relative"], True),
    ("annotations", {"": "empty key"}, True),
    ("linux.devices", [{"path": "/dev/x", "type": "q", "major": 1, "minor": 1}], True),
    ("linux.resources.devices", [{"allow": True, "access": "rwxz"}], True),
    ("linux.uidMappings", [{"containerID": 0, "hostID": 0, "size": 0}], True),
    ("linux.sysctl", {"no.such.sysctl.x": "1"}, True),
    ("process.user.uid", -1, True),
    ("process.oomScoreAdj", 5000, True),
    ("hostname", "h" * 65, True),
    ("process.args", [], True),
    ("root.path", "no-such-rootfs", True),
    ("ociVersion", "not-a-version", False),
]

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_values = st.recursive(json_scalars,
                           lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(st.text(max_size=8), inner,
                                                                   max_size=4)),
                           max_leaves=12)
odd_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=80)
huge_ints = st.sampled_from([2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 2**64 + 1,
                             -2**31 - 1, -2**63 - 1, 10**40, -1])


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def base_config() -> dict[str, Any]:
    from pyruntime.bundle import make_config

    return make_config(("true",))


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path, creating objects (and list slot 0) on the way."""
    node: Any = doc
    keys = path.split(".")
    for i, key in enumerate(keys[:-1]):
        nxt_is_index = keys[i + 1].isdigit()
        if isinstance(node, list):
            idx = int(key)
            while len(node) <= idx:
                node.append([] if nxt_is_index else {})
            if not isinstance(node[idx], (dict, list)):
                node[idx] = [] if nxt_is_index else {}
            node = node[idx]
        else:
            if not isinstance(node.get(key), (dict, list)):
                node[key] = [] if nxt_is_index else {}
            node = node[key]
    last = keys[-1]
    if isinstance(node, list):
        idx = int(last)
        while len(node) <= idx:
            node.append(None)
        node[idx] = value
    else:
        node[last] = value


def del_path(doc: dict[str, Any], path: str) -> None:
    node: Any = doc
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.get(key)
        if node is None:
            return
    if isinstance(node, list):
        if int(keys[-1]) < len(node):
            node.pop(int(keys[-1]))
    else:
        node.pop(keys[-1], None)


class Doc:
    """A generated config.json: its bytes, its category, and the oracle's verdict."""

    def __init__(self, kind: str, data: bytes, must_fail: bool) -> None:
        self.kind = kind
        self.data = data
        self.must_fail = must_fail

    def __repr__(self) -> str:
        return f"Doc({self.kind}, must_fail={self.must_fail}, {self.data[:300]!r}...)"


def schema_rejects(text: bytes) -> bool | None:
    """True/False from jsonschema (the oracle); None when the test cannot parse it either."""
    from pyruntime.spec.fullcheck import full_report

    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    try:
        return bool(full_report(doc))
    except RecursionError:
        return None


def finish(kind: str, doc: Any, ensure_ascii: bool = True, must_fail: bool | None = None) -> Doc:
    data = json.dumps(doc, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
    verdict = schema_rejects(data)
    return Doc(kind, data, bool(verdict) if must_fail is None else must_fail or bool(verdict))


@st.composite
def config_documents(draw: Callable[..., Any]) -> Doc:
    doc = base_config()
    mode = draw(st.sampled_from(["valid", "almost", "missing", "wrong-type", "huge", "unicode",
                                 "deep", "raw"]))
    if mode == "valid":
        doc["hostname"] = draw(st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True))
        doc["annotations"] = draw(st.dictionaries(st.text("abc.-/", min_size=1, max_size=10),
                                                  st.text(max_size=20), max_size=3))
        doc["process"]["env"].append("X=" + draw(st.text(max_size=30).filter(
            lambda s: "\0" not in s)))
        return finish(mode, doc, draw(st.booleans()))
    if mode == "almost":
        path, value, must_fail = draw(st.sampled_from(ALMOST_VALID))
        set_path(doc, path, value)
        return finish(f"{mode}:{path}", doc, must_fail=must_fail)
    if mode == "missing":
        path = draw(st.sampled_from(REQUIRED))
        del_path(doc, path)
        return finish(f"{mode}:{path}", doc, must_fail=True)
    if mode == "wrong-type":
        path = draw(st.sampled_from(sorted(FIELDS)))
        value = draw(json_values.filter(lambda v: kind_of(v) != FIELDS[path]))
        set_path(doc, path, value)
        return finish(f"{mode}:{path}", doc)
    if mode == "huge":
        what = draw(st.sampled_from(["int", "string", "array", "env"]))
        if what == "int":
            path = draw(st.sampled_from(INT_FIELDS))
            set_path(doc, path, draw(huge_ints))
        elif what == "string":
            path = draw(st.sampled_from(["hostname", "process.cwd", "process.args.0",
                                         "annotations.big", "linux.maskedPaths.0"]))
            set_path(doc, path, "/" + "x" * draw(st.sampled_from([300, 5000, 300_000])))
        elif what == "array":
            path = draw(st.sampled_from(ARRAY_OF_STRINGS))
            n = draw(st.sampled_from([1000, 20_000]))
            set_path(doc, path, [f"/p{i}" for i in range(n)])
        else:
            path = "process.env"
            doc["process"]["env"] += [f"V{i}=" + "y" * 100 for i in range(5000)]
        return finish(f"{mode}:{path}", doc)
    if mode == "unicode":
        path = draw(st.sampled_from(TEXT_FIELDS + ["annotations"]))
        text = draw(odd_text)
        if path == "annotations":
            set_path(doc, path, {text: text})
        else:
            set_path(doc, path, ("/" if path in ("process.cwd", "linux.maskedPaths.0",
                                                 "mounts.0.destination") else "") + text)
        return finish(f"{mode}:{path}", doc, draw(st.booleans()))
    if mode == "deep":
        depth = draw(st.sampled_from([10, 200, 900, 1100, 5000, 100_000]))
        shape = draw(st.sampled_from(["list", "dict"]))
        nested = ("[" * depth + "]" * depth if shape == "list"
                  else '{"a":' * depth + "1" + "}" * depth)
        where = draw(st.sampled_from(["whole", "org.example.deep", "annotations",
                                      "linux.resources", "process.args"]))
        if where == "whole":
            data = nested.encode()
        else:
            set_path(doc, where, "__DEEP__")
            data = json.dumps(doc).replace('"__DEEP__"', nested).encode()
        verdict = schema_rejects(data) if depth < 500 else None
        return Doc(f"{mode}:{where}:{depth}", data, bool(verdict) or where in (
            "whole", "annotations", "process.args") or verdict is None and depth >= 1100)
    raw = draw(st.one_of(
        st.sampled_from([b"", b" ", b"{", b"null", b"[]", b"42", b'"s"', b"{}",
                         b"\xef\xbb\xbf" + json.dumps(doc).encode(),
                         json.dumps(doc).encode() + b" trailing",
                         json.dumps(doc).encode()[:-1],
                         json.dumps(doc).replace('"soft": 1024', '"soft": NaN').encode(),
                         json.dumps(doc).replace('"hard": 1024', '"hard": Infinity').encode(),
                         json.dumps(doc).replace('"true"', '"tr\\ud800ue"').encode(),
                         json.dumps(doc).replace('"pyruntime"', '"\xff\xfe"').encode("latin-1"),
                         ]),
        st.binary(max_size=200)))
    verdict = schema_rejects(raw)
    must_fail = verdict is None or verdict
    return Doc("raw", raw, bool(must_fail))


def test_create_generated_config_fails_cleanly_or_creates(cli: Any, make_bundle: Any,
                                                         bystander: Any,
                                                         tmp_path: Path) -> None:
    """Any config.json: exit 1 + one line + no debris, or a created container that deletes
    cleanly; a document the schema rejects always fails."""
    bundle = make_bundle("true")
    config = bundle.path / "config.json"

    @settings(RELIABILITY, max_examples=examples(150))
    @given(doc=config_documents())
    def check(doc: Doc) -> None:
        COUNTS["config documents"] += 1
        config.write_bytes(doc.data)
        cid = cli.new_id("cfg")
        proc = call(cli, "create", "-b", str(bundle.path), cid)
        if proc.returncode == 0:
            try:
                assert not doc.must_fail, f"accepted an invalid document {doc!r}"
                assert state_of(cli, cid)["status"] == "created"
            finally:
                no_traceback(call(cli, "delete", "--force", cid), "delete --force")
        else:
            one_line_error(proc, repr(doc))
        left = wait_clean(cli.root, [cid], [str(bundle.path)])
        assert not left, f"{doc!r} left {left}"

    check()


# ---------------------------------------------------------------- container ids

BAD_IDS = ["", ".", "..", "a/b", "../x", "/abs", "a" * 251, "a" * 5000, "a\nb", "a\tb",
           "\x1b[31m", "é", "a b", "a\x7f", "_x", ".hidden", "+x", "a:b", "a*", "a?", "\u202e",
           "a\u0301", "日本", "\U0001f600", "a\\b", "\x01"]
VERBS: list[tuple[str, ...]] = [("create", "-b", "{bundle}"), ("state",), ("start",), ("kill",),
                                ("kill", "--all"), ("delete",), ("delete", "--force"),
                                ("pause",), ("resume",), ("update", "--pids-limit", "10"),
                                ("ps",), ("events", "--stats"), ("exec",)]


def argv_for(verb: tuple[str, ...], cid: str, bundle: str) -> list[str]:
    argv = [a.replace("{bundle}", bundle) for a in verb] + [cid]
    if verb[0] == "exec":
        argv.append("true")
    if verb[0] == "kill":
        argv.append("KILL")
    return argv


@st.composite
def bad_ids(draw: Callable[..., Any]) -> str:
    cid = draw(st.one_of(st.sampled_from(BAD_IDS), odd_text,
                         st.builds(lambda a, b, c: a + b + c, st.text("ab.", max_size=5),
                                   st.sampled_from(["/", "..", "\n", " ", "\0", "%", "é"]),
                                   st.text("ab./", max_size=5))))
    cid = cid.replace("\0", "")  # argv cannot carry NUL
    assume(not ID_RE.fullmatch(cid) and not cid.startswith("-"))
    return str(cid)


def test_verbs_generated_bad_id_fail_cleanly(cli: Any, make_bundle: Any, bystander: Any,
                                            tmp_path: Path) -> None:
    """Every verb rejects an invalid id with one line, builds no path from it, and the
    state root (with another container in it) is left as it was."""
    bundle = make_bundle("true")
    root_before = sorted(os.listdir(cli.root))
    tmp_before = sorted(os.listdir(tmp_path))

    @settings(RELIABILITY, max_examples=examples(120))
    @given(cid=bad_ids(), verb=st.sampled_from(VERBS))
    @example(cid="..", verb=("delete", "--force"))
    @example(cid="", verb=("create", "-b", "{bundle}"))
    @example(cid="a/b", verb=("create", "-b", "{bundle}"))
    @example(cid="a" * 251, verb=("create", "-b", "{bundle}"))
    @example(cid=".", verb=("delete", "--force"))
    def check(cid: str, verb: tuple[str, ...]) -> None:
        COUNTS["container ids"] += 1
        proc = call(cli, *argv_for(verb, cid, str(bundle.path)), timeout=20)
        one_line_error(proc, f"{verb} {cid!r}")
        assert sorted(os.listdir(cli.root)) == root_before
        assert sorted(os.listdir(tmp_path)) == tmp_before
        ids = [cid] if "/" not in cid and cid not in (".", "..") else []
        left = debris(cli.root, ids, [str(bundle.path)])
        assert not left, f"{verb} {cid!r} left {left}"

    check()


def test_create_longest_valid_id_works_and_one_more_fails(cli: Any, make_bundle: Any) -> None:
    """250 characters is the limit: accepted; 251 is rejected with one line."""
    bundle = make_bundle("true")
    cid = "a" * 250
    cli.ids.append(cid)
    ok(cli, "create", "-b", str(bundle.path), cid)
    assert state_of(cli, cid)["status"] == "created"
    ok(cli, "delete", "--force", cid)
    assert not debris(cli.root, [cid], [str(bundle.path)])
    one_line_error(call(cli, "create", "-b", str(bundle.path), "a" * 251))
    COUNTS["container ids"] += 2


# ---------------------------------------------------------------- signals

@st.composite
def bad_signals(draw: Callable[..., Any]) -> str:
    return str(draw(st.one_of(
        st.integers(-2**40, 0).map(str), st.integers(65, 2**70).map(str),
        st.sampled_from(["", "SIG", "SIGFOO", "KIL", "SIGKILLX", "9x", "0x9", "1e1", "+9",
                         "SIGRTMIN+99", "RTMAX-99", "nan", "SIG KILL", "9.0",
                         "\x1b", "SIGSIGKILL", "KILL\n", " 9", "\u0669"]),
        st.text("SIGKLTERMUSR0123456789+-", min_size=1, max_size=10).filter(
            lambda s: not _is_signal(s)))))


def _is_signal(text: str) -> bool:
    import signal as _signal

    if text.isascii() and text.isdigit():
        return 0 < int(text) <= int(_signal.SIGRTMAX)
    upper = text.upper()
    upper = upper if upper.startswith("SIG") else "SIG" + upper
    return upper in _signal.Signals.__members__ or upper.startswith(("SIGRTMIN", "SIGRTMAX"))


def test_kill_generated_bad_signal_fails_and_container_survives(cli: Any,
                                                                make_bundle: Any) -> None:
    """A signal runc would reject: exit 1, one line, the container is untouched."""
    bundle = make_bundle("sleep", "1000")
    cid = cli.new_id("sig")
    ok(cli, "create", "-b", str(bundle.path), cid)
    pid = state_of(cli, cid)["pid"]

    @settings(RELIABILITY, max_examples=examples(40))
    @given(sig=bad_signals())
    def check(sig: str) -> None:
        COUNTS["signals"] += 1
        one_line_error(call(cli, "kill", cid, sig), f"kill {sig!r}")
        one_line_error(call(cli, "kill", "--all", cid, sig), f"kill --all {sig!r}")
        assert alive(pid)

    check()
    assert state_of(cli, cid)["status"] == "created"


@pytest.mark.parametrize("sig", ["\u0669", " 9", "KILL\n"])
def test_kill_non_ascii_or_padded_number_fails_and_container_survives(
        cli: Any, make_bundle: Any, sig: str) -> None:
    """runc (strconv.Atoi) rejects these; they must not be read as SIGKILL."""
    bundle = make_bundle("sleep", "1000")
    cid = cli.new_id("sig")
    ok(cli, "create", "-b", str(bundle.path), cid)
    pid = state_of(cli, cid)["pid"]
    COUNTS["signals"] += 1
    one_line_error(call(cli, "kill", cid, sig), f"kill {sig!r}")
    assert alive(pid)


# ---------------------------------------------------------------- flags

VERB_NAMES = ["create", "start", "run", "state", "kill", "delete", "list", "exec", "pause",
              "resume", "ps", "update", "events", "spec", "features"]


def known_flags(verb: str) -> set[str]:
    import importlib

    from pyruntime.cli.main import GLOBAL_FLAGS, MODULE_NAMES

    module = importlib.import_module(f"pyruntime.cli.{MODULE_NAMES.get(verb, verb)}")
    names = {n for f in module.FLAGS for n in f.names} | {"--help", "-h"}
    return names | {n for f in GLOBAL_FLAGS for n in f.names}


@st.composite
def unknown_flags(draw: Callable[..., Any]) -> tuple[str, str, bool]:
    verb = draw(st.sampled_from(VERB_NAMES))
    name = draw(st.one_of(
        st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20).map(lambda s: "--" + s),
        st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=3).map(lambda s: "-" + s),
        odd_text.map(lambda s: "--" + s.replace("\0", "")),
    ))
    flag = name.split("=")[0]
    known = known_flags(verb)
    assume(flag not in known and "--" + flag.lstrip("-") not in known and flag not in ("-", "--"))
    value = draw(st.sampled_from(["", "=1", "=x"]))
    return verb, name + value, draw(st.booleans())


def test_cli_generated_unknown_flag_fails_cleanly(cli: Any, tmp_path: Path) -> None:
    """An undefined flag, global or per verb: exit 1 and one line (Go's flag package)."""

    @settings(RELIABILITY, max_examples=examples(80))
    @given(case=unknown_flags())
    @example(case=("state", "--bogus\nsecond line", False))
    @example(case=("state", "--bogus\nsecond line", True))
    def check(case: tuple[str, str, bool]) -> None:
        verb, flag, global_position = case
        COUNTS["flags"] += 1
        argv = [flag, verb, "x"] if global_position else [verb, flag, "x"]
        proc = call(cli, *argv, timeout=20)
        one_line_error(proc, f"{argv!r}")

    check()


def test_global_unknown_flag_with_newline_one_line(cli: Any) -> None:
    """Per-verb flag errors are quoted into one line; global ones must be too."""
    COUNTS["flags"] += 1
    one_line_error(call(cli, "--bogus\nsecond line", "state", "x"))


BAD_CREATE_FLAGS: list[tuple[str, ...]] = [
    ("--preserve-fds", "abc"), ("--preserve-fds", "-1"), ("--preserve-fds", "1.5"),
    ("--preserve-fds", "99999999999999999999"),
    ("--pid-file", "/nonexistent-dir/x/pid"),
    ("--bundle", "/nonexistent-bundle"), ("--bundle", "/dev/null"), ("--bundle",),
    ("--no-pivot=maybe",), ("--pid-file",),
]


@pytest.mark.parametrize("flags", BAD_CREATE_FLAGS, ids=lambda f: " ".join(f))
def test_create_bad_flag_value_fails_cleanly(cli: Any, make_bundle: Any,
                                            flags: tuple[str, ...]) -> None:
    """Bad values of create's flags: one line, and nothing is left behind."""
    bundle = make_bundle("true")
    cid = cli.new_id("flag")
    argv = ["create", "-b", str(bundle.path), *flags]
    argv += [cid] if len(flags) > 1 or "=" in flags[0] else []
    COUNTS["flags"] += 1
    proc = call(cli, *argv, timeout=30)
    one_line_error(proc, " ".join(argv))
    left = wait_clean(cli.root, [cid], [str(bundle.path)])
    assert not left, left


def test_create_console_socket_without_terminal_fails_cleanly(cli: Any, make_bundle: Any) -> None:
    """runc rejects a console socket for a container without a terminal."""
    bundle = make_bundle("true")
    cid = cli.new_id("flag")
    COUNTS["flags"] += 1
    proc = call(cli, "create", "-b", str(bundle.path), "--console-socket", "/nonexistent/sock",
                cid)
    one_line_error(proc)
    assert not wait_clean(cli.root, [cid], [str(bundle.path)])


@pytest.mark.parametrize("count", ["1", "100000"])
def test_create_preserve_fds_beyond_open_fds_does_not_leak_runtime_fds(
        cli: Any, make_bundle: Any, count: str) -> None:
    """The caller has only 0-2 open: either a clear error, or an init holding nothing of ours
    and a container that `delete --force` removes promptly."""
    import subprocess

    bundle = make_bundle("true")
    cid = cli.new_id("pfds")
    COUNTS["flags"] += 1
    proc = call(cli, "create", "-b", str(bundle.path), "--preserve-fds", count, cid)
    if proc.returncode != 0:
        one_line_error(proc)
        assert not wait_clean(cli.root, [cid], [str(bundle.path)])
        return
    pid = state_of(cli, cid)["pid"]
    try:
        held = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        assert not {h for h in held if str(cli.root) in h and not h.endswith("exec.fifo")}, held
        try:
            proc = call(cli, "delete", "--force", cid, timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError("delete --force hung on the lock held by the init") from None
        assert proc.returncode == 0
        assert not wait_clean(cli.root, [cid], [str(bundle.path)])
    finally:
        if alive(pid):
            os.kill(pid, 9)


BAD_GLOBAL_FLAGS: list[tuple[str, ...]] = [
    ("--log-format", "xml"), ("--root",), ("--root", "/dev/null"),
    ("--root", "/proc/version"), ("--debug=maybe",),
]


@pytest.mark.parametrize("flags", BAD_GLOBAL_FLAGS, ids=lambda f: " ".join(f))
def test_global_bad_flag_value_fails_cleanly(cli: Any, make_bundle: Any,
                                            flags: tuple[str, ...]) -> None:
    """Bad global flag values: one line (the command never half-runs)."""
    bundle = make_bundle("true")
    cid = cli.new_id("glob")
    COUNTS["flags"] += 1
    proc = call(cli, "create", "-b", str(bundle.path), cid, glob=flags)
    one_line_error(proc, " ".join(flags))
    assert not wait_clean(cli.root, [cid], [str(bundle.path)])


def test_global_unwritable_log_file_gives_one_line(cli: Any) -> None:
    """runc fails early with one line when --log cannot be opened."""
    COUNTS["flags"] += 1
    one_line_error(call(cli, "state", "nothere", glob=("--log", "/nonexistent-dir/x.log")))


# ---------------------------------------------------------------- update payloads

RESOURCE_FIELDS: dict[str, str] = {
    "memory.limit": "integer", "memory.reservation": "integer", "memory.swap": "integer",
    "memory.swappiness": "integer", "cpu.shares": "integer", "cpu.quota": "integer",
    "cpu.period": "integer", "cpu.cpus": "string", "cpu.mems": "string",
    "pids.limit": "integer", "blockIO.weight": "integer", "memory": "object", "cpu": "object",
    "pids": "object", "blockIO": "object", "devices": "array", "unified": "object",
    "hugepageLimits": "array", "network": "object",
}


@st.composite
def bad_payloads(draw: Callable[..., Any]) -> bytes:
    mode = draw(st.sampled_from(["type", "type", "type", "top", "bytes", "huge"]))
    if mode == "top":
        return json.dumps(draw(json_values.filter(lambda v: not isinstance(v, dict)))).encode()
    if mode == "bytes":
        return bytes(draw(st.one_of(st.binary(max_size=50),
                              st.sampled_from([b"", b"{", b'{"memory":}', b"{} {}",
                                               b'{"memory": {"limit": NaN}}',
                                               b'{"pids": {"limit": Infinity}}']))))
    doc: dict[str, Any] = {}
    path = draw(st.sampled_from(sorted(RESOURCE_FIELDS)))
    if mode == "huge":
        path = draw(st.sampled_from([p for p, k in RESOURCE_FIELDS.items() if k == "integer"]))
        value: Any = draw(st.sampled_from([2**64, 2**70, -2**63 - 1, 10**40]))
    else:
        value = draw(json_values.filter(lambda v: kind_of(v) != RESOURCE_FIELDS[path]))
    set_path(doc, path, value)
    return json.dumps(doc).encode()


def test_update_generated_bad_payload_fails_and_container_survives(cli: Any,
                                                                   make_bundle: Any) -> None:
    """`update -r -` with a payload the schema rejects: exit 1, one line, container intact."""
    from pyruntime.spec.fullcheck import full_report

    bundle = make_bundle("sleep", "1000")
    cid = cli.new_id("upd")
    ok(cli, "create", "-b", str(bundle.path), cid)
    ok(cli, "start", cid)
    pid = state_of(cli, cid)["pid"]

    @settings(RELIABILITY, max_examples=examples(60))
    @given(payload=bad_payloads())
    def check(payload: bytes) -> None:
        COUNTS["update payloads"] += 1
        try:
            parsed = json.loads(payload)
            rejected = not isinstance(parsed, dict) or bool(full_report(parsed, "resources"))
        except (ValueError, RecursionError):
            rejected = True
        proc = call(cli, "update", "-r", "-", cid, input=payload)
        if rejected:
            one_line_error(proc, f"update {payload!r}")
        else:
            no_traceback(proc, f"update {payload!r}")
        assert alive(pid)

    check()
    assert state_of(cli, cid)["status"] == "running"


BAD_UPDATE_FLAGS: list[tuple[str, ...]] = [
    ("--memory", "abc"), ("--memory", "1.5x"), ("--memory", ""), ("--cpu-share", "x"),
    ("--pids-limit", "1.5"), ("--cpuset-cpus", "not-a-cpu-list"), ("--cpu-period", "-5"),
    ("--blkio-weight", "99999"), ("--resources", "/nonexistent-file.json"), ("--memory",),
    ("--l3-cache-schema", "L3:0=f"),
]


@pytest.mark.parametrize("flags", BAD_UPDATE_FLAGS, ids=lambda f: " ".join(f))
def test_update_bad_flag_value_fails_and_container_survives(cli: Any, make_bundle: Any,
                                                            flags: tuple[str, ...]) -> None:
    """Malformed update flags: one line, and the running container keeps running."""
    bundle = make_bundle("sleep", "1000")
    cid = cli.new_id("updf")
    ok(cli, "create", "-b", str(bundle.path), cid)
    ok(cli, "start", cid)
    pid = state_of(cli, cid)["pid"]
    COUNTS["update payloads"] += 1
    proc = (call(cli, "update", *flags, cid) if len(flags) > 1
            else call(cli, "update", cid, *flags))
    one_line_error(proc, " ".join(flags))
    assert alive(pid)
    assert state_of(cli, cid)["status"] == "running"


def test_update_unknown_container_fails_without_state(cli: Any) -> None:
    """A valid payload for a container that does not exist: one line, no state dir made."""
    cid = "nothere-" + uuid.uuid4().hex[:8]
    COUNTS["update payloads"] += 1
    one_line_error(call(cli, "update", "-r", "-", cid, input=b'{"pids": {"limit": 10}}'))
    assert not (cli.root / cid).exists()
