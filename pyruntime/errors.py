"""Exception types of pyruntime.

Owns: the error classes every layer raises and the CLI maps to exit codes.
Must not touch: I/O, logging or formatting of messages for the terminal.
"""

from __future__ import annotations


class ContainerError(Exception):
    """Base of every error pyruntime reports as one clean line (exit 1)."""

    exit_code = 1


class SpecError(ContainerError):
    """config.json (or process.json, resources JSON) is invalid.

    ``path`` is the JSON path of the offending value, e.g. ``process.args``.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class StateError(ContainerError):
    """The state directory or a container's status does not allow the request."""


class NotExistError(StateError):
    """No container with this id (text contains 'does not exist', as runc)."""

    def __init__(self, container_id: str) -> None:
        super().__init__(f"container {container_id} does not exist")


class NotRunningError(StateError):
    """The container is not running (text is runc's 'container not running')."""

    def __init__(self) -> None:
        super().__init__("container not running")


class CgroupError(ContainerError):
    """A cgroup could not be created, configured, frozen or removed."""


class HookError(ContainerError):
    """An OCI hook failed or timed out."""


class ChildSetupError(ContainerError):
    """The container's init failed during setup before exec.

    ``step`` names the setup step, ``errno`` is the kernel's error number and
    ``detail`` is the path or value involved.
    """

    def __init__(self, step: str, errno: int, detail: str, message: str) -> None:
        self.step = step
        self.errno = errno
        self.detail = detail
        super().__init__(message)


class ExecError(ContainerError):
    """`exec` failed before the process ran (runc exits 255 then)."""

    exit_code = 255
