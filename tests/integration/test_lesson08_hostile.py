"""Chapter 08, http_min under hostile and careless clients: connections that hold resources
(idle, silent, slow, not reading, thousands at once) and answers that must arrive (an early
413 to a client still sending, a small static file over TCP without Nagle's delay).

Each test proves one guarantee of http_min's event loop (http_min/src/worker.cpp): every
connection is timed (--keepalive-timeout, --request-timeout, --send-timeout, and
--graceful-timeout at a stop), memory is bounded per connection and per misbehaving client,
and an error response is followed by a lingering close (RFC 9112 section 9.6). Times are
asserted with wide margins (a 1 s timeout is "closed within 1 to 8 s", "still open after
0.5 s"), so a loaded machine does not make them flaky; memory figures are bounds far from
both the old and the new behaviour, the exact numbers belong to `scripts/bench hostile`."""

from __future__ import annotations

import os
import resource
import select
import signal
import socket
import statistics
import threading
import time
from contextlib import ExitStack
from typing import Optional

import httpx
import pytest

from course_support.http import (HTTP_MIN_TRANSPORTS, MiB, HttpConnection, connect, get,
                                 http_client, http_request, peer_has_closed, server_rss,
                                 start_http_min)
from course_support.polling import poll_until, wait_until
from course_support.processes import has_exited
from course_support.programs import program_path
from course_support.sockets import socket_address
from course_support.timeouts import IO_TIMEOUT, STOP_TIMEOUT

KiB = 1024
# A timeout of 1 s must have fired by then, however loaded the machine is.
LATE = 8.0


def closed_within(connection: HttpConnection, low: float, high: float,
                  started: float) -> float:
    """Waits for the server to close `connection` (end of stream, no bytes) and returns when
    that happened, in seconds after `started`; fails unless it is between `low` and `high`."""
    assert connection.closed_by_server(timeout=high - (time.monotonic() - started)), (
        f"still open {high} s after the start")
    elapsed = time.monotonic() - started
    assert elapsed >= low, f"closed after {elapsed:.2f} s, before the {low} s it must wait"
    return elapsed


def make_file(directory: str, name: str, size: int) -> str:
    """A --root directory under `directory` with one file of `size` bytes; returns the root."""
    root = os.path.join(directory, "root")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, name), "wb") as out:
        out.truncate(size)  # sparse: the content does not matter, only the length
    return root


def raise_descriptor_limit(needed: int) -> None:
    """The soft RLIMIT_NOFILE up to the hard one, for us and for the servers we start (they
    inherit it); the test is skipped if even that is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < needed:
        pytest.skip(f"needs {needed} descriptors, the hard limit is {hard}")


def open_after_one_request(server, count: int, stack: ExitStack) -> list[HttpConnection]:
    """`count` keep-alive connections, each having had one answered request."""
    connections = []
    for _ in range(count):
        connection = stack.enter_context(connect(server))
        connection.send(http_request("GET", "/healthz"))
        assert connection.read_response().body == b"ok"
        connections.append(connection)
    return connections


# --------------------------------------------------------------------------------------
# Idle and silent connections: --keepalive-timeout, --request-timeout


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_idle_keepalive_connection_is_closed_after_the_keepalive_timeout(start_server,
                                                                         transport):
    server = start_http_min(start_server, transport, "--keepalive-timeout", "1")
    with connect(server) as idle:
        idle.send(http_request("GET", "/healthz"))
        assert idle.read_response().body == b"ok"
        started = time.monotonic()
        assert not idle.closed_by_server(timeout=0.5), "closed before the keep-alive timeout"
        # closed_by_server() also fails on any byte: an idle close sends no 408.
        closed_within(idle, 0.5, LATE, started)


def test_keepalive_timeout_zero_closes_the_connection_after_each_response(start_server):
    server = start_http_min(start_server, "unix", "--keepalive-timeout", "0")
    with connect(server) as connection:
        connection.send(http_request("GET", "/healthz"))
        response = connection.read_response()
        assert response.body == b"ok" and response.header("Connection") == "close", response
        assert connection.closed_by_server(), "kept open with --keepalive-timeout 0"


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_a_connection_that_sends_nothing_is_closed_after_the_request_timeout(start_server,
                                                                            transport):
    # The keep-alive timeout is longer: only the request timeout can close it.
    server = start_http_min(start_server, transport, "--request-timeout", "1",
                            "--keepalive-timeout", "60")
    with connect(server) as silent:
        started = time.monotonic()
        assert not silent.closed_by_server(timeout=0.5), "closed before the request timeout"
        closed_within(silent, 0.9, LATE, started)  # without a 408: there was no request
    assert get(server, "/healthz").body == b"ok"


def test_a_partial_request_gets_408_at_the_request_timeout_and_it_is_logged(start_server):
    server = start_http_min(start_server, "unix", "--request-timeout", "1",
                            "--keepalive-timeout", "60")
    with connect(server) as slow:
        slow.send(b"GET /healthz HTTP/1.1\r\nHost: loc")  # and then nothing
        started = time.monotonic()
        slow.sock.settimeout(LATE)
        response = slow.read_response()
        elapsed = time.monotonic() - started
        assert response.status == 408, response
        assert response.header("Connection") == "close", response
        # The timer started at accept(), a moment before `started`.
        assert 0.5 <= elapsed <= LATE, f"408 after {elapsed:.2f} s"
        assert slow.closed_by_server(), "still open after the 408"
    server.wait_for_output(r'^unix .*" 408$')


def test_a_request_trickled_byte_by_byte_is_cut_off_at_the_request_timeout(start_server):
    # The timeout covers the whole request, body included, and a byte now and then does
    # not restart it.
    server = start_http_min(start_server, "unix", "--request-timeout", "1",
                            "--keepalive-timeout", "60")
    request = http_request("POST", "/echo", body=b"x" * 100)
    with connect(server) as trickle:
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < LATE and sent < len(request):
            readable, _, _ = select.select([trickle.sock], [], [], 0.1)
            if readable:
                break
            trickle.send(request[sent:sent + 1])
            sent += 1
        trickle.sock.settimeout(IO_TIMEOUT)
        response = trickle.read_response()
        elapsed = time.monotonic() - started
        assert response.status == 408, response
        assert 0.5 <= elapsed <= LATE, f"408 after {elapsed:.2f} s"
        assert sent < len(request), "the whole request went through"


# --------------------------------------------------------------------------------------
# Clients that do not read: bounded memory, --send-timeout, --graceful-timeout


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_a_client_that_pipelines_without_reading_does_not_grow_server_memory(start_server,
                                                                             short_dir,
                                                                             transport):
    root = make_file(short_dir, "big.bin", 16 * MiB)
    server = start_http_min(start_server, transport, "--root", root, "--no-access-log")
    assert get(server, "/healthz").body == b"ok"
    before = server_rss(server.process.pid)

    family, sockaddr = socket_address(server.address)
    hostile = socket.socket(family)
    hostile.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: TCP's window
    hostile.settimeout(IO_TIMEOUT)
    hostile.connect(sockaddr)
    # A file larger than every socket buffer on the way, then requests the server could
    # answer from memory, sent and sent without ever reading an answer.
    hostile.sendall(http_request("GET", "/static/big.bin"))
    batch = http_request("GET", "/", host="a") * 2000
    sent = [0]
    stop = threading.Event()
    held_back = threading.Event()  # a send found no room: the server has stopped reading

    def pipeline():
        hostile.settimeout(0.2)
        while not stop.is_set() and sent[0] < 1024 * MiB:
            try:
                sent[0] += hostile.send(batch)
            except socket.timeout:
                held_back.set()  # good: keep trying until told to stop
            except OSError:
                return

    sender = threading.Thread(target=pipeline, daemon=True)
    sender.start()
    try:
        # A fixed server stops reading from it soon; one that reads on never holds it back
        # (then the memory check below fails).
        held_back.wait(IO_TIMEOUT)
        # Another client is served promptly meanwhile.
        started = time.monotonic()
        assert get(server, "/healthz").body == b"ok"
        assert time.monotonic() - started < 3.0, "another client waited"
        # The measure: the highest RSS seen while the client keeps pushing for 2 s more.
        peak = before
        window_ends = time.monotonic() + 2.0
        while time.monotonic() < window_ends and not stop.wait(0.05):
            peak = max(peak, server_rss(server.process.pid))
        growth = peak - before
    finally:
        stop.set()
        sender.join(IO_TIMEOUT)
        hostile.close()
    assert growth < 32 * MiB, (f"server RSS grew by {growth / MiB:.0f} MiB while one client "
                               f"sent {sent[0] / MiB:.0f} MiB of requests without reading")


def test_a_client_that_stops_reading_is_closed_after_the_send_timeout(start_server, short_dir):
    size = 16 * MiB
    root = make_file(short_dir, "big.bin", size)
    server = start_http_min(start_server, "unix", "--root", root, "--send-timeout", "1")
    with connect(server) as stalled:
        stalled.send(http_request("GET", "/static/big.bin"))
        response = stalled.sock.recv(100)  # the response starts; then we stop reading
        assert response.startswith(b"HTTP/1.1 200 "), response
        started = time.monotonic()
        assert not peer_has_closed(stalled.sock, 0.5), "closed before the send timeout"
        assert peer_has_closed(stalled.sock, LATE), f"still open after {LATE} s"
        elapsed = time.monotonic() - started
        assert elapsed >= 0.5, f"closed after {elapsed:.2f} s, before the 1 s timeout"
        # What was in flight still arrives, then the end: less than the whole file.
        received = len(response)
        stalled.sock.settimeout(IO_TIMEOUT)
        while chunk := stalled.sock.recv(MiB):
            received += len(chunk)
        assert received < size, "the whole file arrived: the connection was not cut"
    assert get(server, "/healthz").body == b"ok"


def test_graceful_timeout_ends_a_stop_held_by_a_client_that_does_not_read(start_server,
                                                                          short_dir):
    root = make_file(short_dir, "big.bin", 16 * MiB)
    server = start_http_min(start_server, "unix", "--workers", "1", "--root", root,
                            "--graceful-timeout", "1")  # and the send timeout stays 30 s
    with connect(server) as stalled:
        stalled.send(http_request("GET", "/static/big.bin"))
        assert stalled.sock.recv(100).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)
        assert poll_until(lambda: has_exited(server.process.pid), LATE), (
            f"still running {LATE} s after SIGTERM with --graceful-timeout 1")
        elapsed = time.monotonic() - started
    assert server.stop() == 0, server.describe()
    assert elapsed >= 0.9, f"exited after {elapsed:.2f} s: the graceful time was not given"
    assert not os.path.lexists(server.path), "the socket file was left behind"


# --------------------------------------------------------------------------------------
# Memory per connection


def rss_per_connection(server, count: int) -> float:
    """Bytes of server RSS per idle keep-alive connection, with `count` of them open."""
    # Warm up first: what every server allocates once (buffers, pools, the first Date).
    with ExitStack() as warm:
        open_after_one_request(server, 50, warm)
    before = server_rss(server.process.pid)
    with ExitStack() as stack:
        open_after_one_request(server, count, stack)
        after = server_rss(server.process.pid)
    return (after - before) / count


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_an_idle_keepalive_connection_costs_under_8_kib_of_server_memory(start_server,
                                                                         transport):
    raise_descriptor_limit(1200)
    server = start_http_min(start_server, transport, "--keepalive-timeout", "60",
                            "--no-access-log")
    per_connection = rss_per_connection(server, 1000)
    assert per_connection < 8 * KiB, f"{per_connection / KiB:.1f} KiB per idle connection"


def built_with_asan() -> bool:
    """True if http_min was built with AddressSanitizer (the asan preset)."""
    with open(program_path("http_min"), "rb") as binary:
        return b"__asan_init" in binary.read()


def test_server_memory_comes_back_after_thousands_of_connections_churn(start_server):
    if built_with_asan():
        pytest.skip("AddressSanitizer keeps freed memory in quarantine: RSS cannot come back")
    raise_descriptor_limit(1200)
    server = start_http_min(start_server, "unix", "--keepalive-timeout", "60",
                            "--no-access-log")
    with ExitStack() as warm:
        open_after_one_request(server, 50, warm)
    before = server_rss(server.process.pid)
    peak = 0
    for _ in range(3):  # 3,000 connections, 1,000 open at a time
        with ExitStack() as stack:
            connections = open_after_one_request(server, 1000, stack)
            # One of them sends a large request, which grows its buffers.
            connections[0].send(http_request("POST", "/echo", body=b"y" * MiB))
            assert len(connections[0].read_response().body) == MiB
            peak = max(peak, server_rss(server.process.pid))
    assert get(server, "/healthz").body == b"ok"
    # The server gives memory back on its own time (a sweep at most a second later).
    back = poll_until(lambda: server_rss(server.process.pid) - before < 8 * MiB, 5.0)
    growth = server_rss(server.process.pid) - before
    assert back, (f"RSS still {growth / MiB:.1f} MiB above where it started after the churn "
                  f"(peak {(peak - before) / MiB:.1f} MiB above)")


# --------------------------------------------------------------------------------------
# Answers that arrive: lingering close, Nagle


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_httpx_sending_a_body_over_the_limit_gets_the_413(start_server, transport):
    server = start_http_min(start_server, transport)
    body = b"z" * (8 * MiB)  # the limit is 1 MiB (ParserLimits::max_body)
    statuses = []
    for _ in range(6):
        with http_client(server) as client:
            try:
                statuses.append(client.post("/echo", content=body).status_code)
            except httpx.TransportError as error:
                statuses.append(repr(error))
    assert statuses == [413] * 6, statuses


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_a_raw_client_sending_a_body_over_the_limit_reads_the_413(start_server, transport):
    server = start_http_min(start_server, transport)
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n"
    for attempt in range(4):
        with connect(server) as client:
            client.send(head)
            failure = []

            def send_body():
                try:
                    client.sock.sendall(b"z" * (8 * MiB))
                except OSError as error:
                    failure.append(error)

            sender = threading.Thread(target=send_body)
            sender.start()
            sender.join(IO_TIMEOUT)  # the whole body is taken, and thrown away
            assert not sender.is_alive(), f"attempt {attempt}: the body was not read"
            assert not failure, f"attempt {attempt}: sending the body failed: {failure[0]!r}"
            response = client.read_response()
            assert response.status == 413 and response.header("Connection") == "close"
            assert client.closed_by_server(), "still open after the 413"


def test_after_an_error_the_server_drains_then_lets_a_silent_client_go(start_server):
    # The lingering close (RFC 9112 section 9.6): after the 413 the server half-closes and
    # waits for the rest of the body, but a client that says nothing more is let go after
    # the quiet period (2 s), not kept until the request or keep-alive timeout.
    server = start_http_min(start_server, "unix", "--keepalive-timeout", "60")
    with connect(server) as client:
        client.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n")
        assert client.read_response().status == 413
        started = time.monotonic()
        assert client.closed_by_server(), "no end of stream after the 413"  # the half-close
        assert not peer_has_closed(client.sock, 0.5), "closed at once: no lingering close"
        assert peer_has_closed(client.sock, LATE), f"still draining after {LATE} s"
        elapsed = time.monotonic() - started
        assert elapsed >= 0.5, f"let go after {elapsed:.2f} s"
    assert server.stop(timeout=STOP_TIMEOUT) == 0, server.describe()


def test_a_keepalive_static_get_over_tcp_has_no_nagle_delay(start_server, short_dir):
    root = make_file(short_dir, "small.txt", 2048)
    server = start_http_min(start_server, "tcp", "--root", root, "--no-access-log")
    times = []
    with connect(server) as connection:
        for _ in range(20):
            started = time.perf_counter()
            connection.send(http_request("GET", "/static/small.txt"))
            assert len(connection.read_response().body) == 2048
            times.append(time.perf_counter() - started)
    # Nagle's algorithm and the client's delayed ACK cost about 40 ms per request.
    assert statistics.median(times) < 0.020, [f"{t * 1000:.1f} ms" for t in times]


# --------------------------------------------------------------------------------------
# Running out of descriptors


def test_running_out_of_descriptors_is_reported_once_however_clients_churn(start_server):
    # Clients that keep a worker at its descriptor limit and churn (each close lets one
    # accept through, the next one fails again) must not make it write a line per failure:
    # stderr may be a pipe nobody reads, and a blocking write there would hang the worker.
    server = start_http_min(start_server, "unix", "--workers", "1", "--no-access-log")
    worker = server.process.pid  # --workers 1: the one process serves
    in_use = len(os.listdir(f"/proc/{worker}/fd"))
    hard = resource.prlimit(worker, resource.RLIMIT_NOFILE)[1]
    resource.prlimit(worker, resource.RLIMIT_NOFILE, (in_use + 4, hard))

    def try_connect() -> Optional[socket.socket]:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(IO_TIMEOUT)
        try:
            sock.connect(server.path)
            return sock
        except BlockingIOError:
            sock.close()
            return None

    def client() -> socket.socket:
        # A full backlog makes connect() on a Unix socket with a timeout fail with EAGAIN
        # at once: try again, against a deadline, until the worker has accepted someone.
        return wait_until(try_connect, "a connection to the paused worker", IO_TIMEOUT)

    clients = [client() for _ in range(12)]  # 4 served, the others wait in the backlog
    churns = 0
    started = time.monotonic()
    while time.monotonic() - started < 2.0:
        clients.pop(0).close()
        clients.append(client())
        churns += 1
    for sock in clients:
        sock.close()
    reports = server.output().count("not accepting")
    assert get(server, "/healthz").status == 200, "the worker no longer serves"
    assert churns > 20, f"only {churns} churns: the test proves nothing"
    assert 1 <= reports <= 2, f"{reports} reports of running out of descriptors for {churns} churns"


def test_a_worker_paused_with_no_connections_accepts_again_once_descriptors_are_free(
        start_server):
    # Out of descriptors with no connection of its own to close (ENFILE: the whole system is
    # out), a pause that only a closing connection ends would last forever. Here EMFILE
    # stands in for it: the limit is lowered to what the worker holds, a client comes, and
    # the limit is raised again without any connection closing.
    server = start_http_min(start_server, "unix", "--workers", "1", "--no-access-log")
    worker = server.process.pid  # --workers 1: the one process serves
    in_use = len(os.listdir(f"/proc/{worker}/fd"))
    soft, hard = resource.prlimit(worker, resource.RLIMIT_NOFILE)
    resource.prlimit(worker, resource.RLIMIT_NOFILE, (in_use, hard))
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(LATE)
        sock.connect(server.path)  # queued in the backlog: accept() fails with EMFILE
        sock.sendall(http_request("GET", "/healthz"))
        wait_until(lambda: "not accepting" in server.output(), "the worker to pause", LATE)
        resource.prlimit(worker, resource.RLIMIT_NOFILE, (soft, hard))
        started = time.monotonic()
        answer = sock.recv(100)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 200 "), f"no answer: {answer!r}"
    assert elapsed < LATE
