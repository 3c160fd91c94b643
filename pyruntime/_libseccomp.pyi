"""Type stub of the cffi-compiled libseccomp binding (csrc/build_seccomp.py)."""

from typing import Any

ffi: Any
lib: Any
