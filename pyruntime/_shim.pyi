"""Type stub of the cffi-compiled C shim (csrc/pyrt.h): cffi objects are dynamic."""

from typing import Any

ffi: Any
lib: Any
