"""One file holding every pyruntime module's bytecode, for the `pyruntime` launcher.

A normal import looks for each module on disk (a stat of its directory and its file, a stat
of the source, then open, fstat, read and close of the .pyc) and runs importlib's generic
path machinery: ~0.13 ms a module here, and `run` imports about thirty of ours. The launcher
instead reads the small index of `modules.bundle` once, and serves each of our modules with
one stat of its source and one open, pread and close of the bundle.

The bundle is built after installation (`python3 -m pyruntime.install`, which `.ci/setup`
runs). A module is served from it only while its source file still has the size and mtime
recorded at build time: an edited file is imported normally, so the bundle can be stale but
never wrong. Packages keep their real `__path__` and modules their real
`__file__`, so extension modules and data files next to them are found as usual.

Modules are compiled with the `annotations` future flag set and their
`from __future__ import annotations` line blanked: same code, but no import of `__future__`
when they run (0.1-0.2 ms a call). This module and `pyruntime/__init__.py` load before the
bundle, so they do without the future import.

Owns: building the bundle, and the meta-path finder the launcher installs.
Must not touch: anything else (tests and library users import normally).
"""

import marshal
import posix
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import CodeType, ModuleType

BUNDLE = "modules.bundle"
_MAGIC = b"pyrt-bundle-2\n"
_ModuleSpec = type(sys.__spec__)  # importlib's ModuleSpec, without importing importlib

# name -> (source path, is package, source mtime_ns, source size, code offset, code length)
Index = dict[str, tuple[str, bool, int, int, int, int]]


class BundleFinder:
    """Finds `pyruntime.*` modules in the bundle (a meta-path finder and its loader).

    Only the small index is read up front; a module's code is read when it is imported. No
    fd stays open in between: it could be taken for one of --preserve-fds or LISTEN_FDS.
    """

    def __init__(self, path: str, index: "Index") -> None:
        self.path = path
        self.index = index

    def find_spec(self, name: str, path: "Sequence[str] | None" = None,
                  target: "ModuleType | None" = None) -> "ModuleSpec | None":
        """A spec when the module is bundled and its source is unchanged, else None."""
        entry = self.index.get(name)
        if entry is None:
            return None
        source, is_pkg, mtime_ns, size = entry[:4]
        try:
            st = posix.stat(source)
        except OSError:
            return None
        if st.st_mtime_ns != mtime_ns or st.st_size != size:
            return None
        spec: ModuleSpec = _ModuleSpec(name, self, origin=source,  # type: ignore[arg-type]
                                       is_package=is_pkg)
        spec.has_location = True
        if is_pkg:
            spec.submodule_search_locations = [source.rpartition("/")[0]]
        return spec

    def create_module(self, spec: "ModuleSpec") -> None:
        """Default module creation."""
        return None

    def exec_module(self, module: "ModuleType") -> None:
        """Run the module's bundled code in its namespace."""
        offset, length = self.index[module.__name__][4:]
        fd = posix.open(self.path, posix.O_RDONLY | posix.O_CLOEXEC)
        try:
            code = posix.pread(fd, length, offset)
        finally:
            posix.close(fd)
        exec(marshal.loads(code), module.__dict__)


def install(package_dir: str) -> bool:
    """Put a finder for the bundle in package_dir first on sys.meta_path; False if none."""
    path = f"{package_dir}/{BUNDLE}"
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return False
    try:
        head = posix.pread(fd, len(_MAGIC) + 8, 0)
        if len(head) != len(_MAGIC) + 8 or not head.startswith(_MAGIC):
            raise ValueError("not a bundle")
        length = int.from_bytes(head[len(_MAGIC):], "little")
        if length > posix.fstat(fd).st_size:
            raise ValueError("truncated bundle")
        version, index = marshal.loads(posix.pread(fd, length, len(head)))
        if version != sys.hexversion or not isinstance(index, dict):
            raise ValueError("another interpreter's bundle")
    except (OSError, EOFError, ValueError, TypeError):
        return False
    finally:
        posix.close(fd)
    sys.meta_path.insert(0, BundleFinder(path, index))
    return True


FUTURE_LINE = b"\nfrom __future__ import annotations\n"


def _compile(text: bytes, source: str) -> "CodeType":
    """Compile a module; its future import becomes a compiler flag (line numbers kept)."""
    import __future__

    flags = 0
    if FUTURE_LINE in text:
        text = text.replace(FUTURE_LINE, b"\n\n", 1)
        flags = __future__.annotations.compiler_flag
    code: CodeType = compile(text, source, "exec", flags=flags, dont_inherit=True, optimize=0)
    return code


def build(package_dir: str) -> int:
    """Compile every module under package_dir into package_dir/modules.bundle; returns count."""
    import os

    root = os.path.dirname(os.path.abspath(package_dir))
    meta: dict[str, tuple[str, bool, int, int]] = {}
    codes: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(os.path.abspath(package_dir)):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for filename in sorted(filenames):
            if not filename.endswith(".py"):
                continue
            source = os.path.join(dirpath, filename)
            parts = os.path.relpath(source, root)[:-3].split(os.sep)
            is_pkg = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_pkg else parts)
            with open(source, "rb") as f:
                text = f.read()
            st = os.stat(source)
            code = _compile(text, source)
            meta[name] = (source, is_pkg, st.st_mtime_ns, st.st_size)
            codes[name] = marshal.dumps(code)
    # offsets depend on the index's own length, which depends on the offsets' sizes:
    # lay out with a fixed-width guess, then again until the index stops growing
    head_len = 0
    while True:
        offset = len(_MAGIC) + 8 + head_len
        index: Index = {}
        for name, blob in codes.items():
            index[name] = (*meta[name], offset, len(blob))
            offset += len(blob)
        head = marshal.dumps((sys.hexversion, index))
        if len(head) == head_len:
            break
        head_len = len(head)
    path = os.path.join(package_dir, BUNDLE)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(_MAGIC + len(head).to_bytes(8, "little") + head + b"".join(codes.values()))
    os.replace(tmp, path)
    return len(codes)
