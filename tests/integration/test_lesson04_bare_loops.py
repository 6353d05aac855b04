"""Chapter 04's first event loops, bare: bare_poll_echo (poll()) and bare_epoll_echo (epoll),
in plain system calls with no course library.

They serve many clients at once from one thread; and, being bare, a client that sends without
reading stalls them, which is what echo_poll and echo_epoll harden against. Each test
demonstrates one claim of lessons/04-many-clients/README.md against the real programs."""

import os
import signal
import socket
import threading
import time
from contextlib import ExitStack

import pytest

from course_support.polling import poll_until
from course_support.timeouts import IO_TIMEOUT

BARE_LOOPS = ["bare_poll_echo", "bare_epoll_echo"]


def start_bare_loop(start_server, short_dir, program):
    """The program on a path in short_dir (it takes a plain path, not unix:PATH)."""
    return start_server(program, address=f"unix:{os.path.join(short_dir, 'loop.sock')}",
                        extra_args=["{path}"])


@pytest.mark.parametrize("program", BARE_LOOPS)
def test_bare_loops_serve_several_clients_at_once(start_server, short_dir, program):
    server = start_bare_loop(start_server, short_dir, program)
    messages = [f"client {number}\n".encode() for number in range(20)]
    with ExitStack() as stack:
        clients = [stack.enter_context(server.connect()) for _ in messages]
        for client, message in zip(clients, messages):  # all speak before any is answered
            client.sendall(message)
        for client, message in reversed(list(zip(clients, messages))):
            assert client.recv_exact(len(message)) == message
        for client in clients:  # each one's end of stream is its own
            client.shutdown(socket.SHUT_WR)
            assert client.recv_until_eof() == b""


@pytest.mark.parametrize("program", BARE_LOOPS)
def test_a_client_that_does_not_read_stalls_the_bare_loops(start_server, short_dir, program):
    server = start_bare_loop(start_server, short_dir, program)
    stuck = server.connect()
    progress = {"sent": 0}

    def send_without_reading():
        chunk = b"x" * 65536
        try:
            for _ in range(8 * 16):  # 8 MiB: far more than the socket buffers hold
                stuck.sendall(chunk)
                progress["sent"] += len(chunk)
        except OSError:  # the test closed the socket to end this thread
            pass

    sender = threading.Thread(target=send_without_reading, daemon=True)
    sender.start()
    try:
        # Wait until the sender has stopped moving for a quarter of a second: the server is
        # blocked in write() to it.
        seen = {"sent": -1, "since": time.monotonic()}

        def sender_is_stuck() -> bool:
            if progress["sent"] != seen["sent"]:
                seen["sent"], seen["since"] = progress["sent"], time.monotonic()
            return time.monotonic() - seen["since"] >= 0.25

        assert poll_until(sender_is_stuck, IO_TIMEOUT, interval=0.01), \
            "the client that does not read never got stuck"
        with server.connect() as other:  # queued by the kernel, never accepted
            other.sendall(b"anyone there?")
            other.settimeout(0.5)  # proving an absence: nothing may arrive in this time
            with pytest.raises(socket.timeout):
                other.recv(100)
    finally:
        stuck.shutdown(socket.SHUT_RDWR)
        stuck.close()
        sender.join(IO_TIMEOUT)
    # With the stuck client gone, the loop serves again.
    with server.connect() as later:
        assert later.send_then_read_until_eof(b"served again\n") == b"served again\n"


@pytest.mark.parametrize("program", BARE_LOOPS)
def test_bare_loops_stop_on_sigterm_and_remove_their_file(start_server, short_dir, program):
    server = start_bare_loop(start_server, short_dir, program)
    with server.connect() as client:  # a client still connected does not hold the stop up
        assert client.send_then_read_until_eof(b"hello\n") == b"hello\n"
    held = server.connect()
    try:
        assert server.stop(signal.SIGTERM) == 0, server.describe()
    finally:
        held.close()
    assert not os.path.lexists(server.path), f"{server.path} is still there"
    assert server.output().endswith("stopping\n"), server.describe()


@pytest.mark.parametrize("program", BARE_LOOPS)
def test_bare_loops_refuse_a_bad_command_line(run_program, short_dir, program):
    result = run_program(program)
    assert result.returncode == 2
    assert result.stderr == f"usage: {program} PATH (at most 107 bytes)\n"
    assert os.listdir(short_dir) == []
