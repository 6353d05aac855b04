"""Chapter 13's five Python servers on a Unix socket, reduced to what decides the socket file:
its mode, who may connect, and what happens to the path at start and at exit.

The apps (tiny_apps.py) are the smallest each server takes, each answering any request
with its pid: the socket file is the servers' doing, not the app's. (Interim: the chapter's
apps and course_support/app_servers.py come from helper "servers"; the merge unifies.)

    server = start_app_server("gunicorn", directory, umask=0o077, extra=["--umask", "0117"])
    mode_of(server.socket_path)                # 0o660
    connect_as(server.socket_path)             # as nobody: "EACCES" or "connected" (root)
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Optional, Sequence

from .processes import NOBODY, Server, run
from .sockets import connect_to

SERVERS = ("uvicorn", "gunicorn", "aiohttp", "hypercorn", "asyncio")
PYTHON = "/usr/bin/python3"  # Debian's, which sees Debian's python3-* packages
# The directory that holds course_support/, so that the servers can import tiny_apps.
IMPORT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ASGI_APP = "course_support.tiny_apps:asgi_app"
WSGI_APP = "course_support.tiny_apps:wsgi_app"


def server_command(server: str, path: str, extra: Sequence[str] = ()) -> list[str]:
    """The command line that serves on the Unix socket `path`; `extra`: the server's own
    options (say ["--umask", "0117"])."""
    extra = list(extra)
    if server == "uvicorn":
        # --loop/--http: Debian's uvicorn would take uvloop and httptools if installed.
        return [PYTHON, "-m", "uvicorn", "--loop", "asyncio", "--http", "h11",
                "--no-access-log", "--uds", path, *extra, ASGI_APP]
    if server == "gunicorn":
        return [PYTHON, "-m", "gunicorn", "--bind", f"unix:{path}", *extra, WSGI_APP]
    if server == "hypercorn":
        return [PYTHON, "-m", "hypercorn", "--bind", f"unix:{path}", *extra, ASGI_APP]
    if server == "aiohttp":
        return [PYTHON, "-m", "course_support.tiny_apps", "aiohttp", path, *extra]
    if server == "asyncio":
        return [PYTHON, "-m", "course_support.tiny_apps", "asyncio", path, *extra]
    raise ValueError(f"server must be one of {SERVERS}, not {server!r}")


def with_umask(umask: int, command: Sequence[str]) -> list[str]:
    """`command` run with the process umask `umask`, as a shell or systemd's UMask= sets it."""
    return ["/bin/sh", "-c", f'umask {umask:04o} && exec "$@"', "sh", *command]


def start_app_server(server: str, directory: str, *, name: Optional[str] = None,
                     umask: int = 0o022, extra: Sequence[str] = (),
                     wait: bool = True) -> Server:
    """`server` serving on DIRECTORY/NAME (default SERVER.sock), started with `umask`.
    Returns once a connection succeeds (unless `wait` is False). Its socket file,
    `socket_path`, is left to the test: servers differ in whether they remove it, and that
    is what is measured; teardown (Server.finish) only wants an exit 0 on SIGTERM."""
    path = os.path.join(directory, name or f"{server}.sock")
    command = with_umask(umask, server_command(server, path, extra))
    started = Server(server, f"unix:{path}", command, owns_socket_file=False,
                     cwd=directory, env={"PYTHONPATH": IMPORT_ROOT})
    started.socket_path = path
    if wait:
        started.wait_until_accepting()
    return started


def pid_behind(path: str) -> int:
    """The pid of the process that answers GET / on the socket at `path` (each app answers
    its pid): who is really serving there."""
    with connect_to(f"unix:{path}") as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
        response = client.recv_until_eof()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), response
    return int(body)


def mode_of(path: str) -> int:
    """The permission bits of the file at `path` (lstat: the socket file itself)."""
    return stat.S_IMODE(os.lstat(path).st_mode)


# Run as another user: connect, report "connected" or the errno's name.
CONNECT_PROGRAM = """
import errno, socket, sys
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
    try:
        client.connect(sys.argv[1])
    except OSError as error:
        print(errno.errorcode[error.errno])
    else:
        print("connected")
"""


def connect_as(path: str, uid: int = NOBODY, gid: int = NOBODY,
               groups: Sequence[int] = ()) -> str:
    """What connect() to `path` gives a process of user `uid`, group `gid` and supplementary
    `groups` (default: nobody, nogroup, none): "connected", or "EACCES", "ECONNREFUSED"...
    Only root may start such a process."""
    result = run([PYTHON, "-c", CONNECT_PROGRAM, path], cwd="/", user=uid, group=gid,
                 extra_groups=list(groups), who=f" (as uid {uid})")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def connect_errno(path: str) -> str:
    """What connect() to `path` gives this process: "connected" or the errno's name."""
    try:
        connect_to(f"unix:{path}", timeout=2.0).close()
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error))
    return "connected"

