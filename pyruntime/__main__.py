"""`python -m pyruntime`."""

from pyruntime.cli.main import entry

entry()
