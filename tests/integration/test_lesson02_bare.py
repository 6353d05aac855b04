"""Chapter 02 opens with bare_tcp_echo_server and bare_tcp_echo_client: chapter 01's bare
echo pair over TCP, a sockaddr_in filled by hand on the server's side and getaddrinfo() on
the client's. Each test demonstrates one claim of lessons/02-tcp-twin/README.md against the
real programs."""

import signal
import socket
import threading

import pytest


def start_bare_tcp_server(start_server):
    """bare_tcp_echo_server on 127.0.0.1, on a port the kernel picks (it takes the port
    alone, and prints `listening on 127.0.0.1:PORT`)."""
    return start_server("bare_tcp_echo_server", address="127.0.0.1:0", extra_args=["{port}"])


def port_of(server) -> str:
    return server.address.rpartition(":")[2]


def test_bare_tcp_client_and_server_echo_a_line(start_server, run_program):
    server = start_bare_tcp_server(start_server)
    result = run_program("bare_tcp_echo_client", "127.0.0.1", port_of(server), "hello over TCP")
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello over TCP\n", "")


def test_bare_tcp_client_tries_every_address_of_localhost_until_one_connects(start_server,
                                                                             run_program):
    # The server listens on 127.0.0.1 only. Where "localhost" also stands for ::1 (first, on
    # Debian), connect() to ::1 is refused, and the client must go on to 127.0.0.1.
    server = start_bare_tcp_server(start_server)
    addresses = {info[4][0] for info in socket.getaddrinfo("localhost", port_of(server),
                                                           type=socket.SOCK_STREAM)}
    assert "127.0.0.1" in addresses, addresses
    result = run_program("bare_tcp_echo_client", "localhost", port_of(server), "found")
    assert (result.returncode, result.stdout) == (0, "found\n"), result.stderr


def test_bare_tcp_server_echoes_a_megabyte_unchanged(start_server):
    server = start_bare_tcp_server(start_server)
    data = bytes(range(256)) * 4096
    with socket.create_connection(("127.0.0.1", int(port_of(server))), timeout=30) as client:
        sender = threading.Thread(target=lambda: (client.sendall(data),
                                                  client.shutdown(socket.SHUT_WR)))
        sender.start()
        echoed = bytearray()
        while chunk := client.recv(65536):
            echoed += chunk
        sender.join()
    assert echoed == data


def test_bare_tcp_client_names_the_refused_connect(run_program):
    # A port bound but not listening: a connect() to it is refused for as long as we hold it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        result = run_program("bare_tcp_echo_client", "127.0.0.1", str(held.getsockname()[1]),
                             "x")
    assert result.returncode == 1
    assert result.stderr == "connect: Connection refused\n"


def test_bare_tcp_client_names_a_getaddrinfo_failure_with_gai_strerror(run_program):
    result = run_program("bare_tcp_echo_client", "localhost", "not-a-port", "x")
    assert result.returncode == 1
    assert result.stderr.startswith("getaddrinfo(localhost, not-a-port): ")


def test_bare_tcp_server_refuses_a_port_out_of_range(run_program):
    result = run_program("bare_tcp_echo_server", "65536")
    assert result.returncode == 1
    assert "'65536' is not a port from 0 to 65535" in result.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_bare_tcp_server_stops_cleanly_on_a_signal(start_server, stop_signal):
    server = start_bare_tcp_server(start_server)
    assert server.stop(stop_signal) == 0, server.describe()
    assert server.output().endswith("stopped\n"), server.describe()
