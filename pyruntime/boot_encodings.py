"""The `encodings` package of the launcher's start-up path (copied there by pyruntime.install).

Every interpreter start looks up one codec, UTF-8, through `encodings.search_function`,
and the standard package first loads its table of ~350 aliases to answer it (~0.3 ms of
every call). This package answers that lookup from `encodings.utf_8` alone. The first time
anything else is asked of it (another codec, `normalize_encoding`, `aliases`, ...), it turns
itself into the standard package: the standard `encodings/__init__` runs in this module's
namespace and its search function replaces this one in the codec registry, so from then on
it behaves as the standard package (a few private names of this file stay). The standard
directory is on `__path__` for every other codec.

Not imported by pyruntime itself: install copies this file, with STANDARD set.
"""

import _thread
import codecs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Search = Callable[[str], "codecs.CodecInfo | None"]

STANDARD = ""  # the standard library's encodings directory (install writes it)

_UTF_8 = frozenset(("utf_8", "utf-8", "utf8"))  # the names start-up asks for
_becoming = _thread.allocate_lock()


def search_function(encoding: str) -> "codecs.CodecInfo | None":
    """UTF-8 without the alias table; any other name through the standard package."""
    if encoding in _UTF_8:
        import encodings.utf_8 as utf_8  # (not `from encodings import`: see __getattr__)

        return utf_8.getregentry()
    return _become_standard()(encoding)


def _become_standard() -> "Search":
    """Run the standard package's code here once; returns its search function."""
    with _becoming:
        namespace = globals()
        if "normalize_encoding" not in namespace:
            import _frozen_importlib_external

            loader = _frozen_importlib_external.SourceFileLoader(
                __name__, f"{STANDARD}/__init__.py")
            code = loader.get_code(__name__)
            if code is None:
                raise ImportError(f"no code in {loader.path}")
            codecs.unregister(search_function)
            del namespace["__getattr__"]  # before the standard code's `from . import aliases`
            exec(code, namespace)
        standard: Search = namespace["search_function"]
        return standard


def __getattr__(name: str) -> object:
    """Anything but the search function and the submodules imported so far: the standard
    package's. (An import's `from encodings import x` asks too, hence utf_8's import above.)"""
    if not name.startswith("__"):
        _become_standard()
        if name in globals():
            return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if STANDARD:  # as the package's __init__, not as pyruntime.boot_encodings
    __path__.append(STANDARD)  # type: ignore[name-defined]  # noqa: F821
    codecs.register(search_function)
