"""Chapter 13, "Does the Unix socket matter for a Python app?": what the measured table
showed about hypercorn, checked on its own, fast and without a load generator.

In `scripts/bench apps`, hypercorn 0.13 served about six times fewer requests per second
over TCP than over its Unix socket, while the others served within 2x directly. The cause is
TCP's, not hypercorn's Python: it writes a response's head and body in two sends on a
connection without TCP_NODELAY, so Nagle's algorithm holds the body until the client's
delayed ACK (about 40 ms on Linux; chapter 03's nagle_demo): the head arrives at once, the
body later. A Unix socket has no Nagle. uvicorn, on the same app over TCP, answers at once. And hypercorn's status line has no
reason phrase, which is why h2load counts its responses as failed (scripts/benchlib's apps
suite counts them as served).

An ASGI app that never awaits receive() loses keep-alive under hypercorn: it closes the
connection after the response (the bench's app reads the request for that reason).

gunicorn's sync worker (its default) closes the connection after every response, keep-alive
asked for or not: nginx's upstream keep-alive cannot help it, which is why its rows in the
table are the same with and without.

One hypercorn (Unix socket and TCP port), one hypercorn whose app never reads the request,
one uvicorn (TCP) and one gunicorn (Unix socket) are shared by the module's tests: they only
send GET /.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

import pytest

from course_support.http import connect, http_request
from course_support.processes import Server, StartedProcess, remove_tree
from course_support.sockets import free_port

SCRIPTS = os.path.join(os.path.dirname(__file__), "..", "..", "scripts")
APP_DIR = os.path.realpath(os.path.join(SCRIPTS, "bench-apps"))  # the app scripts/bench measures
KEEPALIVE_REQUESTS = 6        # on one connection; the first is not held back, nor timed
DELAYED_ACK = 0.030           # seconds: below Linux's 40 ms minimum delayed ACK, far above a
                              # request to a local Python server (well under 5 ms here)
BODY = b'{"msg":"hey yourself","from":"http_min"}'


def start(program: str, address: str, command: list[str]) -> Server:
    # The socket file is not checked at the end: hypercorn leaves it (the servers section
    # of the chapter says so); the directory goes with the module.
    server = Server(program, address, command, owns_socket_file=False)
    server.wait_until_accepting()
    return server


@pytest.fixture(scope="module")
def servers():
    for module, package in (("hypercorn", "python3-hypercorn"), ("uvicorn", "python3-uvicorn"),
                            ("gunicorn", "gunicorn")):
        pytest.importorskip(module, reason=f"needs {package}: ./scripts/setup installs it")
    directory = tempfile.mkdtemp(prefix="course-", dir="/tmp")
    started: list[StartedProcess] = []
    try:
        path, port, uvicorn_port = os.path.join(directory, "h.sock"), free_port(), free_port()
        hypercorn = start("hypercorn", f"unix:{path}",
                          [sys.executable, "-m", "hypercorn", "--worker-class", "asyncio",
                           "--bind", f"unix:{path}", "--bind", f"127.0.0.1:{port}",
                           os.path.join(APP_DIR, "asgi_app") + ":app"])
        started.append(hypercorn)
        uvicorn = start("uvicorn", f"127.0.0.1:{uvicorn_port}",
                        [sys.executable, "-m", "uvicorn", "--app-dir", APP_DIR, "asgi_app:app",
                         "--loop", "asyncio", "--http", "h11", "--lifespan", "off",
                         "--no-access-log", "--host", "127.0.0.1", "--port", str(uvicorn_port)])
        started.append(uvicorn)
        # The bench's app without its `await receive()`: an app that never reads the request.
        with open(os.path.join(APP_DIR, "asgi_app.py")) as source:
            unread = source.read().replace("    await receive()\n", "")
        assert "receive()" not in unread.split("async def app", 1)[1]
        with open(os.path.join(directory, "unread_app.py"), "w") as file:
            file.write(unread)
        unread_path = os.path.join(directory, "u.sock")
        unread = start("hypercorn", f"unix:{unread_path}",
                       [sys.executable, "-m", "hypercorn", "--worker-class", "asyncio",
                        "--bind", f"unix:{unread_path}", os.path.join(directory, "unread_app") + ":app"])
        started.append(unread)
        gunicorn_path = os.path.join(directory, "g.sock")
        gunicorn = start("gunicorn", f"unix:{gunicorn_path}",
                         [sys.executable, "-m", "gunicorn", "--chdir", APP_DIR, "--worker-class", "sync",
                          "--workers", "1", "--bind", f"unix:{gunicorn_path}", "wsgi_app:app"])
        started.append(gunicorn)
        yield {"hypercorn unix": (hypercorn, None), "hypercorn tcp": (hypercorn, f"127.0.0.1:{port}"),
               "uvicorn tcp": (uvicorn, None), "gunicorn unix": (gunicorn, None),
               "hypercorn unread": (unread, None)}
    finally:
        problems = [problem for server in started for problem in server.finish()]
        remove_tree(directory)
    assert not problems, "\n".join(problems)


def request_seconds(server: StartedProcess, address: str | None) -> list[float]:
    """How long each GET / took, KEEPALIVE_REQUESTS of them on one connection."""
    times = []
    with connect(server, address) as connection:
        for _ in range(KEEPALIVE_REQUESTS):
            started = time.monotonic()
            connection.send(http_request("GET", "/"))
            response = connection.read_response()
            times.append(time.monotonic() - started)
            assert (response.status, response.body) == (200, BODY)
    return times


def keepalive_seconds(server: StartedProcess, address: str | None) -> list[float]:
    """How long each keep-alive GET / after the first took, on one connection."""
    return request_seconds(server, address)[1:]


def test_hypercorn_answers_keepalive_requests_over_tcp_a_delayed_ack_late(servers):
    times = keepalive_seconds(*servers["hypercorn tcp"])
    assert statistics.median(times) >= DELAYED_ACK, (
        f"hypercorn over TCP answered keep-alive requests in {times} s: no Nagle stall")


def head_and_body_seconds(server: StartedProcess, address: str | None) -> tuple[float, float]:
    """On a new connection, after a first request: how long the second response's head took
    to arrive, and how much longer its body."""
    with connect(server, address) as connection:
        connection.send(http_request("GET", "/"))
        connection.read_response()
        started = time.monotonic()
        connection.send(http_request("GET", "/"))
        received = b""
        while b"\r\n\r\n" not in received:
            received += connection.sock.recv(65536)
        head_seconds = time.monotonic() - started
        while not received.endswith(BODY):
            received += connection.sock.recv(65536)
        return head_seconds, time.monotonic() - started - head_seconds


def test_hypercorn_over_tcp_sends_the_head_at_once_and_holds_the_body_back(servers):
    # The second request on a connection: the head goes out at once (nothing is unacknowledged
    # yet), the body only once the client has ACKed the head, which it now delays. Three
    # connections: the quickest head counts (a busy machine may slow one), and every body.
    trials = [head_and_body_seconds(*servers["hypercorn tcp"]) for _ in range(3)]
    heads, bodies = [head for head, _ in trials], [body for _, body in trials]
    assert min(heads) < DELAYED_ACK <= min(bodies), (
        f"heads after {heads} s, bodies that much later: {bodies} s")


def test_hypercorn_answers_the_first_request_on_a_tcp_connection_at_once(servers):
    # Early in a connection Linux acknowledges at once, so Nagle does not hold the body for
    # long. Each new connection starts so (nginx without upstream keep-alive opens one per
    # request).
    first = min(request_seconds(*servers["hypercorn tcp"])[0] for _ in range(3))
    assert first < DELAYED_ACK, f"the first request on a new connection took {first} s"


def test_hypercorn_answers_keepalive_requests_over_its_unix_socket_at_once(servers):
    times = keepalive_seconds(*servers["hypercorn unix"])
    assert statistics.median(times) < DELAYED_ACK, (
        f"hypercorn over its Unix socket took {times} s per keep-alive request")


def test_uvicorn_answers_keepalive_requests_over_tcp_at_once(servers):
    # The same app over TCP, another server: the stall is hypercorn's, not TCP's alone.
    times = keepalive_seconds(*servers["uvicorn tcp"])
    assert statistics.median(times) < DELAYED_ACK, (
        f"uvicorn over TCP took {times} s per keep-alive request")


def test_hypercorn_status_line_has_no_reason_phrase(servers):
    server, address = servers["hypercorn unix"]
    with connect(server, address) as connection:
        connection.send(http_request("GET", "/"))
        response = connection.read_response()
    assert response.head.startswith(b"HTTP/1.1 200 \r\n"), response.head[:40]


def test_gunicorn_sync_worker_closes_the_connection_after_each_response(servers):
    server, address = servers["gunicorn unix"]
    with connect(server, address) as connection:
        # HTTP/1.1 and no "Connection: close": a server that keeps connections would keep this one.
        connection.send(http_request("GET", "/"))
        response = connection.read_response()
        assert (response.status, response.body) == (200, BODY)
        assert (response.header("Connection") or "").lower() == "close", response.head
        assert connection.closed_by_server(), "gunicorn kept the connection open"


def test_hypercorn_closes_the_connection_when_the_app_never_reads_the_request(servers):
    # Why scripts/bench-apps/asgi_app.py awaits receive(): without it, no keep-alive.
    server, address = servers["hypercorn unread"]
    with connect(server, address) as connection:
        connection.send(http_request("GET", "/"))
        response = connection.read_response()
        assert (response.status, response.body) == (200, BODY)
        assert connection.closed_by_server(), "hypercorn kept the connection open"


def test_hypercorn_keeps_the_connection_when_the_app_reads_the_request(servers):
    server, address = servers["hypercorn unix"]
    with connect(server, address) as connection:
        connection.send(http_request("GET", "/"))
        connection.read_response()
        assert not connection.closed_by_server(timeout=0.5), "hypercorn closed the connection"
