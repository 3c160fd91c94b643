"""pyruntime: an OCI container runtime, a drop-in replacement for runc.

The CLI is `pyruntime`. From Python::

    import subprocess, pyruntime
    result = pyruntime.run("/path/to/bundle", stdout=subprocess.PIPE)
    print(result.returncode, result.stdout)

`run`, `Container`, `ContainerState` and `Spec` come from pyruntime.api, imported on first
use so that the CLI's start-up pays nothing for them.
"""

# (no `from __future__ import annotations`: this module loads before the module bundle,
# and that import would cost every call; see pyruntime/preload.py)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.api import Container, ContainerError, ContainerState, Spec, run

__version__ = "0.1.0"
__all__ = ["run", "Container", "ContainerState", "Spec", "ContainerError"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from pyruntime import api

        return getattr(api, name)
    raise AttributeError(f"module 'pyruntime' has no attribute {name!r}")
