"""Chapter 04, many clients: the same echo service five ways, one idea at a time.

echo_server (1, iterative) serves one client after another; echo_fork (2), echo_threads (3),
echo_poll (4) and echo_epoll (5) serve them all at once. Each test demonstrates one claim of
lessons/04-many-clients/README.md against the real programs, parametrised over the servers
the claim is about."""

import fcntl
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import termios
import threading
import time
from contextlib import ExitStack

import pytest

from course_support.timeouts import IO_TIMEOUT, STOP_TIMEOUT
from course_support.polling import poll_until
from course_support.sockets import ClientSocket
from course_support.processes import Server, has_exited, processes
from course_support.usage import assert_refused_usage

MiB = 1024 * 1024
ITERATIVE = "echo_server"
CONCURRENT = ["echo_fork", "echo_threads", "echo_poll", "echo_epoll"]
ALL_SERVERS = [ITERATIVE, *CONCURRENT]


# --------------------------------------------------------------------------------------
# Helpers


def random_bytes(size: int, seed: int) -> bytes:
    """`size` reproducible bytes without a pattern, so a lost or repeated chunk shows."""
    return random.Random(seed).randbytes(size)


def assert_same_bytes(actual: bytes, expected: bytes) -> None:
    """Compares large byte strings, saying where they first differ (pytest's own diff of
    megabytes would bury the point)."""
    if actual == expected:
        return
    first = next((i for i, (a, b) in enumerate(zip(actual, expected)) if a != b),
                 min(len(actual), len(expected)))
    pytest.fail(f"got {len(actual)} bytes, expected {len(expected)}; "
                f"they differ first at byte {first}", pytrace=False)


def assert_echoes(client: ClientSocket, message: bytes) -> None:
    """One round trip on an open connection: the echo must come back, the connection stays."""
    client.sendall(message)
    assert client.recv_exact(len(message)) == message


def receive_until_eof(client: socket.socket) -> bytes:
    """Everything until the end of the stream, read into one preallocated buffer (a
    recv(8 MiB) per call would allocate 8 MiB each time)."""
    data = bytearray()
    chunk = bytearray(256 * 1024)
    while count := client.recv_into(chunk):
        data += memoryview(chunk)[:count]
    return bytes(data)


def queued_bytes(client: socket.socket) -> tuple[int, int]:
    """(bytes received and not read yet, bytes sent and not read by the peer yet): on a Unix
    stream socket FIONREAD and TIOCOUTQ (SIOCOUTQ) count both, so together they change
    whenever the server takes or gives anything on this connection."""
    unread = struct.unpack("i", fcntl.ioctl(client, termios.FIONREAD, b"\0" * 4))[0]
    unsent = struct.unpack("i", fcntl.ioctl(client, termios.TIOCOUTQ, b"\0" * 4))[0]
    return unread, unsent


def became_true(condition, timeout: float = IO_TIMEOUT) -> bool:
    """Polls `condition` until it is true or `timeout` has passed; the short sleep only
    paces the polling, the deadline bounds it."""
    return bool(poll_until(condition, timeout, interval=0.01))


def processes_of(server: Server) -> set[int]:
    """The live pids in the server's process group: the server and the children it forked."""
    return processes(lambda info: info["pgrp"] == server.process.pid)


def sockets_held(server: Server) -> int:
    """Socket descriptors open in the server's processes (children included)."""
    count = 0
    for pid in processes_of(server):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    count += 1
        except OSError:  # the process or descriptor went away while we looked
            continue
    return count


class Sender(threading.Thread):
    """Sends `data` on `client` in a thread, counting what the kernel has taken so far, then
    half-closes. A client that sends much without reading blocks in here: that is the point."""

    def __init__(self, client: socket.socket, data: bytes, chunk: int = 16 * 1024) -> None:
        super().__init__(daemon=True)
        self.client, self.data, self.chunk = client, data, chunk
        self.sent = 0
        self.failure = None

    def run(self) -> None:
        try:
            view = memoryview(self.data)
            while self.sent < len(self.data):
                self.client.sendall(view[self.sent:self.sent + self.chunk])
                self.sent = min(len(self.data), self.sent + self.chunk)
            self.client.shutdown(socket.SHUT_WR)
        except BaseException as error:  # reported by the test's thread
            self.failure = error


def reset_mid_message(client: ClientSocket) -> None:
    """Leaves an echo unread, sends half a message, then aborts the connection: SO_LINGER 0
    makes TCP send RST; on a Unix socket closing with unread data gives the peer ECONNRESET."""
    client.sendall(b"an echo I will not read\n")
    readable, _, _ = select.select([client], [], [], IO_TIMEOUT)
    assert readable, "the server did not echo"
    client.sendall(b"half a mess")
    if client.family != socket.AF_UNIX:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


def leave_without_reading(client: ClientSocket) -> None:
    """Sends far more than the socket buffers hold, waits until the echo starts to come
    back, then closes without reading it: the server is left with a large echo for nobody."""
    client.setblocking(False)
    try:
        client.send(b"x" * (8 * MiB))  # takes what fits
    except BlockingIOError:
        pass
    readable, _, _ = select.select([client], [], [], IO_TIMEOUT)
    assert readable, "the server did not echo"
    client.close()


# --------------------------------------------------------------------------------------
# 1: one client at a time


def test_iterative_server_makes_a_second_client_wait(start_server):
    server = start_server(ITERATIVE, "unix")

    with server.connect() as first, server.connect() as second:
        assert_echoes(first, b"first client")  # accepted, and being served
        # The second connect() succeeded (the kernel queued it), but nobody reads it yet.
        second.sendall(b"second client")
        second.settimeout(0.5)  # proving an absence: nothing may arrive in this time
        with pytest.raises(socket.timeout):
            second.recv(100)
        second.settimeout(IO_TIMEOUT)

        first.shutdown(socket.SHUT_WR)  # the first client is done ...
        assert first.recv_until_eof() == b""
        # ... and only now is the second one accepted, and its bytes echoed.
        assert second.recv_exact(len(b"second client")) == b"second client"


# --------------------------------------------------------------------------------------
# 2-5: many clients at once


@pytest.mark.parametrize("program", CONCURRENT)
def test_concurrent_servers_serve_100_clients_at_once(start_server, program):
    server = start_server(program, "unix")
    messages = [f"client {number} of 100\n".encode() for number in range(100)]

    with ExitStack() as stack:
        clients = [stack.enter_context(server.connect()) for _ in messages]
        # Everyone speaks before anyone is answered, so all 100 are in the server at once.
        for client, message in zip(clients, messages):
            client.sendall(message)
        for number, (client, message) in enumerate(zip(clients, messages)):
            assert client.recv_exact(len(message)) == message, f"client {number}"
        # Still all open, and independent: a second round, in the other order.
        for client, message in reversed(list(zip(clients, messages))):
            assert_echoes(client, message.upper())
        for client in clients:
            client.shutdown(socket.SHUT_WR)
        for number, client in enumerate(clients):
            assert client.recv_until_eof() == b"", f"client {number}"


@pytest.mark.parametrize("program", CONCURRENT)
def test_a_client_that_does_not_read_does_not_block_the_others(start_server, program):
    server = start_server(program, "unix")
    data = random_bytes(8 * MiB, seed=4)  # far more than the buffers on the way can hold

    stuck = server.connect(timeout=30)
    sender = Sender(stuck, data)
    try:
        sender.start()  # client A sends and reads nothing for now
        with server.connect() as other:
            # Client B is served again and again, until A's connection has stopped moving
            # for a while: the server takes nothing more from A and gives it nothing more.
            rounds, last, still_since = 0, None, time.monotonic()
            deadline = time.monotonic() + 30
            while True:
                message = f"round {rounds}\n".encode()
                try:
                    assert_echoes(other, message)
                except OSError as error:
                    pytest.fail(f"client B got no echo while client A was stuck ({error}): "
                                f"one client that does not read blocks {program}.\n"
                                f"{server.describe()}", pytrace=False)
                rounds += 1
                now = (sender.sent, *queued_bytes(stuck))
                if now != last:
                    last, still_since = now, time.monotonic()
                elif now[1] > 0 and time.monotonic() - still_since >= 0.25:
                    break  # the server echoed to A, and A is now stuck
                assert time.monotonic() < deadline, f"client A never got stuck: {now}"
                assert sender.failure is None, sender.failure
            assert sender.is_alive(), (
                f"client A sent all {len(data)} bytes without reading any: {program} kept "
                f"reading them instead of stopping when it could not send (no backpressure)")
            assert_echoes(other, b"B, once more, while A is stuck")

        # Now A reads: every byte comes back, in order, and its sender can finish.
        received = receive_until_eof(stuck)
        sender.join(IO_TIMEOUT)
        assert sender.failure is None, sender.failure
        assert_same_bytes(received, data)
    finally:
        try:
            stuck.shutdown(socket.SHUT_RDWR)  # wakes a sender blocked in send()
        except OSError:
            pass
        stuck.close()
        sender.join(IO_TIMEOUT)
    assert server.returncode is None, server.describe()


@pytest.mark.parametrize("transport", ["unix", "tcp"])
@pytest.mark.parametrize("program", ALL_SERVERS)
def test_half_closed_client_gets_everything_back(start_server, program, transport):
    server = start_server(program, transport)
    data = random_bytes(MiB, seed=1)

    with server.connect() as client:
        # shutdown(SHUT_WR) after the last byte: the server must still send back all it has,
        # then close. The server sees POLLIN (with POLLRDHUP; never POLLHUP, since it can
        # still send) and reads 0 once it has read the rest.
        received = client.send_then_read_until_eof(data)

    assert_same_bytes(received, data)


@pytest.mark.parametrize("transport", ["unix", "tcp"])
@pytest.mark.parametrize("program", CONCURRENT)
def test_a_client_that_vanishes_mid_message_does_not_hurt_the_others(start_server, program,
                                                                       transport):
    server = start_server(program, transport)

    with server.connect() as first, server.connect() as second:
        assert_echoes(first, b"first, before")
        assert_echoes(second, b"second, before")

        reset_mid_message(server.connect())
        leave_without_reading(server.connect())

        assert_echoes(first, b"first, after")
        assert_echoes(second, b"second, after")
        with server.connect() as newcomer:
            assert newcomer.send_then_read_until_eof(b"newcomer\n") == b"newcomer\n"
        assert server.returncode is None, server.describe()
        # The server let go of the two that vanished: it holds the listener and two clients.
        assert became_true(lambda: sockets_held(server) == 3), (
            f"{program} holds {sockets_held(server)} sockets, expected 3 (the listener, "
            f"first and second)\n{server.describe()}")

        assert_echoes(first, b"first, at the end")
        assert_echoes(second, b"second, at the end")


@pytest.mark.parametrize("program", ALL_SERVERS)
def test_servers_stop_cleanly_on_sigterm(start_server, program):
    server = start_server(program, "unix")
    for number in range(3):
        with server.connect() as client:
            message = f"client {number}\n".encode()
            assert client.send_then_read_until_eof(message) == message

    os.kill(server.process.pid, signal.SIGTERM)
    assert became_true(lambda: has_exited(server.process.pid), STOP_TIMEOUT), (
        f"{program} did not exit within {STOP_TIMEOUT} s of SIGTERM\n{server.describe()}")
    left_behind = processes_of(server)  # before stop() kills whatever is left of the group
    status = server.stop()  # it has exited: this only collects the status

    assert status == 0, server.describe()
    assert not left_behind, f"{program} exited, but these processes remain: {left_behind}"
    assert not os.path.lexists(server.path), f"{server.path} is still there"
    assert "stopping" in server.output()


def _cpu_seconds(pid):
    """User plus system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("program", ["echo_threads", "echo_poll", "echo_epoll"])
def test_running_out_of_descriptors_neither_kills_nor_spins(start_server, require_tool, program):
    prlimit = require_tool("prlimit")
    server = start_server(program, "unix")
    # Leave the running server 16 descriptors: fewer than the clients about to connect.
    subprocess.run([prlimit, f"--pid={server.process.pid}", "--nofile=16:16"], check=True)
    clients = [server.connect() for _ in range(24)]  # all connect: the backlog holds them
    try:
        server.wait_for_output(r"EMFILE")
        # Measured over half a second while the server cannot accept: a loop that spins on
        # the readable listener would use all of it.
        before = _cpu_seconds(server.process.pid)
        threading.Event().wait(0.5)  # a measuring window, not a wait for readiness
        assert _cpu_seconds(server.process.pid) - before < 0.2, server.describe()
        # In connection order, each client is served once those before it have left.
        for number, client in enumerate(clients):
            message = b"client %d" % number
            client.sendall(message)
            assert client.recv_exact(len(message)) == message, server.describe()
            client.close()
    finally:
        for client in clients:
            client.close()
    assert server.process.poll() is None, server.describe()


def _stop_pipe_write_end(pid):
    """/proc path of the write end of the server's stop pipe (StopSignals' self-pipe): the
    one pipe of which the process holds both ends (others may be inherited)."""
    ends = {}  # pipe inode -> {access mode: fd}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("pipe:"):
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                flags = int(re.search(r"flags:\s*([0-7]+)", info.read()).group(1), 8)
            ends.setdefault(target, {})[flags & os.O_ACCMODE] = fd
    for pipe in ends.values():
        if os.O_RDONLY in pipe and os.O_WRONLY in pipe:
            return f"/proc/{pid}/fd/{pipe[os.O_WRONLY]}"
    raise AssertionError(f"process {pid} holds no pipe with both ends: {ends}")


def _idle_with_only_its_listener(pid):
    """The server waits in poll() or epoll_wait() and holds no socket but its listener (the
    fixture's readiness probe has come and gone)."""
    with open(f"/proc/{pid}/wchan") as wchan:
        waiting = "poll" in wchan.read()
    sockets = [fd for fd in os.listdir(f"/proc/{pid}/fd")
               if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")]
    return waiting and len(sockets) == 1


def _process_state(pid):
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


@pytest.mark.parametrize("program", ["echo_poll", "echo_epoll"])
def test_a_stop_and_a_new_client_in_one_wakeup_exit_cleanly(start_server, program):
    # The server is frozen while a stop request (the byte the signal handler writes) and a
    # new client arrive, so that one wake-up reports both, the stop first. echo_epoll once
    # then looked the closed listener up as a client and exited 1.
    server = start_server(program, "unix")
    pid = server.process.pid
    assert poll_until(lambda: _idle_with_only_its_listener(pid), STOP_TIMEOUT), server.describe()
    os.kill(pid, signal.SIGSTOP)
    try:
        assert poll_until(lambda: _process_state(pid) == "T", STOP_TIMEOUT), "not stopped"
        stop_fd = os.open(_stop_pipe_write_end(pid), os.O_WRONLY | os.O_NONBLOCK)
        os.write(stop_fd, b"\x01")
        os.close(stop_fd)
        with socket.socket(socket.AF_UNIX) as late:
            late.connect(server.path)  # queued in the backlog while the server is frozen
    finally:
        os.kill(pid, signal.SIGCONT)
    assert server.process.wait(STOP_TIMEOUT) == 0, server.describe()


@pytest.mark.parametrize("program", ["echo_fork", "echo_threads", "echo_poll", "echo_epoll",
                                     "canned_http"])
@pytest.mark.parametrize("arguments, named", [
    ([], ["ADDRESS"]),
    (["unix:never.sock", "--bogus"], ["--bogus"]),
    (["unix:never.sock", "extra"], ["extra"]),
], ids=["missing", "unknown-option", "extra"])
def test_bad_command_line_is_refused_in_one_line(run_program, short_dir, program, arguments,
                                                 named):
    result = run_program(program, *arguments, timeout=10)

    assert_refused_usage(result, program, *named)
    assert os.listdir(short_dir) == [], "a refused command line must not bind anything"
