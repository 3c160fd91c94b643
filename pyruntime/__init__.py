"""pyruntime: an OCI container runtime, a drop-in replacement for runc.

The CLI is `pyruntime`; the Python API lives in pyruntime.api (imported lazily).
"""

__version__ = "0.1.0"
