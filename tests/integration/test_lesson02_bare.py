"""Chapter 02's bare TCP pair: bare_tcp_echo_server (sockaddr_in filled by hand) and
bare_tcp_echo_client (getaddrinfo), plain system calls without the library.

Each test demonstrates one claim of lessons/02-tcp-twin/README.md against the real
programs. The bare server has no signal handling: Ctrl-C (SIGINT) ends it by the signal's
default action, so the tests stop it themselves and expect exactly that."""

import re
import signal
import socket

import pytest
import subprocess

from course_support.polling import poll_until


def start_bare_server(start_server):
    return start_server("bare_tcp_echo_server", extra_args=["{port}"], address="127.0.0.1:0")


def stop_with_ctrl_c(server) -> str:
    assert server.stop(signal.SIGINT) == -signal.SIGINT  # no handler: the default action
    return server.output()


def test_bare_server_fills_sockaddr_in_for_the_loopback_and_port_zero(start_server):
    server = start_bare_server(start_server)

    assert re.fullmatch(r"127\.0\.0\.1:[1-9][0-9]*", server.address), server.address
    with server.connect() as client:
        assert client.family == socket.AF_INET
        assert client.getpeername() == ("127.0.0.1", server.port)  # htons() got it right
        payload = bytes(range(256)) * 1024  # every byte value, more than one recv() holds
        assert client.send_then_read_until_eof(payload) == payload
        client_port = client.getsockname()[1]
    output = stop_with_ctrl_c(server)
    assert f"client 127.0.0.1:{client_port} done, {len(payload)} bytes echoed" in output, output


def test_bare_server_serves_clients_one_after_another(start_server):
    server = start_bare_server(start_server)

    for word in (b"one\n", b"two\n", b"three\n"):
        with server.connect() as client:
            assert client.send_then_read_until_eof(word) == word
    # The first client is start_server's readiness check, which connects and sends nothing.
    echoed = re.findall(r"^client 127\.0\.0\.1:\d+ done, (\d+) bytes echoed$",
                        stop_with_ctrl_c(server), re.MULTILINE)
    assert echoed == ["0", "4", "4", "6"]


def test_bare_server_refuses_a_bad_port(run_program):
    for port in ("99999", "-1", "http", ""):
        result = run_program("bare_tcp_echo_server", port, timeout=10)
        assert result.returncode == 2, (port, result)
        assert "usage: bare_tcp_echo_server PORT" in result.stderr


def time_wait_lines(ss: str, port_filter: str):
    listing = subprocess.run([ss, "-tnH", "state", "time-wait", *port_filter.split()],
                             capture_output=True, text=True, timeout=30)
    return [line.split()[-2:] for line in listing.stdout.splitlines() if line.strip()] or None


def test_bare_server_sets_so_reuseaddr_so_it_rebinds_over_its_own_time_wait(
        start_server, require_tool):
    ss = require_tool("ss")
    first = start_bare_server(start_server)
    port = first.port
    # Stopped while a client is connected, the server closes first: its end of the
    # connection, on its own port, then waits in TIME_WAIT.
    with first.connect() as client:
        client.sendall(b"x")
        assert client.recv_exact(1) == b"x"
        stop_with_ctrl_c(first)
        assert client.recv_until_eof() == b""  # the server's FIN
    assert poll_until(lambda: time_wait_lines(ss, f"sport = :{port}"), 5), "no TIME_WAIT"

    again = start_server("bare_tcp_echo_server", extra_args=["{port}"],
                         address=f"127.0.0.1:{port}")
    with again.connect() as client:
        assert client.send_then_read_until_eof(b"again") == b"again"
    stop_with_ctrl_c(again)


# [bare-client-tries-each-address]
def test_bare_client_tries_each_address_getaddrinfo_returns(start_server, run_program):
    try:
        socket.getaddrinfo("localhost", None)
    except socket.gaierror as error:  # a bare chroot has no /etc/hosts
        pytest.skip(f"localhost does not resolve here ({error}): no /etc/hosts entry")
    server = start_bare_server(start_server)

    result = run_program("bare_tcp_echo_client", "localhost", str(server.port), "hello")

    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr
    # localhost may name ::1 as well as 127.0.0.1 (/etc/hosts): nothing listens on ::1.
    assert result.stderr.splitlines()[-1] == f"trying 127.0.0.1:{server.port}: connected"
    stop_with_ctrl_c(server)
# [bare-client-tries-each-address]


def test_bare_client_reports_a_refused_connection(run_program):
    with socket.socket() as placeholder:  # a port nobody listens on: bound, not listening
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        result = run_program("bare_tcp_echo_client", "127.0.0.1", str(port), "hello")

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"trying 127.0.0.1:{port}: Connection refused",
        "bare_tcp_echo_client: no address of 127.0.0.1 accepted"]


def test_bare_client_reports_getaddrinfo_errors_with_gai_strerror(run_program):
    result = run_program("bare_tcp_echo_client", "127.0.0.1", "http", "hello", timeout=10)

    assert result.returncode == 1
    # AI_NUMERICSERV: glibc refuses a service name without a lookup (EAI_NONAME), and the
    # client says so in gai_strerror()'s words.
    assert result.stderr == ("bare_tcp_echo_client: getaddrinfo(127.0.0.1, http): "
                             "Name or service not known\n")


def test_the_client_that_closes_first_holds_time_wait(start_server, run_program, require_tool):
    ss = require_tool("ss")
    server = start_bare_server(start_server)

    result = run_program("bare_tcp_echo_client", "127.0.0.1", str(server.port), "hi")
    assert result.returncode == 0, result.stderr

    # The client's shutdown(SHUT_WR) sent the first FIN, so its end waits in TIME_WAIT:
    # the line's local address is the client's, its peer the server's port.
    found = poll_until(lambda: time_wait_lines(ss, f"dport = :{server.port}"), 5)
    # (start_server's readiness check was a client too: it also closed first.)
    assert found is not None, "no TIME_WAIT towards the server's port"
    for local, peer in found:
        assert local.startswith("127.0.0.1:") and peer == f"127.0.0.1:{server.port}", found
    assert time_wait_lines(ss, f"sport = :{server.port}") is None  # none on the server's side
    stop_with_ctrl_c(server)
