"""Inherited sockets: a program started with an already listening socket as descriptor 3,
as systemd's socket activation (LISTEN_FDS, LISTEN_PID) or `--bind fd:3` hand it over."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from .processes import Server, ServerStarter
from .timeouts import RUN_TIMEOUT

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


# systemd's unit files


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as {section: {key: [values]}} (a key may be given several times).
    Enough for these two files: no line continuations, no drop-ins."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: Optional[dict[str, list[str]]] = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        where = f"{path}:{number}"
        assert not line.endswith("\\"), f"{where}: this test does not read continuation lines"
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, equals, value = line.partition("=")
        assert equals and current is not None, f"{where}: not KEY=VALUE in a section: {raw}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def unit_setting(unit: dict, section: str, key: str) -> Optional[str]:
    """The value that counts (the last one), or None if the key is not set."""
    values = unit.get(section, {}).get(key)
    return values[-1] if values else None


def verify_units(analyze: str, units: list[str], cwd: str) -> None:
    """`systemd-analyze verify` on the unit files `units`: fails the test on any line that
    names one of them (verify only warns about most mistakes, so the exit status alone would
    pass them), skips it if verify does not work here at all."""
    command = [analyze, "verify", "--man=no", *units]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                                stdin=subprocess.DEVNULL, cwd=cwd,
                                env={**os.environ, "SYSTEMD_COLORS": "0"})
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(command)} did not finish within {RUN_TIMEOUT} s", pytrace=False)
    output = result.stdout + result.stderr
    names = [os.path.splitext(os.path.basename(unit))[0] for unit in units]
    about_the_units = [line for line in output.splitlines() if any(name in line for name in names)]
    if result.returncode != 0 and not about_the_units:
        pytest.skip(f"systemd-analyze verify does not work here ({' '.join(command)}: exit "
                    f"status {result.returncode}):\n{output}")
    assert result.returncode == 0 and not about_the_units, (
        f"{' '.join(command)}: exit status {result.returncode}\n{output}")


def bind_like_systemd(path: str, mode: int, gid: int) -> socket.socket:
    """A listening Unix socket at `path` as systemd makes one for ListenStream=: the mode
    comes from the umask at bind() (no moment with wider permissions), then the group, then
    listen()."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old_umask = os.umask(0o777 & ~mode)
        try:
            listener.bind(path)
        finally:
            os.umask(old_umask)
        os.chown(path, -1, gid)
        listener.listen(socket.SOMAXCONN)
    except BaseException:
        listener.close()
        raise
    return listener
