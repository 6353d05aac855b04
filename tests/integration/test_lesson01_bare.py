"""Chapter 01 opens with bare_echo_server and bare_echo_client: the echo pair in plain
system calls, with no course library.

Each test demonstrates one claim of lessons/01-first-unix-socket/README.md against the
real programs."""

import errno
import os
import signal
import socket
import stat
import threading

import pytest


def start_bare_server(start_server, short_dir, name="echo.sock"):
    """bare_echo_server on a path in short_dir (it takes a plain path, not unix:PATH)."""
    return start_server("bare_echo_server", address=f"unix:{os.path.join(short_dir, name)}",
                        extra_args=["{path}"])


def leave_a_stale_socket_file(path):
    """What a crashed server leaves: a socket file with nobody listening on it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(path)


def test_bare_client_and_server_echo_a_line(start_server, short_dir, run_program):
    server = start_bare_server(start_server, short_dir)

    result = run_program("bare_echo_client", server.path, "hello over a unix socket")

    assert (result.returncode, result.stdout, result.stderr) == \
        (0, "hello over a unix socket\n", "")


def test_bare_server_echoes_a_megabyte_unchanged(start_server, short_dir):
    # More than a socket buffer holds: read() returns it in pieces, and the write loop must
    # send each piece whole, short writes included.
    server = start_bare_server(start_server, short_dir)
    data = os.urandom(1 << 20)
    with server.connect() as client:
        sender = threading.Thread(target=lambda: (client.sendall(data),
                                                  client.shutdown(socket.SHUT_WR)))
        sender.start()
        echoed = client.recv_until_eof()
        sender.join()
    assert echoed == data


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_bare_server_removes_its_file_when_stopped(start_server, short_dir, stop_signal):
    server = start_bare_server(start_server, short_dir)
    assert stat.S_ISSOCK(os.lstat(server.path).st_mode)

    assert server.stop(stop_signal) == 0, server.describe()

    assert not os.path.lexists(server.path), f"{server.path} is still there"
    assert server.output().endswith(f"stopped; removed {server.path}\n"), server.describe()


def test_bare_server_outlives_a_client_that_leaves_without_reading(start_server, short_dir,
                                                                   run_program):
    # Without signal(SIGPIPE, SIG_IGN) the server's write() to the vanished client would
    # kill it with SIGPIPE.
    server = start_bare_server(start_server, short_dir)
    for _ in range(3):
        with server.connect() as rude:
            rude.sendall(b"x" * 100_000)
    result = run_program("bare_echo_client", server.path, "still here")
    assert (result.returncode, result.stdout) == (0, "still here\n"), server.describe()


# [bare-leftover]
def test_bare_server_fails_on_a_leftover_file_and_leaves_it(short_dir, run_program):
    path = os.path.join(short_dir, "echo.sock")
    leave_a_stale_socket_file(path)  # as a server killed with SIGKILL would

    result = run_program("bare_echo_server", path)

    assert (result.returncode, result.stderr) == (1, "bind: Address already in use\n")
    assert stat.S_ISSOCK(os.lstat(path).st_mode)  # still there: removing it is your call
# [bare-leftover]


def test_bare_server_fails_on_a_regular_file_too(short_dir, run_program):
    path = os.path.join(short_dir, "notes.txt")
    with open(path, "w") as notes:
        notes.write("not a socket\n")

    result = run_program("bare_echo_server", path)

    assert (result.returncode, result.stderr) == (1, "bind: Address already in use\n")
    with open(path) as notes:
        assert notes.read() == "not a socket\n"


@pytest.mark.parametrize("leftover, error", [(False, errno.ENOENT), (True, errno.ECONNREFUSED)],
                         ids=["missing", "leftover"])
def test_bare_client_prints_the_call_and_errno(short_dir, run_program, leftover, error):
    path = os.path.join(short_dir, "echo.sock")
    if leftover:
        leave_a_stale_socket_file(path)

    result = run_program("bare_echo_client", path, "hello")

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"connect: {os.strerror(error)}\n"


@pytest.mark.parametrize("program", ["bare_echo_server", "bare_echo_client"])
def test_bare_programs_refuse_a_path_longer_than_sun_path(short_dir, run_program, program):
    path = os.path.join(short_dir, "p" * 120)

    result = run_program(program, path, *(["hello"] if program == "bare_echo_client" else []))

    assert result.returncode == 1
    assert result.stderr == (f"{program}: the path is {len(path)} bytes; sun_path holds 107 "
                             "and a NUL\n")
    assert os.listdir(short_dir) == []
