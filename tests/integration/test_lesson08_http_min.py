"""Chapter 08, HTTP over a socket: http_min, the course's minimal HTTP/1.1 server, seen from
outside, over a Unix socket and over TCP.

HTTP/1.1 is bytes on a stream, so the same requests work on both transports; only what the
server can learn about its peer differs (pid, uid and gid from SO_PEERCRED over a Unix
socket, an address and a port over TCP). Clients here are httpx, curl, asyncio and raw
sockets: raw, because the malformed and the cleverly formed requests (a bare CR, `..` in a
path, pipelining, a body held back until 100 Continue) are exactly what polite clients will
not send. The socket handling of the contract in the course plan (socket file mode and
group, refusing what is not a stale socket, SIGTERM, systemd's LISTEN_FDS) is tested here
too, since other projects copy it from http_min; the pre-forked workers are chapter 09's
(test_lesson09_workers.py).

Each test demonstrates one claim of lessons/08-http-over-a-socket/README.md (and the
http_min contract in the course plan) against the real program."""

from __future__ import annotations

import asyncio
import email.utils
import grp
import json
import os
import pwd
import select
import re
import signal
import socket
import stat
import struct
import subprocess
import threading
import time
from contextlib import ExitStack
from typing import Optional

import pytest

from course_support.timeouts import IO_TIMEOUT, READY_TIMEOUT, RUN_TIMEOUT, STOP_TIMEOUT
from course_support.polling import poll_until, wait_until
from course_support.programs import program_path
from course_support.strace import count_syscalls
from course_support.processes import Server, has_exited, proc_stat
from course_support.http import (GREETING, HTTP_MIN_TRANSPORTS, SHORT_TIMEOUT, MiB, connect,
                                 digest, exchange, get, http_client, http_request,
                                 one_line_error, random_bytes, start_http_min, start_on_both,
                                 stop_with_a_request_in_flight, unsent, usage_error)
from course_support.activation import (as_descriptor_3, listening_socket, start_inheriting,
                                       stop_and_keep_the_file)


# --------------------------------------------------------------------------------------
# Clients: httpx, curl, asyncio, raw sockets


def test_httpx_over_a_unix_socket_gets_the_greeting(session_uds_client):
    # The fixture's client is httpx.Client(transport=httpx.HTTPTransport(uds=PATH)), one per
    # session (course_support/uds.py); the URL's host only fills the Host header.
    response = session_uds_client.get("http://localhost/")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.content == GREETING  # byte for byte: it is the contract
    assert response.json() == {"msg": "hey yourself", "from": "http_min"}
    assert response.headers["server"] == "http_min"
    sent_at = email.utils.parsedate_to_datetime(response.headers["date"]).timestamp()
    assert abs(sent_at - time.time()) < 60, response.headers["date"]


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_endpoints(start_server, transport):
    server = start_http_min(start_server, transport)
    with http_client(server) as client:
        health = client.get("/healthz")
        assert (health.status_code, health.text) == (200, "ok")
        assert health.headers["content-type"].startswith("text/plain")

        body = bytes(range(256)) * 4  # every byte value, NUL and CR LF included
        echo = client.post("/echo", content=body,
                           headers={"Content-Type": "application/x-course"})
        assert echo.status_code == 200 and echo.content == body
        assert echo.headers["content-type"] == "application/x-course"
        put = client.put("/echo?x=1", content=b"put too")
        assert (put.status_code, put.content) == (200, b"put too")
        largest = random_bytes(MiB, seed=1)  # exactly the body limit
        assert digest(client.post("/echo", content=largest).content) == digest(largest)

        missing = client.get("/nope")
        assert missing.status_code == 404

        wrong_method = client.post("/", content=b"x")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["allow"] == "GET, HEAD"

        # All of that went over one kept-alive connection, which is still good.
        assert client.get("/").content == GREETING


def test_curl_over_a_unix_socket(uds_server, require_tool):
    curl = require_tool("curl")
    # -q first: no ~/.curlrc; --noproxy: a proxy in the environment must not get in between.
    base = [curl, "-q", "--noproxy", "*", "--silent", "--show-error", "--max-time", "20",
            "--unix-socket", uds_server.path]

    def run(*args: str) -> str:
        result = subprocess.run([*base, *args], capture_output=True, text=True,
                                timeout=RUN_TIMEOUT)
        assert result.returncode == 0, f"curl failed: {result.stderr}\n{uds_server.describe()}"
        return result.stdout

    assert run("http://localhost/") == GREETING.decode()
    assert run("--data-binary", "hello body", "http://localhost/echo") == "hello body"
    # -H 'Host:' removes the Host header: HTTP/1.1 requires it, over a Unix socket too.
    assert run("-H", "Host:", "--write-out", "%{http_code}", "--output", "/dev/null",
               "http://localhost/") == "400"
    # The host in the URL means nothing to the socket: any name reaches the same server.
    assert run("http://any-name.example/healthz") == "ok"


def test_asyncio_open_unix_connection_speaks_http(uds_server):

    async def ask() -> bytes:
        reader, writer = await asyncio.open_unix_connection(uds_server.path)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return await reader.read()  # until the server closes: we asked it to
        finally:
            writer.close()
            await writer.wait_closed()

    raw = asyncio.run(asyncio.wait_for(ask(), IO_TIMEOUT))
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {line.partition(":")[0].lower(): line.partition(":")[2].strip()
               for line in header_lines}
    assert status_line == "HTTP/1.1 200 OK", raw
    assert headers["connection"] == "close", raw
    assert int(headers["content-length"]) == len(body) and body == b"ok", raw


# --------------------------------------------------------------------------------------
# Who is calling: /whoami and X-Forwarded-For


def test_whoami_over_unix_reports_the_callers_pid_uid_gid(uds_server, uds_client):
    whoami = uds_client.get("/whoami").json()
    # This very process connected: the kernel says so, no header can.
    assert whoami == {"transport": "unix",
                      "peer": {"pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid()},
                      "worker_pid": uds_server.process.pid}


def test_whoami_over_tcp_reports_the_callers_address_and_port(start_server):
    server = start_http_min(start_server, "tcp")
    with connect(server) as connection:
        client_port = connection.sock.getsockname()[1]
        connection.send(http_request("GET", "/whoami"))
        response = connection.read_response()
    assert response.status == 200 and response.header("Content-Type") == "application/json"
    assert response.json() == {"transport": "tcp",
                               "peer": {"ip": "127.0.0.1", "port": client_port},
                               "worker_pid": server.process.pid}


def whoami_with_forwarded_for(server: Server, value: str, address: Optional[str] = None) -> dict:
    response = exchange(server, http_request("GET", "/whoami", [("X-Forwarded-For", value)]),
                        address)
    assert response.status == 200, response
    return response.json()  # fails if a header value could break the document


def test_forwarded_for_is_trusted_only_from_allowed_peers(start_server):
    client_ip = "203.0.113.7"

    # Nobody is trusted by default: a client cannot make itself someone else.
    untrusting = start_http_min(start_server, "unix")
    assert "forwarded_for" not in whoami_with_forwarded_for(untrusting, client_ip)

    # `unix`: peers on a Unix socket (nginx on the same machine) are believed; TCP peers,
    # which could be anyone on the network, are not.
    unix_trusted, tcp = start_on_both(start_server, "--forwarded-allow", "unix")
    assert whoami_with_forwarded_for(unix_trusted, client_ip)["forwarded_for"] == client_ip
    assert "forwarded_for" not in whoami_with_forwarded_for(unix_trusted, client_ip, tcp)

    # An IP address: that TCP peer is believed, and a Unix peer no longer is.
    ip_trusted, tcp = start_on_both(start_server, "--forwarded-allow", "10.0.0.1, 127.0.0.1")
    assert whoami_with_forwarded_for(ip_trusted, client_ip, tcp)["forwarded_for"] == client_ip
    assert "forwarded_for" not in whoami_with_forwarded_for(ip_trusted, client_ip)

    # The value is the client's, passed on by the proxy: it must stay a string in the JSON.
    # (Only its last entry is reported: test_lesson08_refusals.py.)
    hostile = r'1.2.3.4", "admin": true, "x": "\"}\\'
    whoami = whoami_with_forwarded_for(unix_trusted, hostile)
    assert whoami["forwarded_for"] == hostile.rpartition(",")[2].strip()
    assert set(whoami) == {"transport", "peer", "worker_pid", "forwarded_for"}


def test_whoami_json_stays_valid_with_a_non_utf8_forwarded_for(start_server):
    # A client behind nginx controls the X-Forwarded-For that nginx passes on (it appends to
    # it): any byte a header value may carry can reach /whoami.
    server = start_http_min(start_server, "unix", "--forwarded-allow", "unix")
    request = (b"GET /whoami HTTP/1.1\r\nHost: localhost\r\n"
               b"X-Forwarded-For: caf\xe9, \xff\xfe\r\n\r\n")
    response = exchange(server, request)
    assert response.status == 200, response
    whoami = json.loads(response.body.decode("utf-8"))  # RFC 8259: JSON is UTF-8
    assert "forwarded_for" in whoami


# --------------------------------------------------------------------------------------
# Parsing: strict, and a bad request harms nobody else


# [host-required]
def test_host_header_is_required_over_unix_too(session_uds_server):
    with connect(session_uds_server) as connection:
        connection.send(b"GET / HTTP/1.1\r\n\r\n")
        response = connection.read_response()
        assert response.status == 400, response
        assert response.header("Connection") == "close"
        assert connection.closed_by_server(), "the connection stayed open after the 400"
    # An HTTP/1.0 request needs no Host; an empty Host (no authority) is allowed too.
    assert get(session_uds_server, "/", host=None, version="HTTP/1.0").body == GREETING
    assert get(session_uds_server, "/", host="").body == GREETING
# [host-required]


def test_an_error_answering_head_has_no_body(session_uds_server):
    # A response to HEAD never has content (RFC 9110 section 9.3.2), a refusal included: a
    # client reads the head only, and body bytes would be taken for the next response.
    with connect(session_uds_server) as connection:
        connection.send(b"HEAD / HTTP/1.1\r\nHost: localhost\r\nX-Bad: a\x01b\r\n\r\n")
        response = connection.read_response(head=True)
        assert response.status == 400, response
        assert connection.closed_by_server(), "the connection stayed open after the 400"


def test_a_higher_http1_minor_version_is_served_as_http11(session_uds_server):
    # RFC 9110 section 2.5: HTTP/1.2 is processed as the highest 1.x we implement, 1.1, and
    # the connection stays open as HTTP/1.1's does; a new major version is still 505.
    with connect(session_uds_server) as connection:
        connection.send(http_request("GET", "/", version="HTTP/1.2"))
        response = connection.read_response()
        assert (response.status, response.body) == (200, GREETING), response
        connection.send(http_request("GET", "/healthz", version="HTTP/1.2"))
        assert connection.read_response().body == b"ok"
    assert get(session_uds_server, "/", version="HTTP/2.0").status == 505


def test_absolute_form_target_is_accepted(session_uds_server):
    response = get(session_uds_server, "http://localhost/healthz")
    assert (response.status, response.body) == (200, b"ok")


BIG_BODY = 2 * MiB  # over the 1 MiB body limit
BAD_REQUESTS = [
    # (what, request, expected status)
    ("bare CR", b"GET / HTTP/1.1\r\nHost: localhost\rX-Smuggled: 1\r\n\r\n", 400),
    ("bare LF", b"GET / HTTP/1.1\nHost: localhost\n\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Long: a\r\n  folded\r\n\r\n", 400),
    ("space before colon", b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Thing : 1\r\n\r\n", 400),
    ("duplicate Host", b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", 400),
    ("Content-Length and Transfer-Encoding",
     b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    ("bad Content-Length", b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5x\r\n\r\n"
     b"hello", 400),
    ("bad chunk size", b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked"
     b"\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("unknown method BREW", b"BREW /pot HTTP/1.1\r\nHost: localhost\r\n\r\n", 501),
    # RFC 9112 section 6.3: a request whose last coding is not chunked has no knowable
    # length: 400, MUST. A coding before chunked is merely one we lack: 501 (section 6.1).
    ("Transfer-Encoding gzip", b"POST /echo HTTP/1.1\r\nHost: localhost\r\n"
     b"Transfer-Encoding: gzip\r\n\r\n", 400),
    ("Transfer-Encoding gzip, chunked", b"POST /echo HTTP/1.1\r\nHost: localhost\r\n"
     b"Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", 505),
    # RFC 3986 allows only ASCII in a URI: raw UTF-8 must come percent-encoded.
    ("raw UTF-8 in the target", "GET /caf\u00e9 HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(), 400),
    ("10 KB target", b"GET /" + b"a" * (10 * 1024) + b" HTTP/1.1\r\nHost: localhost\r\n\r\n",
     414),
    ("20 KB of headers", b"GET / HTTP/1.1\r\nHost: localhost\r\n"
     + b"".join(b"X-Filler-%d: %s\r\n" % (i, b"f" * 1000) for i in range(20)) + b"\r\n", 431),
    # Only the headers are sent: the 413 must come without waiting for 2 MiB that this
    # client, waiting for 100 Continue, will never send (and instead of the 100).
    ("declared body over 1 MiB", b"POST /echo HTTP/1.1\r\nHost: localhost\r\n"
     b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % BIG_BODY, 413),
]


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_bad_requests_get_4xx_and_the_server_keeps_serving(start_server, transport):
    server = start_http_min(start_server, transport)
    problems = []
    for what, request, expected in BAD_REQUESTS:
        # A well-behaved client, connected before the bad one and in the middle of a
        # keep-alive conversation.
        with connect(server) as good, connect(server) as bad:
            good.send(http_request("GET", "/healthz"))
            assert good.read_response().body == b"ok"

            bad.send(request)
            try:
                response = bad.read_response()
            except (AssertionError, OSError) as error:
                problems.append(f"{what}: no complete response ({error!r})")
                continue
            if response.status != expected:
                problems.append(f"{what}: {response.status} {response.reason}, expected "
                                f"{expected} ({response.body!r})")
            if response.header("Connection") != "close":
                problems.append(f"{what}: no 'Connection: close' in the response")
            try:
                if not bad.closed_by_server():
                    problems.append(f"{what}: the connection stayed open")
            except (AssertionError, OSError) as error:
                problems.append(f"{what}: the connection did not end cleanly ({error!r})")

            good.send(http_request("GET", "/"))
            assert good.read_response().body == GREETING, f"after {what}"
        assert server.returncode is None, f"after {what}:\n{server.describe()}"
    assert not problems, "\n".join(problems) + f"\n{server.describe()}"


def test_incomplete_request_gets_no_answer_until_complete(uds_server):
    request = http_request("POST", "/echo", [("Content-Type", "text/plain")], b"the whole body")
    with connect(uds_server) as connection:
        connection.send(request[:20])  # half the headers
        assert connection.nothing_arrives_within(0.3), "the server answered half a request"
        connection.send(request[20:])
        response = connection.read_response()
    assert response.status == 200 and response.body == b"the whole body"


def test_pipelined_requests_are_answered_in_order(uds_server):
    requests = [http_request("GET", "/healthz"), http_request("GET", "/"),
                http_request("POST", "/echo", body=b"third"),
                http_request("HEAD", "/"), http_request("GET", "/nope")]
    with connect(uds_server) as connection:
        connection.send(b"".join(requests))  # all at once, before reading anything
        answers = [connection.read_response(), connection.read_response(),
                   connection.read_response(), connection.read_response(head=True),
                   connection.read_response()]
        assert connection.nothing_arrives_within(0.0)
    assert [(answer.status, answer.body) for answer in answers] == [
        (200, b"ok"), (200, GREETING), (200, b"third"), (200, b""), (404, b"not found\n")]


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_a_client_that_pipelines_faster_than_it_reads_gets_every_answer_in_order(start_server,
                                                                                 transport):
    # 100 000 requests sent at once, answers read only once the server has paused: it stops
    # reading while a megabyte of answers waits (the client slows itself down), and starts
    # again as they drain. Every request is answered, in order.
    server = start_http_min(start_server, transport, "--no-access-log")
    count = 100_000
    targets = [f"/echo-{i}" if i % 1000 == 0 else "/healthz" for i in range(count)]
    with connect(server) as connection:
        sender = threading.Thread(target=connection.send, daemon=True, args=(
            b"".join(http_request("GET", target) for target in targets),))
        sender.start()
        # Paused: the server asleep although bytes it has not read wait for it, and our
        # sender asleep in send() (or, over TCP, whose buffers are larger, done). Over TCP
        # "not read" cannot be told from "in flight", so there the pause is not checked.
        wait_until(lambda: (transport == "tcp" or unsent(connection) > 0
                            and proc_stat(server.process.pid)["state"] == "S")
                   and thread_state(sender) in ("S", None),
                   "the server pausing its reading")
        for target in targets:
            answer = connection.read_response()
            expected = (404, b"not found\n") if target != "/healthz" else (200, b"ok")
            assert (answer.status, answer.body) == expected, f"for {target}"
        sender.join(timeout=SHORT_TIMEOUT)
        assert not sender.is_alive()
        assert connection.nothing_arrives_within(0.0)


def thread_state(thread: threading.Thread) -> Optional[str]:
    """R (running), S (asleep, as in a blocking send()) and so on, from /proc; None once the
    thread has ended."""
    try:
        with open(f"/proc/self/task/{thread.native_id}/stat") as stat_file:
            return stat_file.read().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # gone, or going as we read
        return None


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_keep_alive_serves_several_requests_on_one_connection(start_server, transport):
    server = start_http_min(start_server, transport)
    with connect(server) as connection:
        peers = set()
        for number in range(5):
            connection.send(http_request("POST", "/echo", body=b"request %d" % number))
            response = connection.read_response()
            assert response.body == b"request %d" % number
            assert (response.header("Connection") or "").lower() != "close", response
            connection.send(http_request("GET", "/whoami"))
            peers.add(json.dumps(connection.read_response().json()["peer"]))
        assert len(peers) == 1  # one peer all along (over TCP: one port, one connection)
        assert not connection.closed_by_server(0.0)


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_connection_close_is_honoured(start_server, transport):
    server = start_http_min(start_server, transport)
    with connect(server) as connection:
        connection.send(http_request("GET", "/healthz", [("Connection", "close")]))
        response = connection.read_response()
        assert response.body == b"ok" and response.header("Connection") == "close"
        assert connection.closed_by_server(), "still open after Connection: close"
    # A request pipelined behind the one that said close is not answered.
    with connect(server) as connection:
        connection.send(http_request("GET", "/healthz", [("Connection", "close")]) +
                        http_request("GET", "/"))
        assert connection.read_response().body == b"ok"
        assert connection.closed_by_server(), "answered after Connection: close"
    # A client may also just end its side after the request (shutdown, chapter 03): the
    # answer still comes, then the server closes too.
    with connect(server) as connection:
        connection.send(http_request("GET", "/healthz"))
        connection.sock.shutdown(socket.SHUT_WR)
        assert connection.read_response().body == b"ok"
        assert connection.closed_by_server(), "still open after the client's shutdown"


def test_http10_closes_unless_keep_alive(uds_server):
    # HTTP/1.0: one request per connection, unless the client asks for keep-alive.
    with connect(uds_server) as connection:
        connection.send(http_request("GET", "/healthz", version="HTTP/1.0", host=None))
        response = connection.read_response()
        assert response.body == b"ok" and response.header("Connection") == "close"
        assert connection.closed_by_server(), "an HTTP/1.0 connection stayed open"

    with connect(uds_server) as connection:
        for _ in range(3):
            connection.send(http_request("GET", "/healthz", [("Connection", "keep-alive")],
                                         version="HTTP/1.0"))
            response = connection.read_response()
            assert response.body == b"ok" and response.header("Connection") != "close"
        assert not connection.closed_by_server(0.0)


def test_http10_keep_alive_is_announced_to_the_client(uds_server):
    # An HTTP/1.0 client (ApacheBench's `ab -k`, for one) keeps the connection only if the
    # response says so (RFC 2068 section 19.7.1); otherwise it reads until the server closes,
    # and http_min, which keeps the connection, never does.
    response = exchange(uds_server, http_request("GET", "/healthz", [("Connection", "keep-alive")],
                                             version="HTTP/1.0"))
    assert response.body == b"ok"
    assert (response.header("Connection") or "").lower() == "keep-alive", response.head


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_head_gets_headers_without_body(start_server, transport):
    server = start_http_min(start_server, transport)
    with connect(server) as connection:
        connection.send(http_request("GET", "/"))
        full = connection.read_response()
        # The HEAD and a GET right behind it: if any body byte followed the HEAD's headers,
        # it would stand where the next status line must be.
        connection.send(http_request("HEAD", "/") + http_request("GET", "/healthz"))
        head = connection.read_response(head=True)
        after = connection.read_response()
    assert head.status == 200
    assert head.header("Content-Length") == full.header("Content-Length") == str(len(GREETING))
    assert head.header("Content-Type") == full.header("Content-Type")
    assert after.status == 200 and after.body == b"ok"


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_expect_100_continue(start_server, transport):
    server = start_http_min(start_server, transport)
    body = b"sent only when asked"
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    with connect(server, timeout=SHORT_TIMEOUT) as connection:
        connection.send(http_request("POST", "/echo", [("Expect", "100-continue"),
                                                       ("Content-Length", str(len(body)))],
                                     content_length=False))
        try:
            assert connection.read_exact(len(interim)) == interim
        except socket.timeout:
            pytest.fail(f"no 100 Continue within {SHORT_TIMEOUT} s", pytrace=False)
        connection.send(body)
        response = connection.read_response()
        assert (response.status, response.body) == (200, body)

        # The next request on the connection has its own expectation, and gets its own 100.
        connection.send(http_request("POST", "/echo", [("Expect", "100-continue"),
                                                       ("Content-Length", "5")],
                                     content_length=False))
        assert connection.read_exact(len(interim)) == interim
        connection.send(b"again")
        assert connection.read_response().body == b"again"


def test_chunked_body_is_echoed(uds_server, uds_client):
    chunked = (b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
               b"Content-Type: text/plain\r\n\r\n"
               b"5\r\nhello\r\n"
               b"7;note=\"a chunk extension\"\r\n, world\r\n"
               b"1A\r\n" + b"z" * 26 + b"\r\n"
               b"0\r\nX-Trailer: ignored\r\n\r\n")
    with connect(uds_server) as connection:
        # Byte by byte at first: the framing must not depend on how the bytes arrive.
        for index in range(40):
            connection.send(chunked[index:index + 1])
        connection.send(chunked[40:] + http_request("GET", "/healthz"))
        response = connection.read_response()
        assert (response.status, response.body) == (200, b"hello, world" + b"z" * 26)
        assert response.header("Content-Type") == "text/plain"
        assert connection.read_response().body == b"ok"  # the framing ended where it should
    # httpx sends a generator's body chunked.
    pieces = [b"one ", b"two ", b"three"]
    assert uds_client.post("/echo", content=iter(pieces)).content == b"one two three"


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_request_timeout_closes_a_slow_request(start_server, transport):
    server = start_http_min(start_server, transport, "--request-timeout", "1")
    with connect(server) as slow:
        slow.send(b"GET /healthz HTTP/1.1\r\nHost: loc")  # and then nothing
        started = time.monotonic()
        # Meanwhile everybody else is served as usual.
        assert get(server, "/healthz").body == b"ok"

        readable, _, _ = select.select([slow.sock], [], [], SHORT_TIMEOUT)
        elapsed = time.monotonic() - started
        assert readable, f"the slow request was not cut off within {SHORT_TIMEOUT} s"
        answer = slow.sock.recv(65536)
        if answer:  # a 408 may come before the close
            slow.buffer += answer
            assert slow.read_response().status == 408, answer
            assert slow.closed_by_server(), "still open after the 408"
    assert elapsed >= 0.9, f"closed after {elapsed:.2f} s, before the 1 s timeout"
    assert get(server, "/").body == GREETING


def make_site(directory: str) -> dict[str, bytes]:
    """A --root for /static/ in `directory`/root, and a secret next to it, outside the
    root. Returns the files' contents by name."""
    root = os.path.join(directory, "root")
    os.makedirs(os.path.join(root, "sub"))
    files = {
        "index.html": b"<!doctype html><title>http_min</title><p>served from disk\n",
        "a.css": b"p { color: teal }\n",
        "big.bin": random_bytes(10 * MiB, seed=8),
        "sub/inner.txt": b"inside a subdirectory\n",
    }
    for name, content in files.items():
        with open(os.path.join(root, name), "wb") as out:
            out.write(content)
    with open(os.path.join(directory, "secret"), "wb") as out:
        out.write(b"TOP SECRET: the root password is hunter2\n")
    os.symlink("../secret", os.path.join(root, "escape"))  # relative, pointing outside
    os.symlink(os.path.join(directory, "secret"), os.path.join(root, "absolute-escape"))
    os.symlink("a.css", os.path.join(root, "alias.css"))  # inside: allowed
    return files


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_a_client_that_resets_mid_response_does_not_hurt_others(start_server, short_dir,
                                                                 transport):
    files = make_site(short_dir)
    server = start_http_min(start_server, transport, "--root", os.path.join(short_dir, "root"))
    for _ in range(5):
        with connect(server) as rude:
            rude.send(http_request("GET", "/static/big.bin"))
            readable, _, _ = select.select([rude.sock], [], [], IO_TIMEOUT)
            assert readable, "the response did not start"
            # Close with 10 MiB still coming: on TCP SO_LINGER 0 sends RST; on a Unix socket
            # the server's next write fails with EPIPE or ECONNRESET.
            rude.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        assert get(server, "/healthz").body == b"ok"
    assert server.returncode is None, server.describe()
    # And a polite client still gets the whole file.
    assert digest(get(server, "/static/big.bin").body) == digest(files["big.bin"])


@pytest.mark.parametrize("transport", HTTP_MIN_TRANSPORTS)
def test_many_idle_connections_do_not_block_a_new_one(start_server, transport):
    server = start_http_min(start_server, transport)
    with ExitStack() as idle:
        for _ in range(500):
            idle.enter_context(server.connect())
        # The new client is served while all 500 sit there saying nothing.
        assert get(server, "/healthz").body == b"ok"
    assert get(server, "/healthz").body == b"ok"


@pytest.mark.parametrize("transport", [
    "unix",
    "tcp",
])
def test_a_client_that_resets_before_it_is_accepted_does_not_stop_the_server(start_server,
                                                                             transport):
    server = start_http_min(start_server, transport)
    # Stopped, the server cannot accept: the connection waits in the backlog while the
    # client aborts it (RST on TCP). Then the server finds it there, already dead.
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        with server.connect() as doomed:
            doomed.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    assert get(server, "/healthz").body == b"ok"
    assert server.returncode is None, server.describe()


def test_a_request_costs_one_recv_and_one_send_and_no_epoll_ctl(short_dir):
    # The chapter's "In the usual exchange of one request and one answer, a request costs
    # one recv() and one send(), with no epoll_ctl()", counted with strace over 300
    # keep-alive GETs sent one at a time. The constant covers start-up, the one connection's
    # accept and end, and exit (a handful of epoll_ctl() calls in all, not one per request).
    requests, constant = 300, 40
    path = os.path.join(short_dir, "http.sock")

    def one_request_at_a_time(client):
        for _ in range(requests):
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = client.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer

    counts = count_syscalls([program_path("http_min"), "--uds", path, "--no-access-log"], path,
                            ["recvfrom", "sendto", "read", "write", "epoll_ctl"], short_dir,
                            one_request_at_a_time)
    print(counts)
    assert requests <= counts.get("recvfrom", 0) <= requests + constant, counts
    assert requests <= counts.get("sendto", 0) <= requests + constant, counts
    assert counts.get("epoll_ctl", 0) <= constant, counts


# --------------------------------------------------------------------------------------
# The socket file: mode, group, what is already there, signals


def test_socket_file_mode_defaults_to_0660_and_uds_mode_sets_it(start_server):
    default = start_http_min(start_server, "unix")
    assert stat.S_IMODE(os.lstat(default.path).st_mode) == 0o660

    private = start_http_min(start_server, "unix", "--uds-mode", "0600")
    assert stat.S_IMODE(os.lstat(private.path).st_mode) == 0o600
    assert get(private, "/healthz").body == b"ok"

    try:
        group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid)
    except KeyError:
        pytest.skip("there is no user nobody (or no group of it) to give the socket to")
    if os.geteuid() != 0 and group.gr_gid not in os.getgroups():
        pytest.skip(f"only root or a member may give a file to group {group.gr_name}")
    shared = start_http_min(start_server, "unix", "--uds-group", group.gr_name,
                            "--uds-mode", "0660")
    info = os.lstat(shared.path)
    assert (info.st_gid, stat.S_IMODE(info.st_mode)) == (group.gr_gid, 0o660)
    assert get(shared, "/healthz").body == b"ok"


def test_refuses_to_replace_a_regular_file(short_dir, run_program):
    path = os.path.join(short_dir, "http.sock")
    with open(path, "wb") as precious:
        precious.write(b"a file somebody cares about\n")
    before = os.lstat(path)

    line = one_line_error(run_program("http_min", "--uds", path, timeout=10))

    assert "a regular file, not a socket; it was left untouched" in line, line
    after = os.lstat(path)
    with open(path, "rb") as precious:
        assert precious.read() == b"a file somebody cares about\n"
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (
        before.st_ino, before.st_mode, before.st_mtime_ns)


def test_refuses_a_live_socket(start_server, run_program):
    first = start_http_min(start_server, "unix")
    inode = os.lstat(first.path).st_ino

    line = one_line_error(run_program("http_min", "--uds", first.path, timeout=10))

    assert "EADDRINUSE" in line and "a server is listening on it" in line, line
    assert os.lstat(first.path).st_ino == inode
    assert get(first, "/healthz").body == b"ok"


def test_replaces_a_stale_socket(start_server, short_dir):
    path = os.path.join(short_dir, "http.sock")
    # A socket bound and closed without unlink: the file of a server that crashed.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(path)
        dead.listen()
    os.chmod(path, 0o604)  # a mark: the new file will have 0660 (the inode may be reused)
    assert stat.S_ISSOCK(os.lstat(path).st_mode)

    server = start_server("http_min", "unix", ["--uds", "{path}"], address=f"unix:{path}")

    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o660  # a new socket file
    assert get(server, "/healthz").body == b"ok"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT],
                         ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_stop_cleanly_and_remove_the_socket_file(uds_server, stop_signal):
    # Idle connections close at once; the request in flight is finished first.
    stop_with_a_request_in_flight(uds_server, lambda: os.kill(uds_server.process.pid, stop_signal))
    # Waited for, not signalled again: one signal is the claim.
    wait_until(lambda: has_exited(uds_server.process.pid), "the server exiting", STOP_TIMEOUT)
    assert uds_server.stop() == 0, uds_server.describe()
    assert not os.path.lexists(uds_server.path), f"{uds_server.path} was left behind"


def test_a_client_that_leaves_mid_request_does_not_delay_shutdown(start_server):
    server = start_http_min(start_server, "unix")  # the default request timeout, 30 s
    with connect(server) as leaving:
        leaving.send(b"GET /healthz HTTP/1.1\r\nHo")
        wait_until(lambda: unsent(leaving) == 0, "the server reading the partial request")
    # That request can never be completed: nothing is in flight, so the stop is quick.
    assert server.stop(signal.SIGTERM, timeout=SHORT_TIMEOUT) == 0, server.describe()
    assert not os.path.lexists(server.path)


def test_bind_takes_every_address_form(start_server):
    # An abstract name: no file at all.
    abstract = start_server("http_min", "abstract", ["--bind", "{address}"])
    assert get(abstract, "/whoami").json()["transport"] == "unix"
    # IPv6: the peer's address is reported without brackets.
    tcp6 = start_server("http_min", "tcp6", ["--bind", "{address}"])
    assert get(tcp6, "/whoami").json()["peer"]["ip"] == "::1"
    # --host and --port, the shorthand; --port alone means 127.0.0.1.
    shorthand = start_server("http_min", "tcp", ["--host", "{host}", "--port", "{port}"])
    assert get(shorthand, "/healthz").body == b"ok"
    port_only = start_server("http_min", "tcp", ["--port", "{port}"])
    assert port_only.address.startswith("127.0.0.1:")
    assert get(port_only, "/healthz").body == b"ok"


def test_unix_and_tcp_listeners_at_once(start_server):
    server, tcp = start_on_both(start_server)
    listening = re.findall(r"^listening on (\S+)$", server.output(), re.MULTILINE)
    assert listening == [server.address, tcp], server.output()
    assert get(server, "/whoami").json()["transport"] == "unix"
    assert get(server, "/whoami", address=tcp).json()["transport"] == "tcp"


def test_start_up_errors_are_one_line(short_dir, run_program):
    long_path = os.path.join(short_dir, "s" * (120 - len(short_dir) - 1))
    assert len(long_path) == 120
    socket_path = os.path.join(short_dir, "http.sock")

    line = one_line_error(run_program("http_min", "--port", "eighty", timeout=10))
    assert "port 'eighty'" in line, line

    line = usage_error(run_program("http_min", "--uds", socket_path, "--frobnicate", "yes",
                                   timeout=10))
    assert line == "http_min: unknown option --frobnicate"

    line = one_line_error(run_program("http_min", "--uds", long_path, timeout=10))
    assert "120 bytes" in line and "at most 107" in line, line

    line = one_line_error(run_program("http_min", "--uds", socket_path, "--root",
                                      os.path.join(short_dir, "no-such-dir"), timeout=10))
    assert "no-such-dir" in line and "ENOENT" in line, line

    line = usage_error(run_program("http_min", timeout=10))
    assert "nothing to listen on" in line, line

    line = one_line_error(run_program("http_min", "--uds", socket_path, "--uds-group",
                                      "no-such-group-here", timeout=10))
    assert "no-such-group-here" in line, line

    line = usage_error(run_program("http_min", "--uds", socket_path, "--workers", "0",
                                   timeout=10))
    assert "--workers '0'" in line, line

    # None of them left a socket file (or anything else) behind.
    assert os.listdir(short_dir) == []


def test_systemd_socket_activation_is_honoured(start_server, short_dir):
    # Like systemd: the socket is bound and listening before the server exists.
    server = start_inheriting(start_server, "self")
    whoami = get(server, "/whoami").json()
    assert whoami["transport"] == "unix" and whoami["worker_pid"] == server.process.pid
    stop_and_keep_the_file(server)

    # LISTEN_FDS is for the process LISTEN_PID names, and no other: variables meant for
    # another process (here: pid 1) are not taken, so there is nothing to listen on.
    listener, path = listening_socket(short_dir)
    with listener:
        command = [*as_descriptor_3(listener, "1"), program_path("http_min")]
        result = subprocess.run(command, capture_output=True, text=True, cwd=short_dir,
                                timeout=SHORT_TIMEOUT, pass_fds=(listener.fileno(),))
    os.unlink(path)
    assert usage_error(result) == ("http_min: nothing to listen on: give --uds PATH, "
                                   "--bind ADDR or --port P")


def test_fd_address_is_honoured(start_server, short_dir):
    server = start_inheriting(start_server, "", "--bind", "fd:3")
    assert get(server, "/healthz").body == b"ok"
    stop_and_keep_the_file(server)


# --------------------------------------------------------------------------------------
# Static files and the access log


def test_static_files_are_served_and_cannot_escape_the_root(start_server, short_dir):
    files = make_site(short_dir)
    server, tcp = start_on_both(start_server, "--root", os.path.join(short_dir, "root"))
    secret = b"TOP SECRET"

    index = get(server, "/static/index.html")
    assert (index.status, index.body) == (200, files["index.html"])
    assert index.header("Content-Type").startswith("text/html")
    css = get(server, "/static/a.css?v=2")
    assert (css.status, css.body) == (200, files["a.css"])
    assert css.header("Content-Type").startswith("text/css")
    assert get(server, "/static/sub/inner.txt").body == files["sub/inner.txt"]
    assert get(server, "/static/alias.css").body == files["a.css"]  # a link inside the root

    # 10 MiB through sendfile(), intact over both transports.
    for address in (server.address, tcp):
        big = get(server, "/static/big.bin", address=address)
        assert big.status == 200 and big.header("Content-Length") == str(10 * MiB)
        assert digest(big.body) == digest(files["big.bin"]), f"over {address}"
    # A request pipelined behind the file is answered after the file's last byte.
    with connect(server) as connection:
        connection.send(http_request("GET", "/static/big.bin") + http_request("GET", "/healthz"))
        assert digest(connection.read_response().body) == digest(files["big.bin"])
        assert connection.read_response().body == b"ok"

    # Raw requests: curl and httpx would remove the dot segments before sending.
    for target in ["/static/../secret", "/static/%2e%2e/secret", "/static/%2E%2E%2Fsecret",
                   "/static/sub/../../secret", "/static/sub/%2e%2e/%2e%2e/secret",
                   "/static/escape", "/static/absolute-escape",
                   "/static/" + short_dir + "/secret"]:
        response = get(server, target)
        assert response.status in (403, 404), f"{target}: {response.status}"
        assert secret not in response.body, f"{target} leaked the secret"
    for target in ["/static/sub", "/static/sub/", "/static/", "/static/missing.txt"]:
        assert get(server, target).status == 404, target

    # HEAD: the length of the file, and not one byte of it before the next response.
    with connect(server) as connection:
        connection.send(http_request("HEAD", "/static/big.bin") +
                        http_request("GET", "/static/a.css"))
        assert connection.read_response(head=True).header("Content-Length") == str(10 * MiB)
        assert connection.read_response().body == files["a.css"]  # no body after the HEAD


def test_a_fifo_under_the_root_does_not_block_the_server(start_server, short_dir):
    root = os.path.join(short_dir, "root")
    os.mkdir(root)
    fifo = os.path.join(root, "pipe")
    os.mkfifo(fifo)
    server = start_http_min(start_server, "unix", "--root", root)
    with connect(server, timeout=SHORT_TIMEOUT) as asking:
        asking.send(http_request("GET", "/static/pipe"))
        try:
            # Not a regular file: refused, and everybody else is served meanwhile.
            with connect(server, timeout=SHORT_TIMEOUT) as other:
                other.send(http_request("GET", "/healthz"))
                assert other.read_response().body == b"ok"
            assert asking.read_response().status in (403, 404)
        except socket.timeout:
            pytest.fail(f"the server stopped answering after GET /static/pipe\n"
                        f"{server.describe()}", pytrace=False)
        finally:
            # A server stuck in open() of the FIFO gets going again when a writer comes.
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # ENXIO: nobody has it open for reading, which is right
                pass


def test_access_log_names_the_peer(start_server, short_dir):
    log_path = os.path.join(short_dir, "access.log")
    server, tcp = start_on_both(start_server, "--access-log", log_path)
    assert get(server, "/healthz").status == 200
    with connect(server, tcp) as connection:
        client_port = connection.sock.getsockname()[1]
        connection.send(http_request("POST", "/nope?x=1", body=b"."))
        assert connection.read_response().status == 404

    expected = [
        rf'^unix pid={os.getpid()} uid={os.getuid()} gid={os.getgid()} '
        rf'"GET /healthz HTTP/1\.1" 200$',
        rf'^127\.0\.0\.1:{client_port} "POST /nope\?x=1 HTTP/1\.1" 404$',
    ]

    def logged():
        try:
            with open(log_path) as log:
                text = log.read()
        except FileNotFoundError:
            return None
        return text if all(re.search(line, text, re.MULTILINE) for line in expected) else None

    if not poll_until(logged, READY_TIMEOUT):
        text = open(log_path).read() if os.path.exists(log_path) else "(no file)"
        pytest.fail(f"the access log lacks {expected}:\n{text}\n{server.describe()}",
                    pytrace=False)
    assert "POST /nope" not in server.output()  # to the file, not to stdout

    # By default the log goes to stdout; --no-access-log turns it off.
    default = start_http_min(start_server, "unix")
    assert get(default, "/healthz?default").status == 200
    default.wait_for_output(r'^unix pid=\d+ uid=\d+ gid=\d+ "GET /healthz\?default HTTP/1\.1" 200$')
    quiet = start_http_min(start_server, "unix", "--no-access-log")
    assert get(quiet, "/healthz?quiet").status == 200
    assert quiet.stop() == 0
    assert "GET /healthz" not in quiet.output(), quiet.output()
