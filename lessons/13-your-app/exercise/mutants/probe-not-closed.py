# Mutant: The readiness probe's socket is never closed: every try leaks a descriptor.
# Caught by: lesson13.test_lesson13_fixture.py::test_every_probe_and_file_is_closed
"""pytest fixtures that run your Python web app on a Unix socket and give each test an
httpx.Client over it. One file to copy next to your tests; it needs only pytest and httpx.

    # conftest.py
    pytest_plugins = ["uds_app_fixture"]

    # test_app.py
    def test_home(uds_app_client):
        assert uds_app_client.get("/").status_code == 200

    UDS_APP_COMMAND='uvicorn app:app --uds {path}' python3 -m pytest -n 2

uds_app_command  the command, `{path}` standing for the socket's path: $UDS_APP_COMMAND split
                 as a shell would (override this fixture to choose it in code)
uds_app          the socket's path of a server started for the session (one per xdist worker)
uds_app_client   an httpx.Client over it; relative URLs work

The server runs in a new directory under /tmp, or under $UDS_APP_DIR: not in pytest's
tmp_path nor $TMPDIR, which can be longer than a socket path may be (sun_path: 108 bytes,
the terminating NUL included). It is ready when a connection to the socket succeeds, polled
against a deadline; it fails at once, with its output, if it exits first. At the end it gets
SIGTERM, then SIGKILL for whatever of its process group is left after a deadline, and is
reaped. A socket file left behind fails the session, unless $UDS_APP_LEAVES_SOCKET is 1
(aiohttp, hypercorn and plain asyncio servers leave it: it is then removed with the
directory).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Iterator, Optional, Sequence

import httpx
import pytest

COMMAND_VARIABLE = "UDS_APP_COMMAND"
DIRECTORY_VARIABLE = "UDS_APP_DIR"
LEAVES_SOCKET_VARIABLE = "UDS_APP_LEAVES_SOCKET"
SUN_PATH_BYTES = 108  # Linux's struct sockaddr_un: a path of at most 107 bytes, and a NUL
READY_TIMEOUT = 10.0  # seconds for the server to accept its first connection
STOP_TIMEOUT = 10.0  # seconds for it to exit after SIGTERM


class AppServerError(Exception):
    """The server did not start, did not stop, or did not clean up; the message says which
    and carries its output."""


class _Server:
    """The started process and what it printed (in a file: a pipe nobody reads fills up).
    As a context manager it closes that file at the end."""

    def __init__(self, command: Sequence[str], directory: str) -> None:
        self.log = tempfile.TemporaryFile(dir=directory)
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self.log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        except BaseException:
            self.log.close()
            raise

    def __enter__(self) -> "_Server":
        return self

    def __exit__(self, *exception) -> None:
        self.log.close()

    def describe(self) -> str:
        # pread, not seek and read: the server shares the file's offset and writes at it.
        size = os.fstat(self.log.fileno()).st_size
        output = os.pread(self.log.fileno(), size, 0).decode(errors="replace")
        status = self.process.returncode
        state = "running" if status is None else (
            f"exit status {status}" if status >= 0 else f"killed by signal {-status}")
        return (f"{shlex.join(self.process.args)} ({state})\n--- its output ---\n{output}"
                "--- end of output ---")

    def kill_group(self) -> None:
        """SIGKILL for the whole process group (workers too), then reap the server."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _accepts(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError:  # not yet: ENOENT, ECONNREFUSED
        return False
    return True


def _wait_until_accepting(server: _Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _accepts(path):
        if server.process.poll() is not None:
            raise AppServerError(f"the server exited before accepting a connection on "
                                 f"{path}.\n{server.describe()}")
        if time.monotonic() >= deadline:
            raise AppServerError(f"the server did not accept a connection on {path} within "
                                 f"{timeout} s.\n{server.describe()}")
        time.sleep(0.02)  # paces the polling; the deadline bounds the wait


def _stop(server: _Server, timeout: float) -> Optional[str]:
    """SIGTERM, wait until `timeout`, SIGKILL what is left of the group, reap. Returns what
    went wrong (it had ended already, or did not exit in time), or None."""
    problem = None
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout)
        except subprocess.TimeoutExpired:
            problem = f"the server did not exit within {timeout} s of SIGTERM: killed."
    else:
        problem = "the server ended before it was asked to stop."
    server.kill_group()
    return problem


@contextlib.contextmanager
def serve_on_unix_socket(command: Sequence[str], directory: Optional[str] = None, *,
                         leaves_socket_file: bool = False,
                         ready_timeout: float = READY_TIMEOUT,
                         stop_timeout: float = STOP_TIMEOUT) -> Iterator[str]:
    """Runs `command`, `{path}` replaced by a socket path in `directory` (default: a new
    directory under /tmp, removed afterwards), and yields that path once a connection to it
    succeeds. Raises AppServerError if the path is too long, the server exits first or is
    not accepting by `ready_timeout`, or at the end does not exit within `stop_timeout` of
    SIGTERM or leaves its socket file (unless `leaves_socket_file`: then it is removed)."""
    made_directory = directory is None
    if made_directory:
        directory = tempfile.mkdtemp(prefix="uds-", dir=os.environ.get(DIRECTORY_VARIABLE, "/tmp"))
    path = os.path.join(directory, "app.sock")
    try:
        if len(os.fsencode(path)) >= SUN_PATH_BYTES:
            raise AppServerError(f"the socket path {path} is {len(os.fsencode(path))} bytes; a "
                                 f"Unix socket path holds at most {SUN_PATH_BYTES - 1} (sun_path "
                                 f"is {SUN_PATH_BYTES} bytes with the NUL): use a shorter "
                                 "directory")
        with _Server([argument.replace("{path}", path) for argument in command],
                     directory) as server:
            try:
                _wait_until_accepting(server, path, ready_timeout)
                yield path
            finally:
                problem = _stop(server, stop_timeout)
            if problem is None and os.path.lexists(path):
                if not leaves_socket_file:
                    problem = (f"the server exited but left its socket file {path} behind "
                               f"(to accept that: {LEAVES_SOCKET_VARIABLE}=1).")
                os.unlink(path)
            if problem:
                raise AppServerError(f"{problem}\n{server.describe()}")
    finally:
        if made_directory:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def uds_app_command() -> list[str]:
    """The command that starts your app, `{path}` standing for the socket's path."""
    command = shlex.split(os.environ.get(COMMAND_VARIABLE, ""))
    if not any("{path}" in argument for argument in command):
        pytest.fail(f"set {COMMAND_VARIABLE} to the command that starts your app, with {{path}} "
                    f"for the socket: {COMMAND_VARIABLE}='uvicorn app:app --uds {{path}}'",
                    pytrace=False)
    return command


@pytest.fixture(scope="session")
def uds_app(uds_app_command: list[str]) -> Iterator[str]:
    """The socket path of your app, started once for the session (for each xdist worker)."""
    leaves = os.environ.get(LEAVES_SOCKET_VARIABLE) == "1"
    failure = None
    try:
        with serve_on_unix_socket(uds_app_command, leaves_socket_file=leaves) as path:
            yield path
    except AppServerError as error:
        failure = str(error)
    if failure:
        pytest.fail(failure, pytrace=False)  # the server's output, not this file's code


@pytest.fixture
def uds_app_client(uds_app: str) -> Iterator[httpx.Client]:
    """An httpx.Client whose requests all go to the app's socket."""
    transport = httpx.HTTPTransport(uds=uds_app)
    with httpx.Client(transport=transport, base_url="http://localhost", timeout=10.0) as client:
        yield client
