"""One file holding every pyruntime module's bytecode, for the `pyruntime` launcher.

A normal import looks for each module on disk (a stat of its directory and its file, a stat
of the source, then open, fstat, read and close of the .pyc) and runs importlib's generic
path machinery: ~0.13 ms a module here, and `run` imports about thirty of ours. The launcher
instead reads `modules.bundle` once and serves our modules from it (~0.05 ms each).

The bundle is built after installation (`python3 -m pyruntime.preload build`, which
`.ci/setup` runs). A module is served from it only while its source file still has the
size and mtime recorded at build time: an edited file is imported normally, so the bundle
can be stale but never wrong. Packages keep their real `__path__` and modules their real
`__file__`, so extension modules and data files next to them are found as usual.

Owns: building the bundle, and the meta-path finder the launcher installs.
Must not touch: anything else (tests and library users import normally).
"""

from __future__ import annotations

import marshal
import posix
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

BUNDLE = "modules.bundle"
_MAGIC = b"pyrt-bundle-1\n"
_ModuleSpec = type(sys.__spec__)  # importlib's ModuleSpec, without importing importlib


class BundleFinder:
    """Finds `pyruntime.*` modules in the bundle (a meta-path finder and its loader)."""

    def __init__(self, entries: dict[str, tuple[str, bool, int, int, bytes]]) -> None:
        self.entries = entries  # name -> (source path, is package, mtime_ns, size, code)

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        """A spec when the module is bundled and its source is unchanged, else None."""
        entry = self.entries.get(name)
        if entry is None:
            return None
        source, is_pkg, mtime_ns, size, _ = entry
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

    def create_module(self, spec: ModuleSpec) -> None:
        """Default module creation."""
        return None

    def exec_module(self, module: ModuleType) -> None:
        """Run the module's bundled code in its namespace."""
        exec(marshal.loads(self.entries[module.__name__][4]), module.__dict__)


def install(package_dir: str) -> bool:
    """Put a finder for the bundle in package_dir first on sys.meta_path; False if none."""
    try:
        with open(f"{package_dir}/{BUNDLE}", "rb") as f:
            data = f.read()
    except OSError:
        return False
    if not data.startswith(_MAGIC):
        return False
    try:
        version, entries = marshal.loads(data[len(_MAGIC):])
    except (EOFError, ValueError, TypeError):
        return False
    if version != sys.hexversion:
        return False
    sys.meta_path.insert(0, BundleFinder(entries))
    return True


def build(package_dir: str) -> int:
    """Compile every module under package_dir into package_dir/modules.bundle; returns count."""
    import os

    root = os.path.dirname(os.path.abspath(package_dir))
    entries = {}
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
            code = compile(text, source, "exec", dont_inherit=True, optimize=0)
            entries[name] = (source, is_pkg, st.st_mtime_ns, st.st_size, marshal.dumps(code))
    path = os.path.join(package_dir, BUNDLE)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(_MAGIC + marshal.dumps((sys.hexversion, entries)))
    os.replace(tmp, path)
    return len(entries)


def main(argv: list[str]) -> int:
    """`python3 -m pyruntime.preload build [PACKAGE_DIR]`: (re)build the bundle."""
    if not argv or argv[0] != "build" or len(argv) > 2:
        sys.stderr.write("usage: python3 -m pyruntime.preload build [PACKAGE_DIR]\n")
        return 2
    import os

    package_dir = argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    n = build(package_dir)
    print(f"pyruntime: {n} modules bundled in {os.path.join(package_dir, BUNDLE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
