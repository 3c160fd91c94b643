"""Terminals: receiving a pty master over a socket, and proxying it for a foreground `run`.

Owns: the receiving side of the console-socket protocol and the stdin/stdout <-> master copy
loop (raw mode, window size) used when `run` has a terminal and no --console-socket.
Must not touch: the container's side (the C shim creates the pty inside the container).
"""

from __future__ import annotations

import array
import os
import select
import signal
import socket
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def recv_master(sock: socket.socket) -> int:
    """Receive one fd sent with SCM_RIGHTS (the pty master).

    Raises:
        OSError: nothing or something else was received.
    """
    fds = array.array("i")
    _msg, ancdata, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if len(fds) != 1:
        raise OSError(71, "console socket: expected exactly one file descriptor")
    return fds[0]


def copy_window_size(src: int, dst: int) -> None:
    """Give dst the window size of src (both ttys); quiet when src is not a tty."""
    import fcntl
    import termios

    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def proxy(master: int, pidfd: int) -> None:
    """Copy stdin to master and master to stdout until the container's init exits."""
    import termios
    import tty

    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    saved: Any = None
    if os.isatty(stdin):
        saved = termios.tcgetattr(stdin)
        tty.setraw(stdin)
        copy_window_size(stdin, master)
        signal.signal(signal.SIGWINCH, lambda *_: copy_window_size(stdin, master))
    readers = [master, stdin, pidfd]
    try:
        while master in readers:
            ready, _, _ = select.select(readers, [], [])
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every slave side is closed
                    data = b""
                if not data:
                    readers.remove(master)
                else:
                    os.write(stdout, data)
            if stdin in ready:
                data = os.read(stdin, 65536)
                if data:
                    os.write(master, data)
                else:
                    readers.remove(stdin)
            if pidfd in ready:
                readers.remove(pidfd)
                # drain what the container wrote before it exited
                os.set_blocking(master, False)
                try:
                    while data := os.read(master, 65536):
                        os.write(stdout, data)
                except OSError:
                    pass
                break
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
