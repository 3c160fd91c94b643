"""The runc-compatible command line (one module per command)."""
