"""Chapter 01, a first Unix socket: echo_server and echo_client over AF_UNIX.

Each test demonstrates one claim of lessons/01-first-unix-socket/README.md against the
real programs."""

import os
import select
import signal
import socket
import stat
import struct
import subprocess

import pytest

from course_support.usage import assert_refused_usage


def test_echo_server_echoes_over_a_unix_socket(start_server):
    server = start_server("echo_server", "unix")
    message = b"hello over a unix socket\n"
    with server.connect() as client:
        assert client.family == socket.AF_UNIX
        client.sendall(message)
        client.shutdown(socket.SHUT_WR)  # "no more from me": the server's recv() returns 0
        assert client.recv_until_eof() == message


def test_echo_client_prints_the_reply(start_server, run_program):
    server = start_server("echo_server", "unix")

    words = run_program("echo_client", server.address, "hello", "world")
    assert (words.returncode, words.stdout, words.stderr) == (0, "hello world\n", "")

    lines = "first line\nsecond line\n"
    piped = run_program("echo_client", server.address, input=lines)
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, lines, "")


def test_socket_file_is_a_socket_of_size_zero(start_server):
    server = start_server("echo_server", "unix")
    info = os.lstat(server.path)
    assert stat.S_ISSOCK(info.st_mode), f"{server.path} has mode {oct(info.st_mode)}"
    assert info.st_size == 0


def test_ss_lists_the_listening_socket(start_server, require_tool):
    ss = require_tool("ss")
    server = start_server("echo_server", "unix")
    listing = subprocess.run([ss, "-xl"], capture_output=True, text=True, timeout=30)
    if listing.returncode != 0:
        pytest.skip(f"ss -xl does not work here: {listing.stderr.strip()}")
    listening = [line for line in listing.stdout.splitlines() if server.path in line.split()]
    assert listening, f"{server.path} is not in `ss -xl`:\n{listing.stdout}"
    fields = listening[0].split()
    assert "LISTEN" in fields
    # Send-Q of a listener: its backlog, SOMAXCONN (4096 in glibc's headers) capped at net.core.somaxconn.
    with open("/proc/sys/net/core/somaxconn") as somaxconn:
        backlog = min(4096, int(somaxconn.read()))
    state = fields.index("LISTEN")
    assert fields[state + 2] == str(backlog), listening[0]


def test_server_serves_clients_one_after_another(start_server):
    server = start_server("echo_server", "unix")

    for number in range(1, 4):
        with server.connect() as client:
            message = f"client {number}\n".encode()
            assert client.send_then_read_until_eof(message) == message

    # One at a time: a second client is queued (its connect succeeds) but gets no answer
    # while the first is still connected, and is served as soon as the first has finished.
    with server.connect() as first, server.connect() as second:
        first.sendall(b"first")
        assert first.recv_exact(5) == b"first"
        second.sendall(b"second")
        second.settimeout(0.5)  # proving an absence: nothing may arrive in this time
        with pytest.raises(socket.timeout):
            second.recv(100)
        second.settimeout(10)
        first.shutdown(socket.SHUT_WR)
        assert first.recv_until_eof() == b""
        second.shutdown(socket.SHUT_WR)
        assert second.recv_until_eof() == b"second"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_server_removes_its_socket_file_on_sigterm(start_server, stop_signal):
    server = start_server("echo_server", "unix")
    assert stat.S_ISSOCK(os.lstat(server.path).st_mode)

    status = server.stop(stop_signal)

    assert status == 0, server.describe()
    assert not os.path.lexists(server.path), f"{server.path} is still there"
    assert "stopping" in server.output()


def test_too_long_path_exits_with_one_line_naming_the_limit(short_dir, run_program):
    path = os.path.join(short_dir, "")
    path += "p" * (120 - len(path))
    assert len(path.encode()) == 120

    result = run_program("echo_server", f"unix:{path}", timeout=10)

    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{result.stderr}"
    assert "120 bytes" in lines[0] and "108" in lines[0], lines[0]
    assert not os.path.lexists(path)


def test_echo_over_an_abstract_socket(start_server, short_dir):
    server = start_server("echo_server", "abstract")
    assert server.address.startswith("unix:@") and server.path is None

    with server.connect() as client:
        assert client.send_then_read_until_eof(b"no file needed") == b"no file needed"

    # The server ran in short_dir: a name mistaken for a relative path would be here.
    assert os.listdir(short_dir) == []
    name = server.address[len("unix:"):]  # "@course-..." as /proc/net/unix shows it
    with open("/proc/net/unix") as table:
        assert any(line.split()[-1] == name for line in table if len(line.split()) == 8)


def _leave_without_reading(client):
    """Sends far more than the socket buffers hold, then closes without reading the echo."""
    client.settimeout(10)
    client.setblocking(False)
    try:
        client.send(b"x" * 1_000_000)
    except BlockingIOError:
        pass
    client.close()


def _reset(client):
    """Sends a little, then aborts the connection (RST for TCP: SO_LINGER with timeout 0)."""
    client.sendall(b"partial message")
    if client.family != socket.AF_UNIX:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


# Over TCP (which needs chapter 02's address parsing): test_lesson02_tcp_twin.py.
@pytest.mark.parametrize("transport", ["unix"])
@pytest.mark.parametrize("misbehave", [_leave_without_reading, _reset], ids=["no-read", "reset"])
def test_a_client_that_vanishes_does_not_stop_the_server(start_server, transport, misbehave):
    server = start_server("echo_server", transport)
    misbehave(server.connect())
    # The server logs the lost client and serves the next one.
    with server.connect() as client:
        assert client.send_then_read_until_eof(b"still here\n") == b"still here\n"
    assert server.process.poll() is None, server.describe()


# --------------------------------------------------------------------------------------
# Stopping while a client holds the server (issue 11)


def _hold_silently(client):
    """Has one message echoed, so the server is surely serving this client, then sends
    nothing more: the server waits in recv()."""
    client.sendall(b"hello")
    assert client.recv_exact(5) == b"hello"


def _hold_without_reading(client):
    """Sends until neither direction's buffers take more, reading nothing: the server waits
    in send() for a reader that never comes."""
    client.setblocking(False)
    while True:
        try:
            client.send(b"x" * 65536)
        except BlockingIOError:
            # Full. Room again within a second would mean the server still reads and echoes.
            _, writable, _ = select.select([], [client], [], 1.0)
            if not writable:
                return


@pytest.mark.parametrize("hold", [_hold_silently, _hold_without_reading],
                         ids=["silent", "not-reading"])
def test_server_stops_on_sigterm_while_a_client_holds_it(start_server, hold):
    server = start_server("echo_server", "unix")
    with server.connect() as client:
        hold(client)

        # The client still holds it: the stop must not wait for the client.
        status = server.stop(signal.SIGTERM, timeout=8)

        assert status == 0, server.describe()
        assert not os.path.lexists(server.path), f"{server.path} is still there"


# --------------------------------------------------------------------------------------
# Command lines (issue 11): a bad one is refused with exit status 2 and one line naming it


@pytest.mark.parametrize("program, arguments, named", [
    ("echo_server", [], ["ADDRESS"]),
    ("echo_server", ["unix:never.sock", "--verbose"], ["--verbose"]),
    ("echo_server", ["--verbose", "unix:never.sock"], ["--verbose"]),
    ("echo_server", ["unix:never.sock", "extra"], ["extra"]),
    ("echo_client", [], ["ADDRESS"]),
    ("echo_client", ["-x", "unix:never.sock"], ["-x"]),
])
def test_bad_command_line_is_refused_in_one_line(run_program, short_dir, program, arguments,
                                                 named):
    result = run_program(program, *arguments, timeout=10)

    assert_refused_usage(result, program, *named)
    assert os.listdir(short_dir) == [], "a refused command line must not bind anything"
