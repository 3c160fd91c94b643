"""`os.path`, `os.environ` and `os.makedirs` for the hot path, on the builtin `posix` module.

Importing `os` costs ~1.9 ms a call here (it builds `os.environ` and pulls in
`_collections_abc`, `stat` and `posixpath`), a fifth of a whole `state`; `posix` is loaded
before the interpreter runs any of our code. Runtime modules call `posix.*` for system calls
and these helpers for paths, with the same results as their `os` namesakes (tests compare).

Owns: pure-string path helpers (POSIX semantics), stat-based tests, realpath, makedirs,
reading a small file whole, environment lookups and filesystem encoding.
Must not touch: anything that is more than a thin, os-compatible helper.
"""

from __future__ import annotations

import posix

_S_IFMT, _S_IFDIR, _S_IFREG, _S_IFLNK = 0o170000, 0o040000, 0o100000, 0o120000


def join(a: str, *parts: str) -> str:
    """os.path.join: an absolute part restarts the path."""
    path = a
    for b in parts:
        if b.startswith("/"):
            path = b
        elif not path or path.endswith("/"):
            path += b
        else:
            path += "/" + b
    return path


def normpath(path: str) -> str:
    """os.path.normpath: drops `.`, empty parts and resolvable `..` (no filesystem access)."""
    if not path:
        return "."
    initial = 0
    if path.startswith("/"):
        initial = 2 if path.startswith("//") and not path.startswith("///") else 1
    parts: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp != ".." or (not initial and not parts) or (parts and parts[-1] == ".."):
            parts.append(comp)
        elif parts:
            parts.pop()
    out = "/" * initial + "/".join(parts)
    return out or "."


def split(path: str) -> tuple[str, str]:
    """os.path.split: (head, tail), head without trailing slashes unless it is all slashes."""
    i = path.rfind("/") + 1
    head, tail = path[:i], path[i:]
    if head and head != "/" * len(head):
        head = head.rstrip("/")
    return head, tail


def dirname(path: str) -> str:
    """os.path.dirname."""
    return split(path)[0]


def basename(path: str) -> str:
    """os.path.basename."""
    return path[path.rfind("/") + 1:]


def isabs(path: str) -> bool:
    """os.path.isabs."""
    return path.startswith("/")


def abspath(path: str) -> str:
    """os.path.abspath: joined to the current directory, then normalized."""
    return normpath(path if path.startswith("/") else join(posix.getcwd(), path))


def relpath(path: str, start: str = ".") -> str:
    """os.path.relpath (lexical, like os.path)."""
    if not path:
        raise ValueError("no path specified")
    start_parts = [x for x in abspath(start).split("/") if x]
    path_parts = [x for x in abspath(path).split("/") if x]
    common = 0
    for a, b in zip(start_parts, path_parts, strict=False):
        if a != b:
            break
        common += 1
    rel = [".."] * (len(start_parts) - common) + path_parts[common:]
    return "/".join(rel) if rel else "."


def _mode(path: str) -> int:
    """st_mode of path (following symlinks), or 0 when it cannot be stat'ed."""
    try:
        return posix.stat(path).st_mode
    except (OSError, ValueError):
        return 0


def exists(path: str) -> bool:
    """os.path.exists."""
    return _mode(path) != 0


def isdir(path: str) -> bool:
    """os.path.isdir."""
    return _mode(path) & _S_IFMT == _S_IFDIR


def isfile(path: str) -> bool:
    """os.path.isfile."""
    return _mode(path) & _S_IFMT == _S_IFREG


def realpath(path: str) -> str:
    """os.path.realpath (non-strict): symlinks resolved, a missing tail kept as written."""
    resolved, _ = _resolve("", path, {})
    return abspath(resolved)


def _resolve(path: str, rest: str, seen: dict[str, str | None]) -> tuple[str, bool]:
    """Join rest onto the already-resolved path, following symlinks; False on a loop."""
    if rest.startswith("/"):
        rest, path = rest[1:], "/"
    while rest:
        name, _, rest = rest.partition("/")
        if name in ("", "."):
            continue
        if name == "..":
            if path:
                path, name = split(path)
                if name == "..":
                    path = join(path, "..", "..")
            else:
                path = ".."
            continue
        candidate = join(path, name)
        try:
            is_link = posix.lstat(candidate).st_mode & _S_IFMT == _S_IFLNK
        except OSError:
            is_link = False
        if not is_link:
            path = candidate
            continue
        if candidate in seen:
            known = seen[candidate]
            if known is not None:
                path = known
                continue
            return join(candidate, rest), False  # a symlink loop: stop resolving here
        seen[candidate] = None
        path, ok = _resolve(path, posix.readlink(candidate), seen)
        if not ok:
            return join(path, rest), False
        seen[candidate] = path
    return path, True


def makedirs(path: str, mode: int = 0o777, exist_ok: bool = False) -> None:
    """os.makedirs: missing parents first."""
    head, tail = split(path)
    if not tail:
        head, tail = split(head)
    if head and tail and not exists(head):
        try:
            makedirs(head, mode, exist_ok=True)
        except FileExistsError:
            pass
    try:
        posix.mkdir(path, mode)
    except OSError:
        if not exist_ok or not isdir(path):
            raise


def getenv(name: str) -> str | None:
    """os.environ.get (sees os.environ changes: both share posix.environ)."""
    value = posix.environ.get(name.encode())
    return None if value is None else value.decode("utf-8", "surrogateescape")


def fsencode(value: str | bytes) -> bytes:
    """os.fsencode for this platform's UTF-8 file system encoding."""
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def read_bytes(path: str) -> bytes:
    """The whole content of the file at path (open(path, "rb").read(), without the io stack:
    three system calls instead of eight for a small file such as state.json or
    /proc/PID/stat).

    Raises:
        OSError: as open(2)/read(2) report it.
    """
    fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    try:
        chunks: list[bytes] = []
        while True:
            chunk = posix.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        posix.close(fd)
