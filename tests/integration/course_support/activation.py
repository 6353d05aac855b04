"""Inherited sockets: a program started with an already listening socket as descriptor 3,
as systemd's socket activation (LISTEN_FDS, LISTEN_PID) or `--bind fd:3` hand it over."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import sys

from .processes import Server, ServerStarter

# Puts descriptor argv[1] at 3, sets LISTEN_PID/LISTEN_FDS as argv[2] says ("" none, "self"
# this process, else that pid), and execs the rest: exec keeps the pid, so "self" names the
# server itself, as systemd does. (Python rather than /bin/sh: dash's redirections only
# reach descriptors 0 to 9.)
DESCRIPTOR_3_WRAPPER = """
import os, sys
fd, listen_pid, program = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if fd != 3:
    os.dup2(fd, 3)  # inheritable, unlike most descriptors Python opens
    os.close(fd)
if listen_pid:
    os.environ["LISTEN_PID"] = str(os.getpid()) if listen_pid == "self" else listen_pid
    os.environ["LISTEN_FDS"] = "1"
os.execv(program, sys.argv[3:])
"""


def as_descriptor_3(listener: socket.socket, listen_pid: str = "") -> list[str]:
    """A command prefix that starts the program with `listener` as descriptor 3 and, if
    `listen_pid` is given, with LISTEN_PID and LISTEN_FDS=1 (see DESCRIPTOR_3_WRAPPER)."""
    return [sys.executable, "-c", DESCRIPTOR_3_WRAPPER, str(listener.fileno()), listen_pid]


def listening_socket(directory: str) -> tuple[socket.socket, str]:
    """A Unix socket listening at DIRECTORY/activated.sock, made by the test as systemd
    would make it; returns it and its path."""
    path = os.path.join(directory, "activated.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    return listener, path


def start_inheriting(start_server: ServerStarter, listen_pid: str, *args: str) -> Server:
    """http_min started with a listening socket of the test's as descriptor 3 (and
    LISTEN_PID/LISTEN_FDS as `listen_pid` says), once it says it listens on it."""
    listener, path = listening_socket(start_server.directory)
    with listener:  # the server has its own copy; ours is closed once it started
        command = [*as_descriptor_3(listener, listen_pid), start_server.program_path("http_min"),
                   *args]
        # The socket file is the test's: teardown must not expect it gone.
        server = start_server.keep(Server("http_min", f"unix:{path}", command,
                                          owns_socket_file=False, cwd=start_server.directory,
                                          pass_fds=[listener.fileno()]))
    server.wait_for_output(rf"^listening on fd:3 \(unix:{re.escape(path)}\)$")
    return server


def stop_and_keep_the_file(server: Server) -> None:
    """SIGTERM: exit 0, and the inherited socket's file is still there (it belongs to
    whoever made it, here the test, which removes it)."""
    path = server.address[len("unix:"):]
    assert server.stop(signal.SIGTERM) == 0, server.describe()
    assert stat.S_ISSOCK(os.lstat(path).st_mode), f"http_min removed {path}, not its own"
    os.unlink(path)
