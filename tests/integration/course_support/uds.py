"""pytest fixtures that start a server on a Unix socket and give the test an httpx.Client
over it: the pattern of Datasette's `ds_unix_domain_socket_server`, without its fixed socket
path (ours is fresh per server, so tests run in parallel) and with its server checked at the
end (it must exit 0 on SIGTERM and remove its socket file).

    def test_health(uds_client):
        assert uds_client.get("/healthz").text == "ok"

uds_server          the server, started for one test (a processes.Server: .path, .output(),
                    .describe(), .process)
uds_client          an httpx.Client over uds_server's socket; relative URLs work
session_uds_server  one server for the whole session (or for each xdist worker)
session_uds_client  an httpx.Client over it

Which server: the `uds_server_command` fixture, by default $UDS_SERVER_COMMAND split as a
shell would, `{path}` standing for the socket's path:

    UDS_SERVER_COMMAND='uvicorn app:app --uds {path}' python3 -m pytest

A project's conftest.py may override `uds_server_command` instead (the course's does: it is
http_min). Copying these fixtures into your own project: tests/integration/README.md.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from contextlib import contextmanager
from typing import Iterator, Sequence

import httpx
import pytest

from .http import uds_http_client
from .processes import Server, remove_tree

SERVER_COMMAND_VARIABLE = "UDS_SERVER_COMMAND"
EXAMPLE = f"{SERVER_COMMAND_VARIABLE}='uvicorn app:app --uds {{path}}'"


def server_command_from_environment() -> list[str]:
    """$UDS_SERVER_COMMAND as a command line; fails the test, saying how to set it, if it
    is unset or has no {path}."""
    text = os.environ.get(SERVER_COMMAND_VARIABLE, "")
    command = shlex.split(text)
    if not any("{path}" in argument for argument in command):
        pytest.fail(f"set {SERVER_COMMAND_VARIABLE} to the command that starts your server, "
                    f"with {{path}} where the socket's path goes: {EXAMPLE} "
                    f"(it is {text!r})", pytrace=False)
    return command


@contextmanager
def running_uds_server(command: Sequence[str]) -> Iterator[Server]:
    """`command` (with {path} filled in) running in a new short directory under /tmp, once a
    connection to its socket succeeds. Afterwards it gets SIGTERM and must exit 0 and leave
    no socket file, or the test fails; the directory is removed."""
    directory = tempfile.mkdtemp(prefix="uds-", dir="/tmp")  # sun_path: 108 bytes at most
    path = os.path.join(directory, "server.sock")
    servers = []
    try:
        servers.append(Server(os.path.basename(command[0]), f"unix:{path}",
                              [argument.replace("{path}", path) for argument in command],
                              cwd=directory))
        servers[0].wait_until_accepting()
        yield servers[0]
    finally:
        problems = [problem for server in servers for problem in server.finish()]
        remove_tree(directory)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def uds_server_command() -> list[str]:
    """The command that starts the server under test, `{path}` standing for its socket's
    path: $UDS_SERVER_COMMAND. Override this fixture to choose it in code instead."""
    return server_command_from_environment()


@pytest.fixture
def uds_server(uds_server_command: list[str]) -> Iterator[Server]:
    """The server, listening on a fresh Unix socket, started for this test only."""
    with running_uds_server(uds_server_command) as server:
        yield server


@pytest.fixture
def uds_client(uds_server: Server) -> Iterator[httpx.Client]:
    """An httpx.Client whose requests all go to uds_server's socket."""
    with uds_http_client(uds_server.path) as client:
        yield client


@pytest.fixture(scope="session")
def session_uds_server(uds_server_command: list[str]) -> Iterator[Server]:
    """One server for every test of the session that asks for it: for tests that only read."""
    with running_uds_server(uds_server_command) as server:
        yield server


@pytest.fixture(scope="session")
def session_uds_client(session_uds_server: Server) -> Iterator[httpx.Client]:
    """An httpx.Client over session_uds_server's socket, shared by the session."""
    with uds_http_client(session_uds_server.path) as client:
        yield client
