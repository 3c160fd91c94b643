"""Compile an OCI ``linux.seccomp`` profile into a classic BPF program with libseccomp.

Owns: the mapping of runtime-spec seccomp names (actions, operators, architectures, flags) to
libseccomp, the validation of the profile with precise JSON paths, the export of the BPF
program, an optional on-disk cache of compiled programs, and the seccomp part of the
``features`` document.
Must not touch: loading the filter (the C child does that with seccomp(2)), the notify
listener socket, or anything in the container. No BPF is written by hand here: libseccomp
generates every instruction.

The compiled libseccomp binding (``pyruntime._libseccomp``) is imported lazily on first use,
so paths without a seccomp profile never load libseccomp.
"""

from __future__ import annotations

import errno as errno_mod
import posix
import stat
import struct

from pyruntime import log, pathops
from pyruntime.errors import SpecError
from pyruntime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import ModuleType
    from typing import Any

ROOT_PATH = "linux.seccomp"

# Names the runtime-spec (v1.2) allows; their order is the spec's order.
ACTIONS: tuple[str, ...] = (
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
)
# Actions that carry a return code ("errnoRet"); the spec requires an error for the others.
ERRNO_ACTIONS = frozenset({"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"})

OPERATORS: tuple[str, ...] = (
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)

ARCHS: tuple[str, ...] = (
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
)

FLAG_TSYNC = "SECCOMP_FILTER_FLAG_TSYNC"
FLAG_LOG = "SECCOMP_FILTER_FLAG_LOG"
FLAG_SPEC_ALLOW = "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
FLAG_WAIT_KILLABLE_RECV = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
KNOWN_FLAGS: tuple[str, ...] = (FLAG_TSYNC, FLAG_LOG, FLAG_SPEC_ALLOW, FLAG_WAIT_KILLABLE_RECV)

MAX_ARGS = 6  # a Linux syscall has at most six arguments
MAX_RET_DATA = 0xFFFF  # SECCOMP_RET_DATA: the return code is the low 16 bits of the action
UINT64_MAX = (1 << 64) - 1

# runc turns on libseccomp's binary-tree layout above this many rules: libseccomp <= 2.5.4
# misbehaves with the tree and no rules, and the tree only pays off for long profiles.
BINARY_TREE_MIN_RULES = 32

SOCK_FILTER_SIZE = 8  # sizeof(struct sock_filter)


class CompiledFilter(Record):
    """A seccomp filter ready for ``seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)``.

    ``bpf`` is the array of ``struct sock_filter`` (native endian), ``length`` its number of
    instructions. ``flags`` are the SECCOMP_FILTER_FLAG_* bits to pass verbatim; they already
    include NEW_LISTENER when ``listener`` is true, in which case the returned fd must be sent
    to ``listener_path``. ``before_privilege_drop`` is true when no_new_privs is off: then the
    kernel only accepts the filter from a task with CAP_SYS_ADMIN, so (as runc does) the child
    must load it before dropping capabilities and changing uid, not just before exec.
    """

    __slots__ = ("bpf", "length", "flags", "listener", "listener_path", "listener_metadata",
                 "before_privilege_drop")
    bpf: bytes
    length: int
    flags: int
    listener: bool
    listener_path: str
    listener_metadata: str
    before_privilege_drop: bool


class _Arg(Record):
    __slots__ = ("arg", "op", "value", "value_two")
    arg: int
    op: str
    value: int
    value_two: int


class _Rule(Record):
    __slots__ = ("path", "names", "action", "errno_ret", "args")
    path: str  # JSON path of the syscalls[] entry, for error messages
    names: tuple[str, ...]
    action: str
    errno_ret: int | None
    args: tuple[_Arg, ...]


_BINDING: list[ModuleType] = []


def _binding() -> ModuleType:
    """Import the compiled libseccomp binding on first use."""
    if not _BINDING:
        try:
            import pyruntime._libseccomp as binding
        except ImportError as e:  # built without libseccomp-dev, or not built at all
            raise SpecError(ROOT_PATH, f"seccomp is not supported by this build: {e}") from e
        _BINDING.append(binding)
    return _BINDING[0]


def _uint(value: object, limit: int) -> int | None:
    """Return ``value`` if it is an integer in 0..limit (bools excluded), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit:
        return value
    return None


def _check_errno_ret(value: object, action: str, path: str) -> int | None:
    """Validate an errnoRet/defaultErrnoRet for ``action``; None when absent."""
    if value is None:
        return None
    if action not in ERRNO_ACTIONS:
        raise SpecError(path, f"{action} does not take an errno return code")
    code = _uint(value, MAX_RET_DATA)
    if code is None:
        raise SpecError(path, f"errno return code must be 0..{MAX_RET_DATA}, got {value!r}")
    return code


def _check_action(value: object, path: str) -> str:
    if not isinstance(value, str) or value not in ACTIONS:
        raise SpecError(path, f"unknown action {value!r}")
    return value


def _parse_args(raw: object, path: str) -> tuple[_Arg, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, (list, tuple)):
        raise SpecError(path, "must be an array")
    args = []
    for i, item in enumerate(raw):
        ipath = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise SpecError(ipath, "must be an object")
        index = _uint(item.get("index"), MAX_ARGS - 1)
        if index is None:
            got = item.get("index")
            raise SpecError(f"{ipath}.index", f"must be 0..{MAX_ARGS - 1}, got {got!r}")
        op = item.get("op")
        if not isinstance(op, str) or op not in OPERATORS:
            raise SpecError(f"{ipath}.op", f"unknown operator {op!r}")
        values = []
        for key, default in (("value", None), ("valueTwo", 0)):
            v = _uint(item.get(key, default), UINT64_MAX)
            if v is None:
                raise SpecError(f"{ipath}.{key}", f"must be a uint64, got {item.get(key)!r}")
            values.append(v)
        args.append(_Arg(index, op, values[0], values[1]))
    return tuple(args)


def _parse_rules(raw: object) -> list[_Rule]:
    """Validate ``syscalls`` into rules, without touching libseccomp."""
    path = f"{ROOT_PATH}.syscalls"
    if raw is None:
        return []
    if not isinstance(raw, (list, tuple)):
        raise SpecError(path, "must be an array")
    rules = []
    for i, entry in enumerate(raw):
        epath = f"{path}[{i}]"
        if not isinstance(entry, dict):
            raise SpecError(epath, "must be an object")
        names = entry.get("names")
        if not isinstance(names, (list, tuple)) or not names:
            raise SpecError(f"{epath}.names", "must be a non-empty array of syscall names")
        for j, name in enumerate(names):
            if not isinstance(name, str) or not name:
                raise SpecError(f"{epath}.names[{j}]", f"invalid syscall name {name!r}")
        action = _check_action(entry.get("action"), f"{epath}.action")
        errno_ret = _check_errno_ret(entry.get("errnoRet"), action, f"{epath}.errnoRet")
        args = _parse_args(entry.get("args"), f"{epath}.args")
        rules.append(_Rule(epath, tuple(names), action, errno_ret, args))
    return rules


def _parse_flags(raw: object) -> list[str]:
    """Validate ``flags``; absent means runc's default of SPEC_ALLOW when the host allows it."""
    path = f"{ROOT_PATH}.flags"
    if raw is None:
        # As runc: with no "flags" key at all (not even []), ask for SPEC_ALLOW, otherwise
        # loading any filter makes the kernel force the costly speculative-store-bypass
        # mitigation on the container (the spec leaves the default to the runtime).
        return [FLAG_SPEC_ALLOW] if FLAG_SPEC_ALLOW in supported_flags() else []
    if not isinstance(raw, (list, tuple)):
        raise SpecError(path, "must be an array")
    for i, flag in enumerate(raw):
        if flag not in KNOWN_FLAGS:
            raise SpecError(f"{path}[{i}]", f"unknown seccomp flag {flag!r}")
    return list(raw)


def action_value(action: str, errno_ret: int | None) -> int:
    """Return libseccomp's 32-bit action for a spec action name (EPERM when no errno given)."""
    lib = _binding().lib
    code = errno_mod.EPERM if errno_ret is None else errno_ret
    if action == "SCMP_ACT_ERRNO":
        return int(lib.pyrt_scmp_act_errno(code))
    if action == "SCMP_ACT_TRACE":
        return int(lib.pyrt_scmp_act_trace(code))
    # SCMP_ACT_KILL is the historical name of KILL_THREAD (same value in libseccomp).
    return int(
        {
            "SCMP_ACT_KILL": lib.SCMP_ACT_KILL,
            "SCMP_ACT_KILL_THREAD": lib.SCMP_ACT_KILL_THREAD,
            "SCMP_ACT_KILL_PROCESS": lib.SCMP_ACT_KILL_PROCESS,
            "SCMP_ACT_TRAP": lib.SCMP_ACT_TRAP,
            "SCMP_ACT_ALLOW": lib.SCMP_ACT_ALLOW,
            "SCMP_ACT_LOG": lib.SCMP_ACT_LOG,
            "SCMP_ACT_NOTIFY": lib.SCMP_ACT_NOTIFY,
        }[action]
    )


def arch_token(name: str) -> int:
    """Return libseccomp's token for a spec arch name, 0 if this libseccomp lacks it."""
    # Spec names are libseccomp's macro names; libseccomp resolves the lower-case suffix.
    suffix = name.removeprefix("SCMP_ARCH_").lower()
    return int(_binding().lib.seccomp_arch_resolve_name(suffix.encode()))


def _err(rc: int) -> str:
    return posix.strerror(-rc) if rc < 0 else f"error {rc}"


def _conditions(args: tuple[_Arg, ...]) -> list[tuple[_Arg, ...]]:
    """Split a rule's args into the condition sets to add, each a separate (OR-ed) rule.

    libseccomp ANDs the conditions of one rule and refuses two on the same argument, so,
    like runc, when several conditions name the same argument each becomes its own rule.
    """
    if not args:
        return [()]
    indexes = [a.arg for a in args]
    if len(set(indexes)) != len(indexes):
        return [(a,) for a in args]
    return [args]


def _add_rule(ffi: Any, lib: Any, ctx: Any, rule: _Rule, act: int, nr: int, name: str) -> None:
    """Add one syscall's rule(s) to the filter; a libseccomp refusal becomes a SpecError."""
    ops = {op: getattr(lib, op) for op in OPERATORS} if rule.args else {}
    for conds in _conditions(rule.args):
        arr = ffi.new("struct scmp_arg_cmp[]", max(len(conds), 1))
        for k, a in enumerate(conds):
            arr[k].arg = a.arg
            arr[k].op = ops[a.op]
            arr[k].datum_a = a.value
            arr[k].datum_b = a.value_two
        rc = lib.seccomp_rule_add_array(ctx, act, nr, len(conds), arr)
        if rc < 0:
            raise SpecError(rule.path, f"cannot add rule for syscall {name}: {_err(rc)}")


def _export(lib: Any, ctx: Any) -> bytes:
    """Export the BPF program: libseccomp 2.5 can only write it to a file descriptor."""
    fd = posix.memfd_create("pyruntime-seccomp", posix.MFD_CLOEXEC)
    try:
        rc = lib.seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise SpecError(ROOT_PATH, f"cannot export seccomp filter: {_err(rc)}")
        size = posix.fstat(fd).st_size
        chunks = []
        offset = 0
        while offset < size:
            chunk = posix.pread(fd, size - offset, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks)
    finally:
        posix.close(fd)


def compile_filter(
    seccomp: Mapping[str, Any], *, no_new_privs: bool, cache_dir: str | None = None
) -> CompiledFilter:
    """Compile the ``linux.seccomp`` object of config.json into a loadable BPF filter.

    Unknown syscall names are skipped with a debug log (runc does the same: they are usually
    syscalls this libseccomp or architecture does not have). The caller sets no_new_privs
    itself; libseccomp's own NNP handling is turned off.

    With ``cache_dir`` (a root-only directory, created 0700 if missing) a profile compiled
    once is reused: libseccomp needs ~15 ms for Docker's default profile, a cache hit <1 ms.

    Raises:
        SpecError: an unknown or unusable action, operator, architecture or flag, an errno
            return code on an action that has none, a rule libseccomp refuses, or a program
            longer than the kernel accepts. The error's path names the offending value.
    """
    if not isinstance(seccomp, dict):
        raise SpecError(ROOT_PATH, "must be an object")
    key = _cache_key(seccomp) if cache_dir else None
    if key is not None and cache_dir is not None:
        hit = _cache_load(cache_dir, key)
        if hit is not None:
            return _finish(seccomp, hit[0], hit[1], no_new_privs)
    bpf, kernel_flags = _build(_validate(seccomp))
    if key is not None and cache_dir is not None:
        _cache_store(cache_dir, key, kernel_flags, bpf)
    return _finish(seccomp, bpf, kernel_flags, no_new_privs)


class _Profile(Record):
    __slots__ = ("default", "default_errno", "rules", "flags", "archs", "listener")
    default: str
    default_errno: int | None
    rules: list[_Rule]
    flags: list[str]
    archs: Sequence[object]
    listener: bool


def _validate(seccomp: Mapping[str, Any]) -> _Profile:
    """Check everything that does not need libseccomp, with the JSON path of each error."""
    default = _check_action(seccomp.get("defaultAction"), f"{ROOT_PATH}.defaultAction")
    default_errno = _check_errno_ret(
        seccomp.get("defaultErrnoRet"), default, f"{ROOT_PATH}.defaultErrnoRet"
    )
    if default == "SCMP_ACT_NOTIFY":
        # The child itself still makes syscalls after loading (it must hand over the listener
        # fd), so a notify-everything filter would deadlock it; runc refuses it too.
        raise SpecError(f"{ROOT_PATH}.defaultAction", "SCMP_ACT_NOTIFY cannot be the default")
    rules = _parse_rules(seccomp.get("syscalls"))
    listener = any(r.action == "SCMP_ACT_NOTIFY" for r in rules)
    listener_path = seccomp.get("listenerPath") or ""
    listener_metadata = seccomp.get("listenerMetadata") or ""
    if not isinstance(listener_path, str) or not isinstance(listener_metadata, str):
        raise SpecError(f"{ROOT_PATH}.listenerPath", "listener fields must be strings")
    if listener_metadata and not listener_path:
        raise SpecError(f"{ROOT_PATH}.listenerMetadata", "must not be set without listenerPath")
    for r in rules:
        if r.action == "SCMP_ACT_NOTIFY" and "write" in r.names:
            # Same reason as above: the child needs write() to report and hand over the fd.
            raise SpecError(f"{r.path}.action", "SCMP_ACT_NOTIFY cannot be used for write")
    if listener and not listener_path:
        raise SpecError(f"{ROOT_PATH}.listenerPath", "must be set when SCMP_ACT_NOTIFY is used")
    archs = seccomp.get("architectures") or []
    if not isinstance(archs, (list, tuple)):
        raise SpecError(f"{ROOT_PATH}.architectures", "must be an array")
    flags = _parse_flags(seccomp.get("flags"))
    return _Profile(default, default_errno, rules, flags, archs, listener)


def _build(profile: _Profile) -> tuple[bytes, int]:
    """Let libseccomp build the filter; return (BPF program, seccomp(2) flags)."""
    binding = _binding()
    ffi, lib = binding.ffi, binding.lib
    default_act = action_value(profile.default, profile.default_errno)
    ctx = lib.seccomp_init(default_act)
    if ctx == ffi.NULL:  # e.g. an action this kernel does not offer
        raise SpecError(f"{ROOT_PATH}.defaultAction", f"libseccomp refused {profile.default}")
    try:
        kernel_flags = _apply_flags(lib, ctx, profile.flags, profile.listener)
        _apply_archs(lib, ctx, profile.archs)
        if sum(len(r.names) for r in profile.rules) > BINARY_TREE_MIN_RULES:
            # Best effort: an older libseccomp without the tree still builds a valid filter.
            lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_OPTIMIZE, 2)
        unknown: list[str] = []
        for rule in profile.rules:
            act = action_value(rule.action, rule.errno_ret)
            if act == default_act:
                continue  # redundant; libseccomp would reject it with EACCES
            for name in rule.names:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == lib.__NR_SCMP_ERROR:
                    unknown.append(name)
                    continue
                _add_rule(ffi, lib, ctx, rule, act, nr, name)
        if unknown:
            log.debug(f"seccomp: skipped syscalls unknown to libseccomp: {', '.join(unknown)}")
        bpf = _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)

    length = len(bpf) // SOCK_FILTER_SIZE
    if length == 0 or len(bpf) % SOCK_FILTER_SIZE:
        raise SpecError(ROOT_PATH, f"libseccomp exported a malformed program ({len(bpf)} bytes)")
    if length > lib.BPF_MAXINSNS:
        limit = lib.BPF_MAXINSNS
        raise SpecError(ROOT_PATH, f"filter has {length} instructions, the limit is {limit}")
    return bpf, kernel_flags


def _finish(
    seccomp: Mapping[str, Any], bpf: bytes, flags: int, no_new_privs: bool
) -> CompiledFilter:
    """Wrap a program (fresh or cached) with the fields that come straight from the profile."""
    syscalls = seccomp.get("syscalls") or ()
    return CompiledFilter(
        bpf=bpf,
        length=len(bpf) // SOCK_FILTER_SIZE,
        flags=flags,
        listener=any(r.get("action") == "SCMP_ACT_NOTIFY" for r in syscalls),
        listener_path=seccomp.get("listenerPath") or "",
        listener_metadata=seccomp.get("listenerMetadata") or "",
        before_privilege_drop=not no_new_privs,
    )


# Bump when the way a profile turns into BPF changes, so stale cache entries are never used.
_CACHE_FORMAT = 1
_CACHE_MAGIC = b"PRSC"
_CACHE_HEADER = struct.Struct("=4sII")  # magic, seccomp(2) flags, instruction count


def _cache_key(seccomp: Mapping[str, Any]) -> str | None:
    """Hash everything the compiled program depends on; None if the profile is not JSON.

    Cheap on purpose (a cache hit must not load libseccomp): the binding and the library are
    named by their files' identity, the kernel (which decides the supported flags) by its
    release, the architecture by uname.
    """
    from pyruntime.jsonio import dumps

    try:
        profile = dumps(_sorted(seccomp))
    except (TypeError, ValueError):
        return None  # let the normal path report what is wrong with it
    here = pathops.dirname(__file__)
    parts = [str(_CACHE_FORMAT), posix.uname().release, posix.uname().machine]
    bindings = [pathops.join(here, n) for n in posix.listdir(here) if n.startswith("_libseccomp.")]
    for path in [__file__, *_LIBSECCOMP_FILES, *bindings]:
        try:
            real = pathops.realpath(path)
            st = posix.stat(real)
            parts.append(f"{real}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            continue
    return _sha256_hex("|".join(parts).encode() + b"|" + profile.encode())


_LIBSECCOMP_FILES = ("/lib/x86_64-linux-gnu/libseccomp.so.2",
                     "/usr/lib/x86_64-linux-gnu/libseccomp.so.2",
                     "/lib/aarch64-linux-gnu/libseccomp.so.2",
                     "/usr/lib/aarch64-linux-gnu/libseccomp.so.2",
                     "/usr/lib64/libseccomp.so.2", "/usr/lib/libseccomp.so.2")


def _sorted(value: Any) -> Any:
    """The same document with object keys sorted (a canonical form to hash)."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_sorted(v) for v in value]
    return value


def _sha256_hex(data: bytes) -> str:
    try:
        # The builtin module avoids loading OpenSSL (~2.5 ms) just to name a cache file.
        from _sha256 import sha256 as sha  # type: ignore[import-not-found]
    except ImportError:  # not CPython, or built without it
        import hashlib

        sha = hashlib.sha256
    return str(sha(data).hexdigest())


def _cache_load(cache_dir: str, key: str) -> tuple[bytes, int] | None:
    """Return (bpf, flags) from the cache, or None on any miss or doubt."""
    try:
        how = posix.O_RDONLY | posix.O_NOFOLLOW | posix.O_CLOEXEC
        fd = posix.open(pathops.join(cache_dir, key), how)
    except OSError:
        return None
    try:
        st = posix.fstat(fd)
        # Only trust a file that only we could have written: a forged entry would be a
        # seccomp bypass for every container using this profile.
        if st.st_uid != posix.geteuid() or st.st_mode & 0o022 or not stat.S_ISREG(st.st_mode):
            return None
        data = posix.read(fd, st.st_size + 1)
    finally:
        posix.close(fd)
    if len(data) < _CACHE_HEADER.size:
        return None
    magic, flags, length = _CACHE_HEADER.unpack_from(data)
    bpf = data[_CACHE_HEADER.size :]
    if magic != _CACHE_MAGIC or length == 0 or len(bpf) != length * SOCK_FILTER_SIZE:
        return None
    return bpf, flags


def _cache_store(cache_dir: str, key: str, flags: int, bpf: bytes) -> None:
    """Write an entry atomically; failures only cost the next caller a recompile."""
    try:
        pathops.makedirs(cache_dir, mode=0o700, exist_ok=True)
        st = posix.lstat(cache_dir)
        if st.st_uid != posix.geteuid() or st.st_mode & 0o022 or not stat.S_ISDIR(st.st_mode):
            log.debug(f"seccomp: cache dir {cache_dir} is not private, not caching")
            return
        tmp = pathops.join(cache_dir, f".{key}.{posix.getpid()}.tmp")
        data = _CACHE_HEADER.pack(_CACHE_MAGIC, flags, len(bpf) // SOCK_FILTER_SIZE) + bpf
        fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[posix.write(fd, view) :]
        except OSError:
            posix.unlink(tmp)
            raise
        finally:
            posix.close(fd)
        posix.replace(tmp, pathops.join(cache_dir, key))
    except OSError as e:
        log.debug(f"seccomp: cannot cache compiled filter in {cache_dir}: {e}")


def _apply_flags(lib: Any, ctx: Any, flags: list[str], listener: bool) -> int:
    """Set filter attributes and return the SECCOMP_FILTER_FLAG_* bits for seccomp(2)."""
    # NNP off: no_new_privs is the child's business (process.noNewPrivileges), never a side
    # effect of seccomp. The attribute only matters to seccomp_load, kept off for clarity.
    lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_NNP, 0)
    bits = lib.SECCOMP_FILTER_FLAG_NEW_LISTENER if listener else 0
    path = f"{ROOT_PATH}.flags"
    for i, flag in enumerate(flags):
        if flag == FLAG_TSYNC:
            continue  # the child is single-threaded when it loads the filter (runc ignores it too)
        if flag == FLAG_WAIT_KILLABLE_RECV:
            if flag not in supported_flags():
                raise SpecError(f"{path}[{i}]", f"{flag} is not supported by this kernel")
            if listener:
                bits |= lib.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            else:
                # The kernel only accepts it together with NEW_LISTENER, and it only changes how
                # notifications wait, so without a notify rule it has nothing to do.
                log.debug(f"seccomp: {flag} ignored, no SCMP_ACT_NOTIFY rule")
            continue
        attr, bit = (
            (lib.SCMP_FLTATR_CTL_LOG, lib.SECCOMP_FILTER_FLAG_LOG)
            if flag == FLAG_LOG
            else (lib.SCMP_FLTATR_CTL_SSB, lib.SECCOMP_FILTER_FLAG_SPEC_ALLOW)
        )
        # libseccomp checks kernel support when the attribute is set.
        rc = lib.seccomp_attr_set(ctx, attr, 1)
        if rc < 0:
            raise SpecError(f"{path}[{i}]", f"{flag} is not supported here: {_err(rc)}")
        bits |= bit
    return int(bits)


def _apply_archs(lib: Any, ctx: Any, archs: Sequence[object]) -> None:
    """Add the listed architectures; the native one is always in a new filter."""
    for i, name in enumerate(archs):
        path = f"{ROOT_PATH}.architectures[{i}]"
        if not isinstance(name, str) or name not in ARCHS:
            raise SpecError(path, f"unknown architecture {name!r}")
        token = arch_token(name)
        if token == 0:
            raise SpecError(path, f"{name} is not supported by libseccomp {library_version()}")
        rc = lib.seccomp_arch_add(ctx, token)
        if rc < 0 and rc != -errno_mod.EEXIST:
            raise SpecError(path, f"cannot add architecture {name}: {_err(rc)}")


def library_version() -> str:
    """Return the libseccomp version linked in, e.g. ``2.5.4``."""
    v = _binding().lib.seccomp_version()
    return f"{v.major}.{v.minor}.{v.micro}"


_SUPPORTED: list[tuple[str, ...]] = []


def supported_flags() -> tuple[str, ...]:
    """Return the known flags that this kernel and libseccomp accept (probed once)."""
    if not _SUPPORTED:
        _SUPPORTED.append(_probe_flags())
    return _SUPPORTED[0]


def _probe_flags() -> tuple[str, ...]:
    binding = _binding()
    ffi, lib = binding.ffi, binding.lib
    out = [FLAG_TSYNC]  # accepted and ignored, as runc does
    ctx = lib.seccomp_init(lib.SCMP_ACT_ALLOW)
    if ctx == ffi.NULL:
        return tuple(out)
    try:
        if lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_LOG, 1) == 0:
            out.append(FLAG_LOG)
        if lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_SSB, 1) == 0:
            out.append(FLAG_SPEC_ALLOW)
    finally:
        lib.seccomp_release(ctx)
    # libseccomp 2.5 has no attribute for it; ask the kernel directly (EFAULT = flags valid).
    probe = lib.SECCOMP_FILTER_FLAG_NEW_LISTENER | lib.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    if lib.pyrt_seccomp_flags_probe(probe) == errno_mod.EFAULT:
        out.append(FLAG_WAIT_KILLABLE_RECV)
    return tuple(out)


def features() -> dict[str, Any]:
    """Return the ``linux.seccomp`` object of the runtime-spec features document."""
    try:
        _binding()
    except SpecError:
        return {"enabled": False}
    return {
        "enabled": True,
        "actions": sorted(ACTIONS),
        "operators": sorted(OPERATORS),
        "archs": sorted(a for a in ARCHS if arch_token(a) != 0),
        "knownFlags": list(KNOWN_FLAGS),
        "supportedFlags": list(supported_flags()),
    }


def features_annotations() -> dict[str, str]:
    """Return the features annotations runc reports for seccomp (the libseccomp version)."""
    try:
        return {"io.github.seccomp.libseccomp.version": library_version()}
    except SpecError:
        return {}
