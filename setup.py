"""setuptools reads cffi_modules only from setup(); everything else is in pyproject.toml."""
from setuptools import setup

setup(cffi_modules=["csrc/build_shim.py:ffibuilder", "csrc/build_seccomp.py:ffibuilder"])
