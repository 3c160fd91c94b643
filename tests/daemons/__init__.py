"""Scenario tests against real dockerd/containerd (started by .ci/daemons.sh)."""
