"""Unit tests of device rules, the v1 emulator and the v2 BPF program bytes."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from pyruntime.cgroups import bpfprog
from pyruntime.cgroups.devices import DEFAULT_DEVICES, container_rules, emulate, v1_line, v1_writes
from pyruntime.cgroups.resources import DeviceRule as R
from pyruntime.cgroups.resources import parse_device_rules

DOCKER_RULES = parse_device_rules(
    [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
        {"allow": True, "type": "c", "major": 136, "access": "rwm"},
        {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
    ]
)


def test_container_rules_appends_runc_defaults():
    rules = container_rules(DOCKER_RULES, None)
    assert rules[: len(DOCKER_RULES)] == DOCKER_RULES
    assert rules[len(DOCKER_RULES) :] == [r for _, r in DEFAULT_DEVICES]


def test_container_rules_linux_device_path_drops_default():
    rules = container_rules([], [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3}])
    assert R(True, "c", 1, 3, "rwm") not in rules
    assert R(True, "c", 1, 5, "rwm") in rules


def test_container_rules_linux_devices_not_added_to_allow_list():
    rules = container_rules([], [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}])
    assert all((r.major, r.minor) != (10, 229) for r in rules)


def test_v1_line_formats():
    assert v1_line(R(False, "a", -1, -1, "rwm")) == "a"
    assert v1_line(R(True, "c", 136, -1, "rwm")) == "c 136:* rwm"
    assert v1_line(R(True, "b", -1, -1, "m")) == "b *:* m"
    assert v1_writes([R(False, "c", 1, 3, "w")]) == [("devices.deny", "c 1:3 w")]


def test_emulator_docker_rules_allow_and_deny():
    emu = emulate(container_rules(DOCKER_RULES, None))
    assert not emu.default_allow
    assert emu.allows("c", 1, 5, "rw")
    assert emu.allows("c", 136, 7, "rwm")
    assert not emu.allows("c", 10, 229, "r")
    assert emu.allows("c", 10, 229, "m")  # mknod of any char device stays allowed
    assert not emu.allows("b", 8, 0, "r")
    assert emu.allows("c", 1, 3, "rw")  # /dev/null from the defaults


def test_emulator_deny_strips_exact_exception_access():
    emu = emulate(
        [R(False, "a", -1, -1, "rwm"), R(True, "c", 1, 3, "rwm"), R(False, "c", 1, 3, "w")]
    )
    assert emu.exceptions == {("c", 1, 3): "rm"}
    assert not emu.allows("c", 1, 3, "w") and emu.allows("c", 1, 3, "r")


def test_emulator_allow_all_resets_exceptions():
    emu = emulate(
        [R(False, "a", -1, -1, "rwm"), R(True, "c", 1, 3, "r"), R(True, "a", -1, -1, "rwm")]
    )
    assert emu.default_allow and emu.exceptions == {}


def test_bpf_program_allow_all_is_mov1_exit():
    code = bpfprog.device_program([])
    # prologue (6 insns) + r0 = 1 + exit
    assert len(code) == 8 * 8
    assert code[-16:] == struct.pack("<BBhi", 0xB4, 0, 0, 1) + struct.pack("<BBhi", 0x95, 0, 0, 0)


def test_bpf_program_exact_bytes_single_rule():
    code = bpfprog.device_program([R(False, "a", -1, -1, "rwm"), R(True, "c", 1, 3, "rw")])
    insns = [struct.unpack("<BBhi", code[i : i + 8]) for i in range(0, len(code), 8)]
    assert insns == [
        (0x61, 0x12, 0, 0),  # r2 = *(u32 *)(r1 + 0)
        (0x54, 0x02, 0, 0xFFFF),  # w2 &= 0xffff
        (0x61, 0x13, 0, 0),  # r3 = *(u32 *)(r1 + 0)
        (0x74, 0x03, 0, 16),  # w3 >>= 16
        (0x61, 0x14, 4, 0),  # r4 = major
        (0x61, 0x15, 8, 0),  # r5 = minor
        (0x55, 0x02, 7, 2),  # if r2 != CHAR goto next block (+7)
        (0xBC, 0x31, 0, 0),  # w1 = w3
        (0x54, 0x01, 0, 6),  # w1 &= READ|WRITE
        (0x5D, 0x31, 4, 0),  # if r1 != r3 goto next
        (0x55, 0x04, 3, 1),  # if r4 != 1 goto next
        (0x55, 0x05, 2, 3),  # if r5 != 3 goto next
        (0xB4, 0x00, 0, 1),  # w0 = 1 (allow)
        (0x95, 0x00, 0, 0),  # exit
        (0xB4, 0x00, 0, 0),  # w0 = 0 (default deny)
        (0x95, 0x00, 0, 0),  # exit
    ]


def test_bpf_program_docker_rules_matches_emulator():
    rules = container_rules(DOCKER_RULES, None)
    emu = emulate(rules)
    code = bpfprog.device_program(rules)
    for dev in [
        ("c", 1, 5),
        ("c", 1, 3),
        ("c", 136, 0),
        ("c", 10, 229),
        ("b", 8, 0),
        ("c", 10, 200),
    ]:
        for acc in ("r", "w", "m", "rw", "rwm"):
            assert bpfprog.run_program(code, *dev, acc) == emu.allows(*dev, acc), (dev, acc)


rule_st = st.builds(
    R,
    st.booleans(),
    st.sampled_from(["a", "b", "c", "c"]),
    st.sampled_from([-1, 1, 5, 136]),
    st.sampled_from([-1, 3, 5, 7]),
    st.sampled_from(["r", "w", "m", "rw", "rm", "wm", "rwm"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(rule_st, max_size=8))
def test_bpf_program_random_rules_equal_emulator(rules):
    emu = emulate(rules)
    code = bpfprog.device_program(rules)
    for typ in ("b", "c"):
        for major in (1, 5, 136, 9):
            for minor in (3, 5, 8):
                for acc in ("r", "w", "m", "rw", "rwm"):
                    assert bpfprog.run_program(code, typ, major, minor, acc) == emu.allows(
                        typ, major, minor, acc
                    )
