"""HTTP for the http_min tests (chapters 08 and 09, and the nginx chapter's): start http_min,
speak raw HTTP/1.1 to it byte for byte, or through httpx."""

from __future__ import annotations

import fcntl
import hashlib
import json
import random
import re
import select
import socket
import struct
import subprocess
import termios
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import httpx

from .polling import wait_until
from .processes import Server, StartedProcess
from .sockets import connect_to
from .timeouts import IO_TIMEOUT

MiB = 1024 * 1024
GREETING = b'{"msg":"hey yourself","from":"http_min"}'
SHORT_TIMEOUT = 5.0  # seconds: a server that should answer (or close) at once gets this long
HTTP_MIN_TRANSPORTS = ["unix", "tcp"]  # what start_http_min takes


# --------------------------------------------------------------------------------------
# Starting http_min


def start_http_min(start_server, transport: str, *args: str, **kwargs) -> Server:
    """http_min listening on a fresh Unix socket path (`--uds`) or on 127.0.0.1:0 (`--bind`),
    with `args` after the address."""
    where = ["--uds", "{path}"] if transport == "unix" else ["--bind", "{address}"]
    return start_server("http_min", transport, [*where, *args], **kwargs)


def start_on_both(start_server, *args: str) -> tuple[Server, str]:
    """http_min on a Unix socket and on 127.0.0.1:0 at once. Returns the server (its address
    is the Unix one) and the TCP address it announced."""
    server = start_server("http_min", "unix", ["--uds", "{path}", "--bind", "127.0.0.1:0", *args])
    tcp = server.wait_for_output(r"^listening on (127\.0\.0\.1:[1-9]\d*)$").group(1)
    return server, tcp


# --------------------------------------------------------------------------------------
# Raw HTTP: requests sent byte for byte, responses read one at a time


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    head: bytes = field(repr=False)  # the status line and headers as received

    def header(self, name: str) -> Optional[str]:
        """The first header field called `name` (any case), or None."""
        return next((value for key, value in self.headers if key.lower() == name.lower()),
                    None)

    def json(self):
        return json.loads(self.body)


class HttpConnection:
    """One connection to the server: sends bytes exactly as given, reads responses one by
    one (http_min always frames them with Content-Length)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def __enter__(self) -> HttpConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _receive(self, what: str) -> None:
        chunk = self.sock.recv(256 * 1024)
        if not chunk:
            raise AssertionError(f"the server closed the connection before {what}; "
                                 f"received so far: {bytes(self.buffer[:300])!r}")
        self.buffer += chunk

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._receive(f"{size} bytes had arrived")
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read_response(self, head: bool = False) -> Response:
        """The next response; `head`: it answers a HEAD request, so no body follows."""
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._receive("the end of a response's headers")
        raw_head = bytes(self.buffer[:end + 4])
        del self.buffer[:end + 4]
        status_line, *lines = raw_head[:-4].decode("latin-1").split("\r\n")
        match = re.fullmatch(r"HTTP/1\.1 (\d{3}) (.*)", status_line)
        assert match, f"not an HTTP/1.1 status line: {status_line!r}"
        headers = []
        for line in lines:
            name, colon, value = line.partition(":")
            assert colon and name and name == name.strip(), f"bad header line {line!r}"
            headers.append((name, value.strip()))
        status = int(match.group(1))
        response = Response(status, match.group(2), headers, b"", raw_head)
        if head or status < 200:
            return response
        length = response.header("Content-Length")
        assert length is not None and length.isdigit(), f"no Content-Length:\n{raw_head!r}"
        response.body = self.read_exact(int(length))
        return response

    def closed_by_server(self, timeout: float = SHORT_TIMEOUT) -> bool:
        """True if the server closes the connection (EOF) within `timeout` seconds with no
        more bytes; False if it is still open then. Unexpected bytes fail the test."""
        assert not self.buffer, f"unexpected bytes from the server: {bytes(self.buffer[:300])!r}"
        readable, _, _ = select.select([self.sock], [], [], timeout)
        if not readable:
            return False
        extra = self.sock.recv(65536)
        assert extra == b"", f"unexpected bytes from the server: {extra[:300]!r}"
        return True

    def nothing_arrives_within(self, seconds: float) -> bool:
        """True if no byte (and no end of stream) arrives within `seconds`: the absence
        check, the one place a test waits a fixed time."""
        readable, _, _ = select.select([self.sock], [], [], seconds)
        return not readable and not self.buffer


def connect(server: StartedProcess, address: Optional[str] = None,
            timeout: float = IO_TIMEOUT) -> HttpConnection:
    """A raw HTTP connection to `server` (or to another of its `address`es)."""
    sock = server.connect(timeout) if address is None else connect_to(address, timeout)
    return HttpConnection(sock)


def http_request(method: str, target: str, headers: Sequence[tuple[str, str]] = (),
                 body: bytes = b"", version: str = "HTTP/1.1", host: Optional[str] = "localhost",
                 content_length: bool = True) -> bytes:
    """A request in bytes: Host first (unless `host` is None), then `headers`, then a
    Content-Length for a non-empty body."""
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{name}: {value}" for name, value in headers]
    if body and content_length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(server: StartedProcess, request: bytes, address: Optional[str] = None,
             head: bool = False) -> Response:
    """Sends one request on a new connection and returns the response."""
    with connect(server, address) as connection:
        connection.send(request)
        return connection.read_response(head=head)


def get(server: StartedProcess, target: str, address: Optional[str] = None, **kwargs) -> Response:
    return exchange(server, http_request("GET", target, **kwargs), address)


def http_client(server: StartedProcess, address: Optional[str] = None) -> httpx.Client:
    """An httpx client for the server (or for another of its `address`es): the UDS
    transport for a Unix socket, plain TCP otherwise."""
    address = address or server.address
    if address.startswith("unix:"):
        return uds_http_client(address[len("unix:"):])
    return httpx.Client(base_url=f"http://{address}", timeout=IO_TIMEOUT, trust_env=False)


def uds_http_client(path: str, timeout: float = IO_TIMEOUT) -> httpx.Client:
    """An httpx client whose every request goes to the Unix socket at `path`, whatever the
    URL's host says; relative URLs ("/healthz") work. trust_env=False: a proxy set in the
    environment must not get in between."""
    return httpx.Client(transport=httpx.HTTPTransport(uds=path), base_url="http://localhost",
                        timeout=timeout, trust_env=False)


# --------------------------------------------------------------------------------------
# Other small helpers

def random_bytes(size: int, seed: int) -> bytes:
    """`size` reproducible bytes without a pattern, so a lost or repeated chunk shows."""
    return random.Random(seed).randbytes(size)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """http_min refused to start with exit status 1 and exactly one line on stderr."""
    lines = result.stderr.splitlines()
    assert result.returncode == 1 and len(lines) == 1, (
        f"expected exit status 1 and one line on stderr, got {result.returncode}:\n"
        f"{result.stderr}")
    assert lines[0].startswith("http_min: "), lines[0]
    return lines[0]


def usage_error(result: subprocess.CompletedProcess) -> str:
    """http_min refused its command line: exit status 2, one line saying what is wrong,
    then the usage text (and nothing else)."""
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) >= 2, (
        f"expected exit status 2, one line and the usage, got {result.returncode}:\n"
        f"{result.stderr}")
    assert lines[0].startswith("http_min: "), lines[0]
    assert lines[1].startswith("usage: http_min "), lines[1]
    # The usage's further lines are indented under its first (config.cpp); nothing else.
    assert all(line.startswith("       ") for line in lines[2:]), result.stderr
    return lines[0]


def unsent(connection: HttpConnection) -> int:
    """Bytes we sent that the server has not read yet (SIOCOUTQ: on a Unix stream socket it
    counts what sits in the peer's receive queue)."""
    return struct.unpack("i", fcntl.ioctl(connection.sock, termios.TIOCOUTQ, b"\0" * 4))[0]


def stop_with_a_request_in_flight(server: StartedProcess, send_signal: Callable[[], None], *,
                                  one_worker: bool = True) -> None:
    """A graceful stop, checked: with one idle keep-alive connection open and one POST /echo
    half sent (and read by the server), `send_signal()` is called; then the idle connection
    must be closed at once, and the request in flight completed and its connection closed.
    With `one_worker`, the answer must also say `Connection: close`: the idle connection's
    close proved that the one worker knows of the stop. With several workers the two
    connections may sit on different ones, and the master's SIGTERM may reach the in-flight
    connection's worker just after it answered; that worker then closes the connection, now
    idle, at once, which is what is checked."""
    with connect(server) as idle, connect(server) as in_flight:
        idle.send(http_request("GET", "/healthz"))
        assert idle.read_response().body == b"ok"
        request = http_request("POST", "/echo", body=b"finish me, please")
        in_flight.send(request[:-8])
        # The server has the first part once it no longer waits in our send queue.
        wait_until(lambda: unsent(in_flight) == 0, "the server reading the first part")
        send_signal()
        assert idle.closed_by_server(), "an idle connection stayed open after the signal"
        in_flight.send(request[-8:])
        response = in_flight.read_response()
        assert response.body == b"finish me, please"
        if one_worker:
            assert response.header("Connection") == "close", response
        assert in_flight.closed_by_server(), "the connection in flight stayed open after its answer"


# --------------------------------------------------------------------------------------
# Hostile clients (test_lesson08_hostile.py): the server's memory, a close seen without reading


def server_rss(pid: int) -> int:
    """The resident memory of process `pid`, in bytes (VmRSS in /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def peer_has_closed(sock: socket.socket, timeout: float) -> bool:
    """True if the peer of Unix stream socket `sock` closes its end (fully, not only a
    shutdown(SHUT_WR)) within `timeout` seconds, whatever is still unread: POLLHUP, which a
    Unix socket reports as soon as its peer is closed."""
    poller = select.poll()
    poller.register(sock, select.POLLHUP)
    return any(events & select.POLLHUP for _, events in poller.poll(timeout * 1000))
