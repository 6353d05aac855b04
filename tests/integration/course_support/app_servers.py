"""Chapter 13's Python servers, each running its app from lessons/13-your-app/apps/.

    with app_servers.start("gunicorn", short_dir) as server:   # on short_dir/gunicorn.sock
        assert server.get("/").json()["server"] == "gunicorn"

SERVERS        the five servers, by the name the apps report (GET / -> {"server": NAME})
command()      the command line that runs one of them on a Unix socket, an inherited
               descriptor or a TCP port; the chapter and the apps' docstrings show the same
               lines (shown_command(), documented_commands())
start()        a context manager: the server running, once it answers GET / over its socket

What start() promises, as processes.StartedProcess does (it is one): its own process group,
its output in an anonymous file and in every failure message, readiness by connecting and
then by an answered GET / against a deadline (never a fixed sleep), and at the end SIGTERM,
SIGKILL for the whole group after the deadline, reaped. Unlike http_min, three of these
servers leave their socket file behind when they stop (the chapter shows it): start()
removes what is left at the path, if it is a socket, so that no test leaves one behind;
`server.left_socket_file` says whether it had to.
"""

from __future__ import annotations

import os
import shlex
import stat
from contextlib import contextmanager
from typing import Iterable, Iterator, Mapping, Optional, Sequence

import pytest

from .http import HttpConnection, Response, http_request
from .polling import poll_until
from .processes import Server, processes
from .programs import REPO_ROOT
from .sockets import connect_to, free_port
from .timeouts import IO_TIMEOUT, READY_TIMEOUT, STOP_TIMEOUT

SERVERS = ("uvicorn", "gunicorn", "hypercorn", "aiohttp", "asyncio")
APPS = REPO_ROOT / "lessons" / "13-your-app" / "apps"
# Debian's interpreter: the one that sees python3-uvicorn and the rest (a python3 earlier on
# PATH, a pyenv or a venv, may not).
PYTHON = "/usr/bin/python3"
APP_FILE = {"uvicorn": "fastapi_app.py", "hypercorn": "fastapi_app.py",
            "gunicorn": "flask_app.py", "aiohttp": "aiohttp_app.py", "asyncio": "asyncio_app.py"}
WITH_WORKERS = ("uvicorn", "gunicorn", "hypercorn")  # the others are one process
WITH_FD = ("uvicorn", "gunicorn", "hypercorn")  # socket activation (chapter 09's fd:3)
EXAMPLE_PATH = "/tmp/app.sock"  # the path the chapter's commands show


def command(server: str, *, uds: Optional[str] = None, fd: Optional[int] = None,
            port: Optional[int] = None, workers: int = 1, extra: Sequence[str] = (),
            python: str = PYTHON) -> list[str]:
    """The command line that runs `server` with its app, to be run in APPS (the apps
    import answers.py from there; uvicorn, hypercorn and gunicorn import the app from the
    current directory). Where it listens: `uds` (a path), `fd` (an inherited listening
    socket: uvicorn --fd, hypercorn --bind fd://N, gunicorn reads LISTEN_FDS and takes no
    --bind) or `port` (on 127.0.0.1); aiohttp and asyncio may take `uds` and `port` at
    once. `workers` > 1: uvicorn, gunicorn and hypercorn only. `extra`: more options,
    placed before the app's name (--umask, --forwarded-allow-ips, ...)."""
    if server not in SERVERS:
        raise ValueError(f"server must be one of {SERVERS}, not {server!r}")
    given = [name for name, value in (("uds", uds), ("fd", fd), ("port", port))
             if value is not None]
    if not given or (len(given) > 1 and server in WITH_WORKERS):
        raise ValueError(f"{server}: give exactly one of uds, fd, port (got {given or 'none'})")
    if fd is not None and server not in WITH_FD:
        raise ValueError(f"{server} does not take an inherited socket here")
    if workers != 1 and server not in WITH_WORKERS:
        raise ValueError(f"{server} runs in one process: no workers")
    if server == "uvicorn":
        where = (["--uds", uds] if uds is not None else ["--fd", str(fd)] if fd is not None
                 else ["--host", "127.0.0.1", "--port", str(port)])
        # --loop/--http: Debian's uvicorn would take uvloop and httptools if installed.
        options = ["--loop", "asyncio", "--http", "h11"]
        return [python, "-m", "uvicorn", *where, *options, *worker_options(workers), *extra,
                "fastapi_app:app"]
    if server in ("gunicorn", "hypercorn"):
        bind = (f"unix:{uds}" if uds is not None else f"fd://{fd}" if fd is not None
                else f"127.0.0.1:{port}")
        where = [] if server == "gunicorn" and fd is not None else ["--bind", bind]
        app = "flask_app:app" if server == "gunicorn" else "fastapi_app:app"
        return [python, "-m", server, *where, *worker_options(workers), *extra, app]
    where = (["--uds", uds] if uds is not None else []) + \
        (["--port", str(port)] if port is not None else [])
    return [python, APP_FILE[server], *where, *extra]


def worker_options(workers: int) -> list[str]:
    return [] if workers == 1 else ["--workers", str(workers)]


def shown_command(server: str, **options) -> str:
    """command() as the chapter and the apps' docstrings show it: the same interpreter, the
    example path /tmp/app.sock unless `port` or `fd` is given."""
    if not {"port", "fd"} & options.keys():
        options.setdefault("uds", EXAMPLE_PATH)
    return shlex.join(command(server, **options))


def documented_commands(server: str) -> list[str]:
    """The command lines the docstring of `server`'s app file shows (its indented lines
    that start with the interpreter)."""
    docstring = (APPS / APP_FILE[server]).read_text().split('"""')[1]
    return [line.strip() for line in docstring.splitlines()
            if line.startswith(f"    {PYTHON} ")]


class AppServer(Server):
    """One of the five, started by start(): a processes.Server (.process, .output(),
    .describe(), .address) with

    name                the server ("uvicorn", ...)
    path                its Unix socket's path (None on TCP)
    left_socket_file    after the end: whether start() had to remove a socket file it left
    get(target)         a GET over its socket (or TCP port), as course_support.http.Response
    whoami()            GET /whoami's JSON
    """

    def __init__(self, name: str, address: str, command: Sequence[str], path: Optional[str],
                 **options) -> None:
        super().__init__(name, address, command, owns_socket_file=False, cwd=str(APPS),
                         **options)
        self.name = name
        self.path = path  # Server leaves it None (owns_socket_file=False): teardown is ours
        self.left_socket_file: Optional[bool] = None
        self.owns_path = True  # False for an inherited socket: its file is the test's
        self.tcp_address: Optional[str] = None

    def get(self, target: str, headers: Sequence[tuple[str, str]] = (),
            timeout: float = IO_TIMEOUT, address: Optional[str] = None) -> Response:
        """GET `target` on a new connection to its address (or to `address`, such as
        tcp_address); the response, its body read whole. Connecting or reading fails with
        OSError (a test may expect that: a dead server)."""
        with HttpConnection(connect_to(address or self.address, timeout)) as connection:
            connection.send(http_request("GET", target, headers))
            return connection.read_response()

    def whoami(self, headers: Sequence[tuple[str, str]] = (),
               address: Optional[str] = None) -> dict:
        """GET /whoami's JSON (from `address`, if given)."""
        response = self.get("/whoami", headers, address=address)
        assert response.status == 200, f"GET /whoami: {response}\n{self.describe()}"
        return response.json()

    def processes(self) -> set[int]:
        """The live processes of its group: the server and its workers."""
        return processes(lambda info: info["pgrp"] == self.process.pid)

    def wait_until_answering(self, timeout: float = READY_TIMEOUT) -> None:
        """Returns once GET / is answered 200; fails the test with the server's output if it
        ends first or the deadline passes. A connection alone is not enough: an inherited
        socket accepts connections before the server is running, and a pre-forking master
        listens before its workers can answer."""
        self.wait_until_accepting(timeout)
        last = ["-"]

        def answered():
            if self.has_ended():
                return "ended"
            try:
                return "answered" if self.get("/", timeout=timeout).status == 200 else None
            except (OSError, AssertionError) as error:  # reset, closed early: not yet
                last[0] = repr(error)
                return None

        outcome = poll_until(answered, timeout)
        if outcome != "answered":
            self.stopped_by_test = True
            self.kill()
            why = ("ended" if outcome == "ended"
                   else f"did not answer GET / within {timeout} s (last error: {last[0]})")
            pytest.fail(f"{self.name} {why} on {self.address}.\n{self.describe()}",
                        pytrace=False)

    def end(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM unless it has ended already, SIGKILL for its group after `timeout` (and
        the test fails), reaped; then a socket file left at its path is removed."""
        try:
            if not self.stopped_by_test:
                self.stop(timeout=timeout)
        finally:
            self.kill()
            if self.owns_path:
                self.left_socket_file = remove_socket_file(self.path)


def remove_socket_file(path: Optional[str]) -> bool:
    """Removes `path` if it is a socket file; True if there was one. Anything else at the
    path is left alone (chapter 05: never delete what is not a socket)."""
    if path is None:
        return False
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return False
    except FileNotFoundError:
        return False
    os.unlink(path)
    return True


@contextmanager
def start(server: str, directory: Optional[str] = None, *, uds: Optional[str] = None,
          fd: Optional[int] = None, port: Optional[int] = None, tcp: bool = False,
          workers: int = 1, extra: Sequence[str] = (), umask: Optional[int] = None,
          env: Optional[Mapping[str, str]] = None, pass_fds: Iterable[int] = (),
          launcher: Sequence[str] = (),
          ready_timeout: float = READY_TIMEOUT) -> Iterator[AppServer]:
    """`server` running, once it answers GET / (see AppServer.wait_until_answering).

    Where it listens: `uds` (a path), else `fd` (an inherited socket, which must be in
    `pass_fds`; give `uds` too, the path it is bound to, so that get() can reach it), else
    `port`, else a free port on 127.0.0.1 if `tcp`, else DIRECTORY/SERVER.sock. With `uds`
    and `port` both (aiohttp and asyncio), get() uses the Unix socket; the TCP address is
    `server.tcp_address`.
    `umask`: the process's umask (through sh's `umask` builtin, then exec: the pid is the
    server's). `env`: variables added to ours (LISTEN_FDS...). `launcher`: a command prefix
    that execs the server, such as activation.as_descriptor_3(listener, "self") or
    systemd-socket-activate's command line.
    At the end: SIGTERM, then the whole group killed and reaped; a socket file left behind
    is removed. The test fails if the server does not stop within the deadline."""
    if uds is None and fd is None and port is None and not tcp:
        if directory is None:
            raise ValueError("give a directory (for DIRECTORY/SERVER.sock), uds, fd or port")
        uds = os.path.join(directory, f"{server}.sock")
    if tcp and port is None:
        port = free_port()
    # With fd, uds is only where get() connects: the server is handed the socket.
    argv = command(server, uds=uds if fd is None else None, fd=fd, port=port,
                   workers=workers, extra=extra)
    if umask is not None:
        argv = ["/bin/sh", "-c", f'umask {umask:04o} && exec "$@"', "sh", *argv]
    argv = [*launcher, *argv]
    address = f"unix:{uds}" if uds is not None else f"127.0.0.1:{port}"
    app_server = AppServer(server, address, argv, uds, env=env, pass_fds=pass_fds)
    app_server.tcp_address = f"127.0.0.1:{port}" if port is not None else None
    app_server.owns_path = fd is None
    try:
        app_server.wait_until_answering(ready_timeout)
        yield app_server
    finally:
        app_server.end()
