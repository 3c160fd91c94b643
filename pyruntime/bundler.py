"""Building `modules.bundle` (pyruntime/preload.py reads it): run by pyruntime.install only.

Modules are compiled with the `annotations` future flag set and their
`from __future__ import annotations` line blanked: same code, but no import of `__future__`
when they run (0.1-0.2 ms a call), and without their docstrings. The head carries
pyruntime/preload.py's own code (the finder), and the launcher's when install gives it.

Owns: compiling, indexing and laying out the bundle.
Must not touch: anything at run time (this module is never imported by a CLI call).
"""

from __future__ import annotations
import __future__

import ast
import marshal
import sys

from pyruntime.preload import BUNDLE, EXTENSION, HEAD_AT, MAGIC, Index

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import CodeType


FUTURE_LINE = b"\nfrom __future__ import annotations\n"
ANNOTATIONS_FLAG = __future__.annotations.compiler_flag


def _compile(text: bytes, source: str) -> CodeType:
    """Compile a module without its docstrings and annotations; its future import becomes a
    compiler flag (line numbers kept).

    Nothing reads a docstring or an annotation at run time (library users import the
    sources, not the bundle), and they are a seventh of the code that every call unmarshals
    (~4.5 µs a KB here) and keeps in memory. Asserts stay (unlike `-OO`).
    """
    flags = 0
    if FUTURE_LINE in text:
        text = text.replace(FUTURE_LINE, b"\n\n", 1)
        flags = ANNOTATIONS_FLAG
    tree = compile(text, source, "exec", flags=flags | ast.PyCF_ONLY_AST, dont_inherit=True)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _drop_signature_annotations(node.args)
            node.returns = None
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            first = body[0] if body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                body[:1] = []
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body[:] = [kept for stmt in body if (kept := _unannotated(stmt)) is not None]
            if not body:
                body.append(ast.Pass())
    ast.fix_missing_locations(tree)
    code: CodeType = compile(tree, source, "exec", flags=flags, dont_inherit=True, optimize=0)
    return code


def _drop_signature_annotations(args: ast.arguments) -> None:
    for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
        if arg is not None:
            arg.annotation = None


def _unannotated(stmt: ast.stmt) -> ast.stmt | None:
    """A module or class body statement without its annotation: `x: T = v` is `x = v`,
    `x: T` is nothing (a local's annotation in a function body is never evaluated)."""
    if not isinstance(stmt, ast.AnnAssign):
        return stmt
    if stmt.value is None:
        return None
    return ast.copy_location(ast.Assign(targets=[stmt.target], value=stmt.value), stmt)


def _extension_file(name: str) -> str | None:
    """The file an importable extension module loads from; None if not one (or builtin)."""
    from importlib.machinery import ExtensionFileLoader
    from importlib.util import find_spec

    spec = find_spec(name)
    if spec is None or not isinstance(spec.loader, ExtensionFileLoader):
        return None
    return spec.origin


def build(package_dir: str, extensions: Sequence[str] = (),
          launcher: CodeType | None = None) -> int:
    """Index every module under package_dir in package_dir/modules.bundle; returns count.

    Python modules are compiled into the bundle, extension modules in the package (and those
    named in `extensions`, wherever they are) are indexed by file; `launcher` goes into the
    head as it is.
    """
    import os
    from importlib.machinery import EXTENSION_SUFFIXES

    root = os.path.dirname(os.path.abspath(package_dir))
    meta: dict[str, tuple[str, bool, int, int]] = {}
    codes: dict[str, bytes] = {}
    files: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(os.path.abspath(package_dir)):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for filename in sorted(filenames):
            source = os.path.join(dirpath, filename)
            dotted = ".".join(os.path.relpath(dirpath, root).split(os.sep))
            suffix = next((s for s in EXTENSION_SUFFIXES if filename.endswith(s)), None)
            if suffix is not None:
                files[f"{dotted}.{filename[:-len(suffix)]}"] = source
                continue
            if not filename.endswith(".py"):
                continue
            is_pkg = filename == "__init__.py"
            name = dotted if is_pkg else f"{dotted}.{filename[:-3]}"
            with open(source, "rb") as f:
                text = f.read()
            st = os.stat(source)
            meta[name] = (source, is_pkg, st.st_mtime_ns, st.st_size)
            codes[name] = marshal.dumps(_compile(text, source))
    for name in extensions:
        found = _extension_file(name)
        if found is not None:
            files[name] = found
    index: Index = {}
    for name, path in files.items():
        st = os.stat(path)
        index[name] = (path, False, st.st_mtime_ns, st.st_size, EXTENSION, 0)
    from pyruntime import preload

    with open(preload.__file__, "rb") as f:
        boot = _compile(f.read(), preload.__file__)
    # offsets depend on the head's own length, which depends on the offsets' sizes:
    # lay out with a fixed-width guess, then again until the head stops growing
    head_len = 0
    while True:
        offset = HEAD_AT + head_len
        for name, blob in codes.items():
            index[name] = (*meta[name], offset, len(blob))
            offset += len(blob)
        head = marshal.dumps((sys.hexversion, index, boot, launcher))
        if len(head) == head_len:
            break
        head_len = len(head)
    path = os.path.join(package_dir, BUNDLE)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(MAGIC + len(head).to_bytes(8, "little") + head + b"".join(codes.values()))
    os.replace(tmp, path)
    return len(codes) + len(files)
