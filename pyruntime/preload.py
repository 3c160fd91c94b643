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
`__file__`, so data files next to them are found as usual.

The index also names the extension modules the hot paths load (`_json`, `_cffi_backend`,
`pyruntime._shim`), with the same staleness check: they are loaded from their recorded file
without the directory listings a path search makes on first use (0.1-0.3 ms each).

The bundle's head carries this module's own code too, so that the tuned launcher can start
the finder without importing `pyruntime` and this module through the path machinery
(0.25 ms a call): see `adopt` and the launcher template, pyruntime/cli/bin/pyruntime. It
also carries that launcher's own code, compiled, when pyruntime.install built it: the
installed launcher is then a few lines that run it, and no call compiles it (0.1-0.2 ms).

Layout: MAGIC, the head's length (8 bytes, little-endian), the head
(`marshal((sys.hexversion, index, this module's code, the launcher's code or None))`),
then the modules' code blobs.

pyruntime/bundler.py builds the bundle (at install only: its code is not in the head that
every call unmarshals). This module and `pyruntime/__init__.py` load before the bundle, so
they do without `from __future__ import annotations`.

Owns: the bundle's layout and the meta-path finder the launcher installs.
Must not touch: anything else (tests and library users import normally).
"""

import marshal
import posix
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any

BUNDLE = "modules.bundle"
MAGIC = b"pyrt-bundle-4\n"
HEAD_AT = len(MAGIC) + 8  # the head starts here; the 8 bytes before it hold its length
EXTENSION = -1  # the code offset of an index entry that is an extension module
_ModuleSpec = type(sys.__spec__)  # importlib's ModuleSpec, without importing importlib
_MISSING = object()

# name -> (file, is package, file mtime_ns, file size, code offset or EXTENSION, code length)
Index = dict[str, tuple[str, bool, int, int, int, int]]


class BundleFinder:
    """Finds `pyruntime.*` modules in the bundle (a meta-path finder and its loader).

    Only the small index is read up front; a module's code is read when it is imported. No
    fd stays open in between: it could be taken for one of --preserve-fds or LISTEN_FDS.
    """

    def __init__(self, path: str, index: "Index") -> None:
        self.path = path
        self.index = index
        # every module's code is read into this one buffer (grown for a larger one): a fresh
        # bytes object per module left holes in the heap that a `run` paid ~50 KB of RSS for
        self.buffer = bytearray(65536)
        self.importlib_find_and_load = _importlib()._find_and_load

    def find_and_load(self, name: str, import_: "Any") -> "ModuleType":
        """importlib's `_find_and_load` (which `adopt` points at this), for bundled modules
        without its generic steps: the same module attributes, parent binding and failure
        handling, but no meta-path walk, per-module lock or `_init_module_attrs` (6-10 µs a
        module). The launcher's process imports from one thread only."""
        entry = self.index.get(name)
        if entry is None or entry[4] == EXTENSION:
            return self.importlib_find_and_load(name, import_)  # type: ignore[no-any-return]
        modules = sys.modules
        module = modules.get(name, _MISSING)
        if module is _MISSING:
            parent, _, child = name.rpartition(".")
            if parent and parent not in modules:
                import_(parent)
                module = modules.get(name, _MISSING)
        if module is not _MISSING:
            if module is None:
                raise ModuleNotFoundError(f"import of {name} halted; None in sys.modules",
                                          name=name)
            return module  # type: ignore[return-value]
        spec: Any = self.find_spec(name)
        if spec is None:
            return self.importlib_find_and_load(name, import_)  # type: ignore[no-any-return]
        module = type(sys)(name)
        module.__spec__ = spec
        module.__loader__ = spec.loader
        if spec.submodule_search_locations is not None:
            module.__package__ = name
            module.__path__ = spec.submodule_search_locations
        else:
            module.__package__ = parent
        spec._initializing = True
        modules[name] = module
        try:
            self.exec_module(module)
        except BaseException:
            modules.pop(name, None)
            raise
        finally:
            spec._initializing = False
        module = modules[name]  # a module may have replaced itself
        if parent:
            setattr(modules[parent], child, module)
        return module

    def find_spec(self, name: str, path: "Sequence[str] | None" = None,
                  target: "ModuleType | None" = None) -> "ModuleSpec | None":
        """A spec when the module is indexed and its file unchanged, else None."""
        entry = self.index.get(name)
        if entry is None:
            return None
        source, is_pkg, mtime_ns, size, offset = entry[:5]
        try:
            st = posix.stat(source)
        except OSError:
            return None
        if st.st_mtime_ns != mtime_ns or st.st_size != size:
            return None
        if offset == EXTENSION:
            import _frozen_importlib_external  # (always loaded: importlib's own)

            loader = _frozen_importlib_external.ExtensionFileLoader(name, source)
            ext: ModuleSpec = _ModuleSpec(name, loader, origin=source)
            ext.has_location = True
            return ext
        # (no has_location: importlib would derive a __cached__ path nobody reads;
        # exec_module sets __file__)
        spec: ModuleSpec = _ModuleSpec(name, self, origin=source,  # type: ignore[arg-type]
                                       is_package=is_pkg)
        if is_pkg:
            spec.submodule_search_locations = [source.rpartition("/")[0]]
        return spec

    def create_module(self, spec: "ModuleSpec") -> None:
        """Default module creation."""
        return None

    def exec_module(self, module: "ModuleType") -> None:
        """Run the module's bundled code in its namespace."""
        entry = self.index[module.__name__]
        source, offset, length = entry[0], entry[4], entry[5]
        buffer = self.buffer
        if len(buffer) < length:
            buffer = self.buffer = bytearray(length)
        view = memoryview(buffer)[:length]
        fd = posix.open(self.path, posix.O_RDONLY | posix.O_CLOEXEC)
        try:
            if posix.preadv(fd, [view], offset) != length:
                raise ImportError(f"{self.path}: truncated at {module.__name__}",
                                  name=module.__name__)
        finally:
            posix.close(fd)
        module.__file__ = source
        exec(marshal.loads(view), module.__dict__)


def adopt(path: str, version: object, index: object) -> bool:
    """Put a finder for the bundle at path (head already read) first on sys.meta_path.

    False, and nothing changed, when the head is another interpreter's or not an index.
    """
    if version != sys.hexversion or not isinstance(index, dict):
        return False
    finder = BundleFinder(path, index)
    sys.meta_path.insert(0, finder)
    _importlib()._find_and_load = finder.find_and_load
    return True


def _importlib() -> "Any":
    """importlib's bootstrap module, the one the interpreter's import statement calls into."""
    return sys.modules["_frozen_importlib"]


def install(package_dir: str) -> bool:
    """Put a finder for the bundle in package_dir first on sys.meta_path; False if none."""
    path = f"{package_dir}/{BUNDLE}"
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return False
    try:
        head = posix.pread(fd, HEAD_AT, 0)
        if len(head) != HEAD_AT or not head.startswith(MAGIC):
            raise ValueError("not a bundle")
        length = int.from_bytes(head[len(MAGIC):], "little")
        if length > posix.fstat(fd).st_size:
            raise ValueError("truncated bundle")
        version, index = marshal.loads(posix.pread(fd, length, HEAD_AT))[:2]
    except (OSError, EOFError, ValueError, TypeError):
        return False
    finally:
        posix.close(fd)
    return adopt(path, version, index)
