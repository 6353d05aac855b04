"""Chapter 03, framing: a stream keeps no message boundaries; length prefixes put them back.

Each test demonstrates one claim of lessons/03-framing/README.md against the real programs:
message_boundaries, sigpipe_demo, nagle_demo, frame_server and frame_client."""

import os
import re
import signal
import socket
import struct
import subprocess
import threading

import pytest

from course_support.http import start_http_min
from course_support.processes import wait_for_workers
from course_support.usage import assert_refused_usage


def parse_reads(output: str) -> dict[str, list[str]]:
    """message_boundaries' output as {socket type: [what each read returned]}."""
    reads: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if header := re.match(r"^(SOCK_\w+|TCP): sent ", line):
            current = reads.setdefault(header.group(1), [])
        elif read := re.match(r'^  read \d+: "(.*)"$', line):
            assert current is not None, f"a read before any socket type:\n{output}"
            current.append(read.group(1))
    return reads


def test_stream_merges_writes_and_seqpacket_keeps_them(run_program):
    result = run_program("message_boundaries")
    assert result.returncode == 0, result.stderr

    reads = parse_reads(result.stdout)
    assert reads["SOCK_STREAM"] == ["onetwothree"], result.stdout
    assert reads["TCP"] == ["onetwothree"], result.stdout
    assert reads["SOCK_SEQPACKET"] == ["one", "two", "three"], result.stdout
    assert reads["SOCK_DGRAM"] == ["one", "two", "three"], result.stdout

    split = re.search(r"^stream: one send of 4194304 bytes arrived in (\d+) reads$",
                      result.stdout, re.MULTILINE)
    assert split, result.stdout
    assert int(split.group(1)) > 1


def test_plain_send_to_a_closed_unix_peer_dies_of_sigpipe_at_once(run_program):
    result = run_program("sigpipe_demo", "unix")

    assert result.returncode == -signal.SIGPIPE, f"returncode {result.returncode}"
    assert "plain send()" in result.stdout
    assert "accepted" not in result.stdout  # the very first send raised it
    assert "still alive" not in result.stdout  # it never got to report anything


def test_plain_send_to_a_closed_tcp_peer_dies_of_sigpipe_on_a_later_send(run_program):
    result = run_program("sigpipe_demo", "tcp")

    assert result.returncode == -signal.SIGPIPE, f"returncode {result.returncode}\n{result.stdout}"
    assert "send 1 accepted 1 byte" in result.stdout, result.stdout
    assert "still alive" not in result.stdout


def test_msg_nosignal_turns_sigpipe_into_epipe(run_program):
    result = run_program("sigpipe_demo", "--nosignal", "unix")

    assert result.returncode == 0, result.stderr
    assert "send 1 failed with EPIPE" in result.stdout, result.stdout
    assert "still alive" in result.stdout, result.stdout


def test_msg_nosignal_turns_a_later_tcp_sigpipe_into_epipe(run_program):
    result = run_program("sigpipe_demo", "--nosignal", "tcp")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "send 1 accepted 1 byte" in result.stdout, result.stdout
    failed = re.search(r"^send (\d+) failed with EPIPE .*still alive$", result.stdout, re.MULTILINE)
    assert failed, result.stdout
    assert 2 <= int(failed.group(1)) <= 10, result.stdout


def ignores_sigpipe(pid: int) -> bool:
    """True when process `pid` ignores SIGPIPE: bit 13 of SigIgn in /proc/PID/status."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("SigIgn:"):
                return int(line.split()[1], 16) & (1 << (signal.SIGPIPE - 1)) != 0
    raise AssertionError(f"no SigIgn line for {pid}")


def test_http_min_and_its_workers_ignore_sigpipe(start_server):
    # MSG_NOSIGNAL cannot protect sendfile(): the ignored signal does, in every worker.
    server = start_http_min(start_server, "unix", "--workers", "2", "--no-access-log")
    workers = wait_for_workers(server.process.pid, 2)

    assert ignores_sigpipe(server.process.pid)
    for worker in workers:
        assert ignores_sigpipe(worker), f"worker {worker}"


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_frames_keep_their_boundaries(start_server, run_program, transport):
    server = start_server("frame_server", transport)

    result = run_program("frame_client", server.address, "one", "two\nlines", "")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "[got 3 bytes: one]\n[got 9 bytes: two\nlines]\n[got 0 bytes: ]\n"


def test_frame_server_drops_a_client_that_announces_a_huge_frame(start_server, run_program):
    server = start_server("frame_server", "unix")

    with server.connect(timeout=5) as hostile:
        hostile.sendall(b"\xff\xff\xff\xff")  # "4 GiB follow", and then nothing
        # The server must refuse at the header, not allocate and wait for 4 GiB.
        assert hostile.recv(100) == b"", "the server answered instead of closing"
    server.wait_for_output(r"^dropping .*exceeds the limit")

    result = run_program("frame_client", server.address, "next client")
    assert (result.returncode, result.stdout) == (0, "[got 11 bytes: next client]\n")


def send_frame(client: socket.socket, payload: bytes) -> None:
    client.sendall(struct.pack("!I", len(payload)) + payload)  # 4 bytes, big-endian


def recv_frame(client) -> bytes | None:
    """One frame's payload, or None if the stream ends cleanly between frames."""
    first = client.recv(4)
    if first == b"":
        return None
    (length,) = struct.unpack("!I", first + client.recv_exact(4 - len(first)))
    return client.recv_exact(length)


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_python_client_speaks_the_same_frames(start_server, transport):
    server = start_server("frame_server", transport)
    messages = [b"hello", b"", b"two\nlines", b"\0binary\xff", b"x" * 300_000]

    with server.connect() as client:
        # Send from a thread: the answers pile up while we are still sending.
        def send_all_frames():
            for message in messages:
                send_frame(client, message)
            client.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send_all_frames, daemon=True)
        sender.start()
        answers = []
        while (answer := recv_frame(client)) is not None:
            answers.append(answer)
        sender.join(10)

    assert answers == [b"got %d bytes: " % len(message) + message for message in messages]


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_frame_server_survives_a_client_that_leaves_without_reading(start_server, transport):
    server = start_server("frame_server", transport)
    quitter = server.connect()
    # Many frames, each answered, and nobody reads the answers: the server's send() fails
    # with EPIPE or ECONNRESET once the client has gone. (On a busy machine the server may
    # meet the end in recv() instead: a reset, or the stream ending inside a frame whose
    # rest was never sent. It must survive each.)
    # Sent without blocking: once both directions' buffers are full, the server waits in
    # send() for a reader that never comes, and the rest of our data stays unsent.
    quitter.setblocking(False)
    try:
        quitter.send(b"".join(struct.pack("!I", 1000) + b"y" * 1000 for _ in range(2000)))
    except BlockingIOError:
        pass
    quitter.close()

    # frame_server serves one client at a time: this one is answered only once the server
    # has finished with the one that left.
    with server.connect() as client:
        send_frame(client, b"still here")
        client.shutdown(socket.SHUT_WR)
        assert recv_frame(client) == b"got 10 bytes: still here"


def test_frame_client_sends_and_reads_many_large_frames(start_server, run_program):
    # As much as one command line carries (a single argument is at most 128 KiB): far more
    # than the socket buffers hold, so a client that sent everything before reading would
    # wait forever on a server waiting for it to read.
    server = start_server("frame_server", "unix")
    messages = [chr(ord("a") + number) * 120_000 for number in range(12)]

    result = run_program("frame_client", server.address, *messages, timeout=20)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(f"[got {len(message)} bytes: {message}]\n"
                                    for message in messages)


@pytest.mark.parametrize("hold", ["silent", "mid-frame"])
def test_frame_server_stops_on_sigterm_while_a_client_holds_it(start_server, hold):
    server = start_server("frame_server", "unix")
    with server.connect() as client:
        send_frame(client, b"first")  # answered: the server is serving this client
        assert recv_frame(client) == b"got 5 bytes: first"
        if hold == "mid-frame":
            client.sendall(struct.pack("!I", 1000) + b"only ten b")  # and 990 never come

        status = server.stop(signal.SIGTERM, timeout=8)

        assert status == 0, server.describe()
        assert not os.path.lexists(server.path), f"{server.path} is still there"


@pytest.mark.parametrize("program, arguments, named", [
    ("frame_server", [], ["ADDRESS"]),
    ("frame_server", ["unix:never.sock", "--bogus"], ["--bogus"]),
    ("frame_server", ["unix:never.sock", "extra"], ["extra"]),
    ("frame_client", [], ["ADDRESS"]),
    ("frame_client", ["--bogus", "unix:never.sock"], ["--bogus"]),
    ("message_boundaries", ["extra"], ["extra"]),
    ("message_boundaries", ["--bogus"], ["--bogus"]),
    ("sigpipe_demo", ["--bogus"], ["--bogus"]),
    ("sigpipe_demo", ["--nosignal", "extra"], ["extra"]),
])
def test_bad_command_line_is_refused_in_one_line(run_program, short_dir, program, arguments,
                                                 named):
    result = run_program(program, *arguments, timeout=10)

    assert_refused_usage(result, program, *named)
    assert os.listdir(short_dir) == [], "a refused command line must not bind anything"


# ---- write, write, read: Nagle's algorithm against delayed ACKs -----------------------------

def nagle_median_ms(run_program, *args: str) -> float:
    """nagle_demo's median round trip, in milliseconds, for `args` (transport [way])."""
    result = run_program("nagle_demo", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    median = re.search(r": 20 requests, median ([\d.]+) ms, slowest ([\d.]+) ms$", result.stdout,
                       re.MULTILINE)
    assert median, result.stdout
    return float(median.group(1))


def loopback_acks_at_once() -> bool:
    """True when the loopback route carries `quickack 1` (ip-route(8)), which turns delayed
    ACKs off for it: then no request waits, whatever the sender does."""
    try:
        routes = subprocess.run(["ip", "route", "show", "table", "local"],
                                capture_output=True, text=True, timeout=10).stdout
    except FileNotFoundError:
        return False  # no ip(8): assume the default routes, which delay ACKs
    return any(line.startswith("local 127.") and "quickack 1" in line
               for line in routes.splitlines())


def test_two_writes_then_a_read_wait_for_the_delayed_ack_over_tcp(run_program):
    # Linux delays an ACK by at least 40 ms (TCP_DELACK_MIN); 20 ms leaves room either way.
    median = nagle_median_ms(run_program, "tcp")
    if loopback_acks_at_once():
        assert median < 10, f"median {median} ms with quickack on the loopback route"
    else:
        assert median >= 20, f"median {median} ms: the body was not held back for an ACK"


@pytest.mark.parametrize("way", ["nodelay", "more", "cork", "writev"])
def test_nodelay_more_cork_or_one_writev_answer_at_once_over_tcp(run_program, way):
    median = nagle_median_ms(run_program, "tcp", way)
    assert median < 10, f"median {median} ms"


def test_two_writes_then_a_read_do_not_wait_over_a_unix_socket(run_program):
    median = nagle_median_ms(run_program, "unix")
    assert median < 10, f"median {median} ms"
