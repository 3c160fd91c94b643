"""Unit tests of pyruntime.cli.args: the Go-flag-style parser, and the real flag tables of
the CLI (global flags, create/run flags) parsed through it.
"""

from __future__ import annotations

import pytest

from pyruntime.cli.args import Flag, UsageError, parse, usage

FLAGS = (
    Flag(("--bundle", "-b"), "bundle dir", "PATH", default=""),
    Flag(("--detach", "-d"), "detach"),
    Flag(("--pid-file",), "pid file", "PATH"),
    Flag(("--env", "-e"), "env", "KEY=VALUE", multiple=True),
)


def test_flag_key_from_first_long_name() -> None:
    assert FLAGS[2].key == "pid_file"
    assert FLAGS[0].key == "bundle"


def test_parse_defaults_when_absent() -> None:
    p = parse([], FLAGS)
    assert p.flags == {"bundle": "", "detach": None, "pid_file": None, "env": []}
    assert p.args == []
    assert p.get("detach") is None and p.get("detach", False) is False


def test_parse_value_separate_and_inline() -> None:
    p = parse(["--bundle", "/b", "--pid-file=/p", "id"], FLAGS)
    assert p.get("bundle") == "/b"
    assert p.get("pid_file") == "/p"
    assert p.args == ["id"]


def test_parse_short_names() -> None:
    p = parse(["-b", "/b", "-d", "id"], FLAGS)
    assert p.get("bundle") == "/b" and p.get("detach") is True


def test_parse_single_dash_long_name_like_go() -> None:
    p = parse(["-bundle", "/b", "-detach", "id"], FLAGS)
    assert p.get("bundle") == "/b" and p.get("detach") is True


def test_parse_last_value_wins() -> None:
    assert parse(["-b", "/one", "--bundle", "/two"], FLAGS).get("bundle") == "/two"


def test_parse_multiple_flag_collects_in_order() -> None:
    p = parse(["-e", "A=1", "--env=B=2", "--env", "C=3"], FLAGS)
    assert p.get("env") == ["A=1", "B=2", "C=3"]


def test_parse_inline_value_keeps_equals_signs() -> None:
    assert parse(["--pid-file=a=b"], FLAGS).get("pid_file") == "a=b"


@pytest.mark.parametrize("text,value", [("true", True), ("1", True), ("t", True),
                                        ("false", False), ("0", False), ("F", False),
                                        ("TRUE", True)])
def test_parse_bool_inline_values(text: str, value: bool) -> None:
    assert parse([f"--detach={text}"], FLAGS).get("detach") is value


def test_parse_bool_invalid_inline_value_refused() -> None:
    with pytest.raises(UsageError, match="invalid boolean"):
        parse(["--detach=maybe"], FLAGS)


def test_parse_unknown_flag_refused_with_name() -> None:
    with pytest.raises(UsageError, match="flag provided but not defined: --nope"):
        parse(["--nope", "x"], FLAGS)


def test_parse_unknown_flag_inline_value_names_flag_only() -> None:
    with pytest.raises(UsageError) as e:
        parse(["--nope=secret"], FLAGS)
    assert "secret" not in str(e.value)


def test_parse_missing_value_refused() -> None:
    with pytest.raises(UsageError, match="flag needs an argument"):
        parse(["--bundle"], FLAGS)


def test_parse_value_may_start_with_dash() -> None:
    assert parse(["--bundle", "-weird-dir"], FLAGS).get("bundle") == "-weird-dir"


def test_parse_stops_at_first_positional() -> None:
    p = parse(["-d", "id", "--bundle", "/b"], FLAGS)
    assert p.args == ["id", "--bundle", "/b"]
    assert p.get("bundle") == ""


def test_parse_interleaved_when_not_stopping() -> None:
    p = parse(["id", "-d", "sig"], FLAGS, stop_at_positional=False)
    assert p.args == ["id", "sig"] and p.get("detach") is True


def test_parse_double_dash_ends_flags() -> None:
    p = parse(["-d", "--", "--bundle", "x"], FLAGS)
    assert p.args == ["--bundle", "x"] and p.get("bundle") == ""


def test_parse_single_dash_is_positional() -> None:
    assert parse(["-"], FLAGS).args == ["-"]


def test_parse_empty_flag_table_any_flag_refused() -> None:
    with pytest.raises(UsageError):
        parse(["-x"], ())
    assert parse(["a", "b"], ()).args == ["a", "b"]


def test_usage_lists_flags_and_synopsis() -> None:
    text = usage("create", "[command options] <container-id>", "create a container", FLAGS)
    assert text.startswith("NAME:\n   pyruntime create - create a container\n")
    assert "USAGE:\n   pyruntime create [command options] <container-id>\n" in text
    assert "OPTIONS:" in text
    assert "--bundle, -b PATH" in text
    assert "--detach, -d" in text
    assert text.endswith("\n")


def test_usage_without_flags_has_no_options_section() -> None:
    assert "OPTIONS" not in usage("state", "<container-id>", "output the state", ())


# ---------------------------------------------------------------------------- the real tables


def test_global_flags_stop_at_command() -> None:
    from pyruntime.cli.main import GLOBAL_FLAGS

    p = parse(["--root", "/r", "--log-format=json", "--debug", "create", "--bundle", "/b",
               "id"], GLOBAL_FLAGS)
    assert p.get("root") == "/r"
    assert p.get("log_format") == "json"
    assert p.get("debug") is True
    assert p.args == ["create", "--bundle", "/b", "id"]


def test_global_flags_accept_runc_compat_flags() -> None:
    from pyruntime.cli.main import GLOBAL_FLAGS

    p = parse(["--systemd-cgroup", "--rootless", "false", "--criu", "/c", "--log", "/l",
               "list"], GLOBAL_FLAGS)
    assert p.get("systemd_cgroup") is True
    assert p.get("rootless") == "false" and p.get("log") == "/l"
    assert p.args == ["list"]


def test_global_flags_version_short_and_long() -> None:
    from pyruntime.cli.main import GLOBAL_FLAGS

    assert parse(["-v"], GLOBAL_FLAGS).get("version") is True
    assert parse(["--version"], GLOBAL_FLAGS).get("version") is True


def test_create_flags_runc_spellings() -> None:
    from pyruntime.cli.common import CREATE_FLAGS

    p = parse(["-b", "/b", "--console-socket", "/s", "--pid-file", "/p", "--no-pivot",
               "--no-new-keyring", "--preserve-fds", "2", "cid"], CREATE_FLAGS)
    assert p.get("bundle") == "/b"
    assert p.get("console_socket") == "/s"
    assert p.get("pid_file") == "/p"
    assert p.get("no_pivot") is True and p.get("no_new_keyring") is True
    assert p.get("preserve_fds") == "2"
    assert p.args == ["cid"]


def test_create_options_preserve_fds_parsed() -> None:
    from pyruntime.cli.common import CREATE_FLAGS, create_options

    opts = create_options(parse(["--preserve-fds", "3", "cid"], CREATE_FLAGS), False)
    assert opts.preserve_fds == 3


@pytest.mark.parametrize("value", ["x", "-1", "1.5"])
def test_create_options_bad_preserve_fds_refused(value: str) -> None:
    from pyruntime.cli.common import CREATE_FLAGS, create_options

    with pytest.raises(UsageError, match="preserve-fds"):
        create_options(parse([f"--preserve-fds={value}", "cid"], CREATE_FLAGS), False)


def test_one_id_requires_exactly_one() -> None:
    from pyruntime.cli.common import one_id

    assert one_id(parse(["abc"], ())) == "abc"
    for argv in ([], ["a", "b"]):
        with pytest.raises(UsageError):
            one_id(parse(argv, ()))
