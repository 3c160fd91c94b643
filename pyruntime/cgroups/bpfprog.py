"""Build the cgroup v2 device filter: a BPF_PROG_TYPE_CGROUP_DEVICE program, as bytes.

Owns: translating device rules into eBPF instructions (pure; no syscalls). The rules
first go through the v1 emulator so v1 and v2 allow exactly the same accesses.
Must not touch: the bpf(2) syscall (csrc/bpfdev.c, through shim.set_device_program), files.

Program shape. The kernel calls it with R1 = struct bpf_cgroup_dev_ctx
{u32 access_type; u32 major; u32 minor}; access_type holds the device type in its low
16 bits and the requested access bits in its high 16 bits. The prologue loads
R2 = type, R3 = access, R4 = major, R5 = minor. Each exception becomes one block that
jumps to the next block on any mismatch and otherwise returns the non-default answer.
Like the v1 kernel, an allow exception must grant every requested access bit, while a
deny exception (in allow-by-default mode) matches when it shares any bit.
The last block returns the default answer (1 = allow, 0 = deny).
"""

from __future__ import annotations

import struct

from pyruntime.cgroups.devices import Emulator, emulate
from pyruntime.cgroups.resources import DeviceRule

# Kernel ABI constants (include/uapi/linux/bpf.h).
DEVCG_DEV_BLOCK = 1
DEVCG_DEV_CHAR = 2
DEVCG_ACC_MKNOD = 1
DEVCG_ACC_READ = 2
DEVCG_ACC_WRITE = 4

# Opcodes: class | op | source.
_LDX_MEM_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
_ALU32_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
_ALU32_RSH_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K
_ALU32_MOV_K = 0xB4  # BPF_ALU | BPF_MOV | BPF_K
_ALU32_MOV_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X
_JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
_JNE_X = 0x5D  # BPF_JMP | BPF_JNE | BPF_X
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_EXIT = 0x95  # BPF_JMP | BPF_EXIT

LICENSE = "Apache"  # any GPL-incompatible string works for this program type

_ACCESS_BITS = {"r": DEVCG_ACC_READ, "w": DEVCG_ACC_WRITE, "m": DEVCG_ACC_MKNOD}
_ALL_ACCESS = DEVCG_ACC_READ | DEVCG_ACC_WRITE | DEVCG_ACC_MKNOD


def insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One 8-byte eBPF instruction (little-endian host)."""
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


class _Block:
    """A rule block whose jump offsets are fixed once its length is known."""

    def __init__(self) -> None:
        # (op, dst, src, imm, jumps_to_next_block)
        self.ops: list[tuple[int, int, int, int, bool]] = []

    def add(self, op: int, dst: int = 0, src: int = 0, imm: int = 0, jump: bool = False) -> None:
        self.ops.append((op, dst, src, imm, jump))

    def encode(self) -> bytes:
        out = b""
        n = len(self.ops)
        for i, (op, dst, src, imm, jump) in enumerate(self.ops):
            # Offsets count from the next instruction: the next block starts at n.
            off = n - (i + 1) if jump else 0
            out += insn(op, dst, src, off, imm)
        return out


def _rule_block(typ: str, major: int, minor: int, access: str, verdict: bool) -> bytes:
    b = _Block()
    b.add(_JNE_K, dst=2, imm=DEVCG_DEV_CHAR if typ == "c" else DEVCG_DEV_BLOCK, jump=True)
    bits = 0
    for c in access:
        bits |= _ACCESS_BITS[c]
    if bits != _ALL_ACCESS:
        b.add(_ALU32_MOV_X, dst=1, src=3)
        b.add(_ALU32_AND_K, dst=1, imm=bits)
        if verdict:
            # Allow exception: every requested bit must be granted, (R3 & bits) == R3.
            b.add(_JNE_X, dst=1, src=3, jump=True)
        else:
            # Deny exception: any overlap denies, (R3 & bits) != 0 (v1 kernel semantics).
            b.add(_JEQ_K, dst=1, imm=0, jump=True)
    if major >= 0:
        b.add(_JNE_K, dst=4, imm=_imm32(major), jump=True)
    if minor >= 0:
        b.add(_JNE_K, dst=5, imm=_imm32(minor), jump=True)
    b.add(_ALU32_MOV_K, dst=0, imm=1 if verdict else 0)
    b.add(_EXIT)
    return b.encode()


def _imm32(n: int) -> int:
    """Device numbers are u32; the immediate is a signed 32-bit field."""
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n >= 1 << 31 else n


def program_from_emulator(emu: Emulator) -> bytes:
    """The program for an emulated rule set."""
    code = b"".join(
        [
            insn(_LDX_MEM_W, dst=2, src=1, off=0),  # R2 = ctx->access_type
            insn(_ALU32_AND_K, dst=2, imm=0xFFFF),  # R2 &= 0xffff (type)
            insn(_LDX_MEM_W, dst=3, src=1, off=0),  # R3 = ctx->access_type
            insn(_ALU32_RSH_K, dst=3, imm=16),  # R3 >>= 16 (access)
            insn(_LDX_MEM_W, dst=4, src=1, off=4),  # R4 = ctx->major
            insn(_LDX_MEM_W, dst=5, src=1, off=8),  # R5 = ctx->minor
        ]
    )
    # Sorted for a deterministic program; every exception has the same verdict, so
    # their order does not change the result.
    for (typ, major, minor), access in sorted(emu.exceptions.items()):
        code += _rule_block(typ, major, minor, access, not emu.default_allow)
    code += insn(_ALU32_MOV_K, dst=0, imm=1 if emu.default_allow else 0)
    code += insn(_EXIT)
    return code


def device_program(rules: list[DeviceRule]) -> bytes:
    """Compile device rules (applied in order, v1 semantics) to eBPF bytes."""
    return program_from_emulator(emulate(rules))


def run_program(code: bytes, typ: str, major: int, minor: int, access: str) -> bool:
    """Interpret ``code`` for one access (tests: checks the bytes we generate).

    Supports exactly the instructions this module emits.
    """
    dev_type = DEVCG_DEV_CHAR if typ == "c" else DEVCG_DEV_BLOCK
    acc = 0
    for c in access:
        acc |= _ACCESS_BITS[c]
    ctx = struct.pack("<III", dev_type | (acc << 16), major, minor)
    regs = [0] * 11
    pc = 0
    count = len(code) // 8
    while pc < count:
        op, regbyte, off, imm = struct.unpack_from("<BBhi", code, pc * 8)
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if op == _LDX_MEM_W:
            assert src == 1
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif op == _ALU32_AND_K:
            regs[dst] = regs[dst] & (imm & 0xFFFFFFFF)
        elif op == _ALU32_RSH_K:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif op == _ALU32_MOV_K:
            regs[dst] = imm & 0xFFFFFFFF
        elif op == _ALU32_MOV_X:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif op == _JNE_K:
            # 64-bit compare against the sign-extended immediate.
            if regs[dst] != imm & 0xFFFFFFFFFFFFFFFF:
                pc += off
        elif op == _JEQ_K:
            if regs[dst] == imm & 0xFFFFFFFFFFFFFFFF:
                pc += off
        elif op == _JNE_X:
            if regs[dst] != regs[src]:
                pc += off
        elif op == _EXIT:
            return regs[0] == 1
        else:
            raise ValueError(f"unexpected opcode {op:#x} at {pc - 1}")
    raise ValueError("program fell off the end")
