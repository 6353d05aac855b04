"""Chapter 02, the TCP twin: the same echo_server and echo_client over AF_INET and AF_INET6.

Only the address differs; each test demonstrates one claim of
lessons/02-tcp-twin/README.md against the real programs."""

import re
import socket
import subprocess

import pytest


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
