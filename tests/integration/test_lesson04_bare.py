"""Chapter 04 opens with bare_poll_echo and bare_epoll_echo: one thread serving many clients
with poll() and with epoll, in plain system calls. Each test demonstrates one claim of
lessons/04-many-clients/README.md against the real programs, including the weakness the
chapter then fixes."""

import os
import signal
import socket
import time

import pytest

LOOPS = ["bare_poll_echo", "bare_epoll_echo"]


def start_loop(start_server, short_dir, program):
    return start_server(program, address=f"unix:{os.path.join(short_dir, program + '.sock')}",
                        extra_args=["{path}"])


def stop_by_signal(server):
    """The bare loops have no clean stop: SIGTERM's default action ends them, and the file
    stays (the test removes it)."""
    assert server.stop(signal.SIGTERM) == -signal.SIGTERM, server.describe()
    os.unlink(server.path)


def exchange(client: socket.socket, data: bytes) -> bytes:
    client.sendall(data)
    received = b""
    while len(received) < len(data):
        chunk = client.recv(4096)
        assert chunk, "the server closed the connection"
        received += chunk
    return received


@pytest.mark.parametrize("program", LOOPS)
def test_bare_loop_serves_many_clients_at_once(start_server, short_dir, program):
    server = start_loop(start_server, short_dir, program)
    clients = [server.connect() for _ in range(20)]  # all connected before any is served
    try:
        for round_number in range(3):
            for number, client in enumerate(clients):
                message = f"round {round_number} client {number}\n".encode()
                assert exchange(client, message) == message
    finally:
        for client in clients:
            client.close()
    stop_by_signal(server)


@pytest.mark.parametrize("program", LOOPS)
def test_bare_loop_drops_a_client_that_closes_and_serves_the_next(start_server, short_dir,
                                                                  program):
    server = start_loop(start_server, short_dir, program)
    for number in range(50):  # a leaked descriptor or slot would show as a failure here
        with server.connect() as client:
            assert exchange(client, b"x" * number + b"\n") == b"x" * number + b"\n"
    stop_by_signal(server)


@pytest.mark.parametrize("program", LOOPS)
def test_bare_loop_stalls_everyone_behind_a_client_that_does_not_read(start_server, short_dir,
                                                                      program):
    # The weakness the chapter fixes with non-blocking sockets and EPOLLOUT: the bare loop's
    # write() blocks on a client whose buffers are full, and the whole loop waits with it.
    server = start_loop(start_server, short_dir, program)
    with server.connect() as rude, server.connect() as polite:
        rude.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # fill both directions' buffers, never reading
            try:
                sent += rude.send(b"x" * 65536)
            except BlockingIOError:
                time.sleep(0.05)
                try:
                    rude.send(b"x")
                except BlockingIOError:
                    break
        polite.settimeout(1.0)
        polite.sendall(b"anyone?\n")
        with pytest.raises(socket.timeout):
            polite.recv(100)
    stop_by_signal(server)
