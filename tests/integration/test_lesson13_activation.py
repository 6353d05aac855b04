"""Chapter 13, your app on a Unix socket: socket activation. Someone else (systemd, or
systemd-socket-activate for a try at the terminal) binds the socket and starts the app
server with it as descriptor 3:

- gunicorn finds it through LISTEN_FDS and LISTEN_PID (no --bind; --bind fd://3 fails),
  uvicorn takes --fd 3, hypercorn --bind fd://3 (course_support.app_servers.command);
- the socket outlives the app: a connection made while the app is down waits in the queue
  and is answered once the app is back;
- nginx/systemd/app.socket and app.service pass systemd-analyze verify, and the service's
  ExecStart serves a socket made as the socket unit describes (mode 0660, group www-data).
"""

from __future__ import annotations

import grp
import os
import re
import shlex
import shutil
import stat

import pytest

from course_support import app_servers
from course_support.activation import (as_descriptor_3, bind_like_systemd, read_unit,
                                       unit_setting, verify_units)
from course_support.app_servers import PYTHON, AppServer, command
from course_support.http import HttpConnection, http_request
from course_support.polling import wait_until
from course_support.processes import children_of
from course_support.programs import REPO_ROOT
from course_support.sockets import connect_to

SOCKET_UNIT = REPO_ROOT / "nginx" / "systemd" / "app.socket"
SERVICE_UNIT = REPO_ROOT / "nginx" / "systemd" / "app.service"
PROXY_GROUP = "www-data"
INHERITING = ("gunicorn", "uvicorn", "hypercorn")  # app_servers.command(name, fd=3)


def serving_pids(server: AppServer) -> set[int]:
    """The processes that may answer: the one started (LISTEN_PID) and its children
    (gunicorn's workers)."""
    return {server.process.pid} | children_of(server.process.pid)


def pid_of(server: AppServer) -> int:
    response = server.get("/pid")
    assert response.status == 200, response
    return int(response.body)


def inheriting(name: str, path: str, argv: list[str], **options) -> AppServer:
    """An AppServer for `argv`, which serves a socket it inherits, bound at `path`: its file
    is not the server's, so teardown does not expect it gone (AppServer's path is None)."""
    return AppServer(name, f"unix:{path}", argv, None, **options)


def stop_and_keep_the_file(server: AppServer, path: str) -> None:
    """SIGTERM: exit 0, and the socket file, which the server did not create, is still
    there; the test removes it."""
    assert server.stop() == 0, server.describe()
    assert stat.S_ISSOCK(os.lstat(path).st_mode), f"{server.name} removed {path}"
    os.unlink(path)


# --------------------------------------------------------------------------------------
# systemd-socket-activate: the socket first, the server at the first connection


@pytest.fixture
def socket_activate(require_tool) -> str:
    return require_tool("systemd-socket-activate")


@pytest.mark.parametrize("name", INHERITING)
def test_systemd_socket_activate_starts_each_server_on_its_socket(start_server, short_dir,
                                                                 socket_activate, name):
    path = os.path.join(short_dir, "app.sock")
    # -l PATH: it binds and listens, waits for the first connection, then execs the server
    # (the same pid) with the socket as descriptor 3, LISTEN_FDS=1 and LISTEN_PID.
    server = start_server.keep(inheriting(name, path, [socket_activate, "-l", path,
                                                       *command(name, fd=3)]))
    # It prints this once it listens (the file exists from bind(), a moment earlier).
    server.wait_for_output(rf"^Listening on {re.escape(path)} as 3\.$")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644, oct(os.stat(path).st_mode)
    # No connection yet: no server either, only systemd-socket-activate (comm is cut to 15).
    assert command_name(server.process.pid) == "systemd-socket-", server.describe()
    assert pid_of(server) in serving_pids(server)
    assert command_name(server.process.pid) == "python3", server.describe()
    # The server serves the socket as it found it: no chmod() of its own.
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644, oct(os.stat(path).st_mode)
    stop_and_keep_the_file(server, path)


def command_name(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as comm:
        return comm.read().strip()


def test_gunicorn_with_bind_fd_3_fails_under_systemd_socket_activate(start_server, short_dir,
                                                                     socket_activate):
    path = os.path.join(short_dir, "app.sock")
    bound_too = command("gunicorn", fd=3, extra=["--bind", "fd://3"])
    launcher = start_server.keep(inheriting("gunicorn", path,
                                            [socket_activate, "-l", path, *bound_too]))
    launcher.wait_until_accepting()  # the launcher's socket; the probe starts gunicorn
    assert launcher.process.wait(timeout=10) != 0, launcher.describe()
    assert "Bad file descriptor" in launcher.output(), launcher.describe()
    launcher.stopped_by_test = True  # its end is the point: teardown only reaps it
    os.unlink(path)


# --------------------------------------------------------------------------------------
# The socket outlives the app


@pytest.mark.parametrize("name", INHERITING)
def test_a_connection_made_while_the_app_is_down_is_answered_after_its_restart(
        short_dir, name):
    # The test holds the listening socket, as systemd does, and starts the server on it
    # twice, as Restart=on-failure would.
    path = os.path.join(short_dir, "app.sock")
    with bind_like_systemd(path, 0o660, os.getegid()) as listener:
        def start():
            return app_servers.start(name, fd=3, uds=path, pass_fds=[listener.fileno()],
                                     launcher=as_descriptor_3(listener, "self"))

        with start() as first:
            assert pid_of(first) in serving_pids(first)
            first_pids = serving_pids(first)  # now that gunicorn's workers answer
            assert first.stop() == 0, first.describe()
        assert stat.S_ISSOCK(os.lstat(path).st_mode), f"{name} removed the socket file"

        with HttpConnection(connect_to(f"unix:{path}")) as waiting:  # nobody accepts yet
            waiting.send(http_request("GET", "/pid"))
            with start() as second:
                answer = waiting.read_response()
                assert answer.status == 200, answer
                assert int(answer.body) in serving_pids(second)
                assert int(answer.body) not in first_pids
                assert second.stop() == 0, second.describe()
    assert stat.S_ISSOCK(os.lstat(path).st_mode), f"{name} removed the socket file"
    os.unlink(path)


# --------------------------------------------------------------------------------------
# The systemd units to copy


def test_systemd_analyze_verify_accepts_the_app_units(short_dir, require_tool):
    analyze = require_tool("systemd-analyze")
    units = [shutil.copy(unit, short_dir) for unit in (SOCKET_UNIT, SERVICE_UNIT)]
    verify_units(analyze, units, short_dir)


@pytest.mark.parametrize("name", ["uvicorn", "hypercorn"])
def test_the_app_service_comments_give_the_inherited_socket_option_the_tests_run(name):
    # "# uvicorn instead:    ExecStart=..." and the hypercorn line: the option that takes
    # descriptor 3 must be the one the activation tests run (hypercorn without
    # --bind fd://3 would listen on 127.0.0.1:8000 instead).
    shown = re.search(rf"^# {name} instead:\s+ExecStart=(.*)$", SERVICE_UNIT.read_text(), re.M)
    assert shown, f"app.service gives no {name} line"
    tested = command(name, fd=3)
    where = tested[tested.index(name) + 1:tested.index("--loop") if name == "uvicorn" else -1]
    assert " ".join(where) in shown[1], (where, shown[1])


def test_the_app_service_serves_the_socket_the_app_socket_unit_describes(start_server,
                                                                         short_dir):
    socket_unit, service_unit = read_unit(SOCKET_UNIT), read_unit(SERVICE_UNIT)
    assert (unit_setting(socket_unit, "Socket", "Accept") or "no") == "no"
    assert "app.socket" in " ".join(service_unit["Unit"].get("Requires", []))
    mode = int(unit_setting(socket_unit, "Socket", "SocketMode") or "0666", 8)
    group = unit_setting(socket_unit, "Socket", "SocketGroup")
    assert (mode, group) == (0o660, PROXY_GROUP)
    try:
        gid = grp.getgrnam(group).gr_gid if os.geteuid() == 0 else os.getegid()
    except KeyError:  # no such group here: only the mode is exercised
        gid = os.getegid()
    exec_start = shlex.split(unit_setting(service_unit, "Service", "ExecStart") or "")
    assert exec_start[:3] == ["/usr/bin/python3", "-m", "gunicorn"], exec_start
    assert "--bind" not in exec_start and "-b" not in exec_start, (
        "gunicorn takes the socket from LISTEN_FDS; --bind fd://3 as well makes it fail")
    assert exec_start[-1] == "app:app"
    # The course's Flask app in place of yours; the rest as the unit says.
    command_line = [*exec_start[:-1], "flask_app:app"]
    assert command_line[0] == PYTHON

    path = os.path.join(short_dir, os.path.basename(unit_setting(socket_unit, "Socket",
                                                                 "ListenStream")))
    with bind_like_systemd(path, mode, gid) as listener:
        with HttpConnection(connect_to(f"unix:{path}")) as early:  # before the app runs
            early.send(http_request("GET", "/pid"))
            server = start_server.keep(inheriting(
                "gunicorn", path, [*as_descriptor_3(listener, "self"), *command_line],
                pass_fds=[listener.fileno()]))
            answer = early.read_response()
    assert answer.status == 200 and int(answer.body) in children_of(server.process.pid)
    wait_until(lambda: len(children_of(server.process.pid)) == 2,
               "gunicorn's two workers (--workers 2) running")
    info = os.stat(path)
    assert stat.S_IMODE(info.st_mode) == mode and info.st_gid == gid, oct(info.st_mode)
    stop_and_keep_the_file(server, path)
