"""Chapter 02, the TCP twin: the same echo_server and echo_client over AF_INET and AF_INET6.

Only the address differs; each test demonstrates one claim of
lessons/02-tcp-twin/README.md against the real programs."""

import os
import re
import socket
import struct
import subprocess
import sys

import pytest

from course_support.polling import poll_until


def test_same_echo_server_over_tcp_port_zero(start_server):
    server = start_server("echo_server", "tcp")  # asks for 127.0.0.1:0

    announced = re.search(r"^listening on 127\.0\.0\.1:(\d+)$", server.output(), re.MULTILINE)
    assert announced, server.output()
    assert int(announced.group(1)) != 0  # the port the kernel chose, not the 0 we asked for
    assert server.port == int(announced.group(1))

    with server.connect() as client:
        assert client.family == socket.AF_INET
        assert client.send_then_read_until_eof(b"hello over tcp\n") == b"hello over tcp\n"


def test_same_echo_client_over_tcp(start_server, run_program):
    server = start_server("echo_server", "tcp")

    result = run_program("echo_client", server.address, "hello", "tcp")

    assert (result.returncode, result.stdout, result.stderr) == (0, "hello tcp\n", "")


def test_echo_over_ipv6_loopback(start_server, run_program):
    server = start_server("echo_server", "tcp6")  # [::1]:0; skipped where ::1 is missing
    assert re.fullmatch(r"\[::1\]:[1-9][0-9]*", server.address), server.address

    with server.connect() as client:
        assert client.family == socket.AF_INET6
        assert client.send_then_read_until_eof(b"hello over ipv6") == b"hello over ipv6"
    result = run_program("echo_client", server.address, "hello", "ipv6")
    assert (result.returncode, result.stdout) == (0, "hello ipv6\n")


@pytest.mark.parametrize("transport", ["unix", "abstract", "tcp", "tcp6"])
def test_transport_does_not_change_the_echo(start_server, run_program, transport):
    server = start_server("echo_server", transport)
    # Every byte value, and more than any socket buffer holds at once.
    payload = bytes(range(256)) * 4096 + b"\0the end\n"

    with server.connect() as client:
        assert client.send_then_read_until_eof(payload) == payload

    result = run_program("echo_client", server.address, input=payload, text=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == payload


@pytest.mark.parametrize("program", ["echo_server", "echo_client"])
def test_bad_port_is_named_in_one_line(run_program, program):
    result = run_program(program, "127.0.0.1:99999", timeout=10)

    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{result.stderr}"
    assert lines[0].startswith(f"{program}: ") and "'99999'" in lines[0], lines[0]


@pytest.mark.parametrize("program", ["echo_server", "echo_client"])
def test_bad_host_is_named_in_one_line(run_program, program):
    result = run_program(program, "nowhere:80", timeout=10)

    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{result.stderr}"
    assert lines[0].startswith(f"{program}: ") and "'nowhere'" in lines[0], lines[0]


def _leave_without_reading(client):
    """Sends far more than the socket buffers hold, then closes without reading the echo."""
    client.setblocking(False)
    try:
        client.send(b"x" * 1_000_000)
    except BlockingIOError:
        pass
    client.close()


def _reset(client):
    """Sends a little, then aborts the connection: SO_LINGER with timeout 0 sends an RST."""
    client.sendall(b"partial message")
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


@pytest.mark.parametrize("misbehave", [_leave_without_reading, _reset], ids=["no-read", "reset"])
def test_a_client_that_vanishes_over_tcp_does_not_stop_the_server(start_server, misbehave):
    server = start_server("echo_server", "tcp")
    misbehave(server.connect())
    # The server logs the lost client (EPIPE or ECONNRESET) and serves the next one.
    with server.connect() as client:
        assert client.send_then_read_until_eof(b"still here\n") == b"still here\n"
    assert server.process.poll() is None, server.describe()


def test_tcp_listener_is_visible_to_ss(start_server, require_tool):
    ss = require_tool("ss")
    server = start_server("echo_server", "tcp")

    listing = subprocess.run([ss, "-tln"], capture_output=True, text=True, timeout=30)
    if listing.returncode != 0:
        pytest.skip(f"ss -tln does not work here: {listing.stderr.strip()}")
    local = f"127.0.0.1:{server.port}"
    listening = [line.split() for line in listing.stdout.splitlines() if local in line.split()]
    assert listening, f"{local} is not in `ss -tln`:\n{listing.stdout}"
    assert listening[0][0] == "LISTEN"


# -- a full backlog, as `ss` shows it -------------------------------------------------------
#
# For a listening socket, `ss` shows in Recv-Q the connections waiting to be accepted, and in
# Send-Q the backlog the listener really got: listen()'s argument, capped at
# net.core.somaxconn (read here, per network namespace: 4096 since Linux 5.4, 128 before).


def _somaxconn() -> int:
    with open("/proc/sys/net/core/somaxconn") as value:
        return int(value.read())


def _ss_queues(ss: str, transport: str, local: str) -> tuple[int, int] | None:
    """(Recv-Q, Send-Q) of the listener at `local` in `ss -l`, or None if it is not there."""
    if transport == "tcp":
        command = [ss, "-ltnH", f"sport = :{local.rpartition(':')[2]}"]
    else:
        command = [ss, "-xlH", "src", local]
    listing = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if listing.returncode != 0:
        pytest.skip(f"{' '.join(command)} does not work here: {listing.stderr.strip()}")
    for line in listing.stdout.splitlines():
        fields = line.split()
        if local in fields and "LISTEN" in fields:
            state = fields.index("LISTEN")
            return int(fields[state + 1]), int(fields[state + 2])
    return None


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_ss_shows_waiting_connections_as_recv_q_and_the_clamped_backlog_as_send_q(
        short_dir, require_tool, transport):
    ss = require_tool("ss")
    if transport == "tcp":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        local = f"127.0.0.1:{listener.getsockname()[1]}"
        target = listener.getsockname()
    else:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        local = target = os.path.join(short_dir, "queue.sock")
        listener.bind(target)
    clients = []
    try:
        listener.listen(100000)  # far above any somaxconn
        for _ in range(3):  # nobody accepts them
            client = socket.socket(listener.family, socket.SOCK_STREAM)
            clients.append(client)
            client.settimeout(10)
            client.connect(target)
        queues = poll_until(lambda: (lambda q: q if q and q[0] == 3 else None)(
            _ss_queues(ss, transport, local)), 10)
        assert queues, f"ss never showed Recv-Q 3 for {local}: {_ss_queues(ss, transport, local)}"
        assert queues[1] == min(100000, _somaxconn()), (
            f"Send-Q {queues[1]}, net.core.somaxconn {_somaxconn()}")
    finally:
        for client in clients:
            client.close()
        listener.close()


_OLD_SOMAXCONN = """
import socket, subprocess, sys
with open("/proc/sys/net/core/somaxconn", "w") as value:
    value.write("128")  # the default before Linux 5.4
listener = socket.socket()
listener.bind(("0.0.0.0", 0))
listener.listen(4096)
port = listener.getsockname()[1]
print(subprocess.run([sys.argv[1], "-ltnH", f"sport = :{port}"], capture_output=True,
                     text=True, check=True).stdout)
"""


def test_a_somaxconn_of_128_silently_lowers_a_backlog_of_4096(require_tool):
    ss = require_tool("ss")
    if os.geteuid() != 0:
        pytest.skip("needs root: sets net.core.somaxconn in a private network namespace")
    unshare = require_tool("unshare")
    result = subprocess.run([unshare, "--net", sys.executable, "-c", _OLD_SOMAXCONN, ss],
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0 and ("unshare" in result.stderr or "Permission" in result.stderr):
        pytest.skip(f"cannot make a private network namespace here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    fields = result.stdout.split()
    assert fields[:3] == ["LISTEN", "0", "128"], result.stdout  # no error, just 128
