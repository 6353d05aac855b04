"""Chapter 13, a path that already exists, and exit: what each of the five Python servers does
with a socket file already at its path (live or stale), what it leaves there when it stops,
and lessons/13-your-app/socket_guard.py, the check that keeps a second instance out.

The servers run the chapter's apps (course_support/app_servers.py); a GET /whoami says which
process answered, so a test can tell which instance a path leads to."""

import os
import signal
import socket
import stat

import pytest

from course_support import app_servers
from course_support.app_servers import SERVERS
from course_support.polling import wait_until
from course_support.processes import run
from course_support.programs import REPO_ROOT
from course_support.socket_access import connect_result

GUARD = REPO_ROOT / "lessons" / "13-your-app" / "socket_guard.py"
# Measured: uvicorn and gunicorn unlink their path when they exit on SIGTERM, without
# looking at what is there now; aiohttp's UnixSite, hypercorn and asyncio.start_unix_server
# leave the file.
REMOVE_THE_PATH_ON_EXIT = ("uvicorn", "gunicorn")


def instance_behind(server):
    """The process group (the instance) of the process that answered GET /whoami at the
    server's path: gunicorn's answer comes from a worker, whose group is its master's."""
    return os.getpgid(server.whoami()["pid"])


def wait_until_served_by(server):
    """Returns once GET /whoami at the server's path is answered by `server` itself. (Its
    readiness check can be answered by a server already on the path, before this one has
    replaced the file; while it replaces it, connect() fails for a moment.)"""
    def served_by_it():
        try:
            return instance_behind(server) == server.process.pid
        except OSError:  # between the other's unlink() and this one's listen(): not yet
            return None

    wait_until(served_by_it, f"{server.name} (pid {server.process.pid}) answering at "
                             f"{server.path}")


def wait_until_stale(path):
    """Returns once connect() to `path` is refused: the last process holding the listening
    socket (gunicorn's workers outlive a killed master by a moment) has gone."""
    wait_until(lambda: connect_result(path) == "ECONNREFUSED", f"{path} refusing connections")


def stale_socket(path):
    """A socket file nobody listens on, as a crashed server leaves it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(path)


# --------------------------------------------------------------------------------------
# What the servers do


@pytest.mark.parametrize("server", SERVERS)
def test_a_second_instance_takes_the_path_and_the_first_ones_exit_removes_it_or_not(
        short_dir, server):
    path = os.path.join(short_dir, "app.sock")
    with app_servers.start(server, uds=path) as first:
        assert instance_behind(first) == first.process.pid
        with app_servers.start(server, uds=path) as second:
            # No error at start: the second removes the first's live socket and binds its
            # own. The first still runs, but no new client reaches it.
            wait_until_served_by(second)
            assert not first.has_ended()
            assert first.stop() == 0
            if server in REMOVE_THE_PATH_ON_EXIT:
                # The first one's exit removed the path, though the file was the second's:
                # the second still runs, and nobody can connect to it.
                assert not os.path.lexists(path)
                assert not second.has_ended()
                assert connect_result(path) == "ENOENT"
                # And the second's own stop fails: the file it would remove is gone.
                assert second.stop() == 1, second.describe()
            else:
                assert instance_behind(second) == second.process.pid
                assert second.stop() == 0, second.describe()


@pytest.mark.parametrize("server", SERVERS)
def test_a_regular_file_at_the_path_stops_each_server_and_stays(short_dir, server):
    path = os.path.join(short_dir, "app.sock")
    with open(path, "w") as precious:
        precious.write("precious")
    result = run(app_servers.command(server, uds=path), cwd=str(app_servers.APPS))
    assert result.returncode != 0, f"{server} started on a regular file:\n{result.stderr}"
    with open(path) as precious:
        assert precious.read() == "precious"


@pytest.mark.parametrize("server", SERVERS)
def test_on_sigterm_uvicorn_and_gunicorn_remove_their_file_the_others_leave_it_stale(
        short_dir, server):
    with app_servers.start(server, short_dir) as app:
        assert app.stop() == 0
        if server in REMOVE_THE_PATH_ON_EXIT:
            assert not os.path.lexists(app.path)
        else:
            assert stat.S_ISSOCK(os.lstat(app.path).st_mode)
            assert connect_result(app.path) == "ECONNREFUSED"  # stale: nobody listens


@pytest.mark.parametrize("server", SERVERS)
def test_a_restart_after_a_crash_takes_over_the_stale_file(short_dir, server):
    path = os.path.join(short_dir, "app.sock")
    with app_servers.start(server, uds=path) as crashed:
        crashed.stop(signal.SIGKILL)
        wait_until_stale(path)  # the file stays, and nobody listens
        with app_servers.start(server, uds=path) as restarted:
            wait_until_served_by(restarted)


# --------------------------------------------------------------------------------------
# The guard


def guard(path):
    """socket_guard.py PATH: (exit status, what it wrote to stderr)."""
    result = run([app_servers.PYTHON, str(GUARD), path])
    return result.returncode, result.stderr


def test_the_guard_lets_a_missing_path_through(short_dir):
    path = os.path.join(short_dir, "app.sock")
    assert guard(path) == (0, "")
    assert not os.path.lexists(path)


def test_the_guard_removes_a_stale_socket(short_dir):
    path = os.path.join(short_dir, "app.sock")
    stale_socket(path)
    status, said = guard(path)
    assert (status, said) == (0, f"socket_guard: removed the stale socket {path}\n")
    assert not os.path.lexists(path)


def test_the_guard_refuses_a_live_socket_and_leaves_it(short_dir):
    path = os.path.join(short_dir, "app.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
        live.bind(path)
        live.listen(1)
        status, said = guard(path)
        assert status == 1 and "another instance is serving" in said, said
        assert connect_result(path) == "connected"  # still there, still the test's


@pytest.mark.parametrize("kind", ["regular file", "directory", "link to a stale socket"])
def test_the_guard_never_removes_what_is_not_a_socket(short_dir, kind):
    path = os.path.join(short_dir, "app.sock")
    if kind == "regular file":
        with open(path, "w") as precious:
            precious.write("precious")
    elif kind == "directory":
        os.mkdir(path)
    else:  # lstat(): the link is judged, not what it points at (which is stale)
        stale_socket(os.path.join(short_dir, "stale.sock"))
        os.symlink(os.path.join(short_dir, "stale.sock"), path)
    before = os.lstat(path)
    status, said = guard(path)
    assert status == 1 and "is not a socket: not touching it" in said, said
    assert os.lstat(path).st_ino == before.st_ino


def guarded(server, path):
    """`server` started behind the guard: socket_guard.py PATH -- COMMAND."""
    command = app_servers.command(server, uds=path)
    return app_servers.AppServer(server, f"unix:{path}",
                                 [app_servers.PYTHON, str(GUARD), path, "--", *command], path)


def test_the_guard_keeps_a_second_instance_off_a_live_path(short_dir):
    path = os.path.join(short_dir, "app.sock")
    with app_servers.start("uvicorn", uds=path) as first:
        second = guarded("uvicorn", path)
        second.owns_path = False  # the file is the first's: end() must leave it
        try:
            assert second.process.wait(timeout=10) == 1, second.describe()
        finally:
            second.end()
        assert "another instance is serving" in second.output()
        assert instance_behind(first) == first.process.pid


def test_a_guarded_server_starts_on_a_stale_path(short_dir):
    path = os.path.join(short_dir, "app.sock")
    stale_socket(path)
    restarted = guarded("uvicorn", path)
    try:
        restarted.wait_until_answering()
        assert instance_behind(restarted) == restarted.process.pid  # exec: the same pid
        assert "removed the stale socket" in restarted.output()
    finally:
        restarted.end()


def test_the_guard_leaves_a_live_socket_whose_queue_is_full(short_dir):
    # A busy server's full queue refuses a non-blocking connect() with EAGAIN, not
    # ECONNREFUSED: only the latter proves the file stale.
    path = os.path.join(short_dir, "app.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as busy:
        busy.bind(path)
        busy.listen(0)
        waiting = []
        try:
            with pytest.raises(BlockingIOError):
                while len(waiting) < 100:  # the queue holds backlog + 1: a few suffice
                    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    waiting.append(client)
                    client.setblocking(False)
                    client.connect(path)
            status, said = guard(path)
        finally:
            for client in waiting:
                client.close()
        assert status == 1 and "EAGAIN" in said, said
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
