"""Sending the desync corpus (desync_corpus.py) and reading what comes back, byte for byte:
shared by the http_min test (chapter 08) and the nginx-in-front test (chapter 10)."""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass
from typing import Callable, Optional

from .desync_corpus import DesyncCase

# Statuses that refuse a request for its framing or syntax. A refusal must close.
REFUSALS = {400, 405, 411, 413, 414, 417, 431, 501, 505}
FOLLOW_UP = b"GET /healthz HTTP/1.1\r\nHost: corpus.test\r\n\r\n"
ANSWER_TIMEOUT = 5.0  # seconds for the whole exchange: a hang is a failure, not a wait


def request_head(case: DesyncCase) -> bytes:
    """The request line and header lines exactly as the corpus gives them, with a Host line
    added where the entry has none (RFC 9112 section 3.2 requires one)."""
    line = case.method + b" " + case.target
    if case.version:
        line += b" " + case.version
    lines = [line, *case.header_lines]
    if not any(field_name(header) == b"host" for header in case.header_lines):
        lines.append(b"Host: corpus.test")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def field_name(header_line: bytes) -> bytes:
    """The field name as RFC 9112 reads it: everything before the first colon, compared
    case-insensitively. A name with a space or a control byte in it is no known field."""
    return header_line.split(b":", 1)[0].lower()


def field_values(case: DesyncCase, name: bytes) -> list[bytes]:
    return [line.split(b":", 1)[1].strip(b" \t") for line in case.header_lines
            if b":" in line and field_name(line) == name]


def body_rfc9112_frames(case: DesyncCase) -> Optional[bytes]:
    """The body RFC 9112 section 6.3 gives this request, by the exact field names; None where
    the framing is invalid (then the server must refuse, and nothing is sent)."""
    codings = [coding.strip(b" \t").split(b";")[0].strip(b" \t").lower()
               for value in field_values(case, b"transfer-encoding") for coding in value.split(b",")]
    if codings:
        return b"0\r\n\r\n" if codings[-1] == b"chunked" else None
    lengths = {value.strip(b" \t") for value in field_values(case, b"content-length")
               for value in value.split(b",")}
    if not lengths:
        return b""
    if len(lengths) != 1 or not re.fullmatch(rb"[0-9]{1,9}", next(iter(lengths))):
        return None
    return b"x" * int(next(iter(lengths)))


@dataclass
class Answer:
    """What came back on the connection: the responses in order, and how it ended."""

    statuses: list[int]
    bodies: list[bytes]
    closed: bool  # EOF (or a reset) after the last response
    leftover: bytes  # bytes that are not a whole response

    def describe(self) -> str:
        ending = "then closed" if self.closed else "then nothing (connection left hanging)"
        extra = f", then {len(self.leftover)} stray bytes {self.leftover[:60]!r}" if self.leftover else ""
        return f"statuses {self.statuses} {ending}{extra}"


def split_responses(data: bytes, methods: list[bytes]) -> tuple[list[int], list[bytes], bytes]:
    """Whole HTTP/1.1 responses at the start of `data`, to requests made with `methods` in
    order (a response to HEAD has no body). http_min always sends Content-Length."""
    statuses, bodies = [], []
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return statuses, bodies, data
        head = data[:end].decode("latin-1")
        match = re.match(r"HTTP/1\.[01] (\d{3}) ", head)
        length = re.search(r"(?im)^content-length:\s*(\d+)\s*$", head)
        if not match or not length:
            return statuses, bodies, data
        head_request = len(statuses) < len(methods) and methods[len(statuses)] == b"HEAD"
        body_end = end + 4 + (0 if head_request else int(length.group(1)))
        if len(data) < body_end:
            return statuses, bodies, data
        statuses.append(int(match.group(1)))
        bodies.append(data[end + 4:body_end])
        data = data[body_end:]


def exchange(connect: Callable[[], socket.socket], payload: bytes, methods: list[bytes],
             timeout: float = ANSWER_TIMEOUT) -> Answer:
    """Sends `payload` (requests made with `methods`) on a fresh connection from `connect` and
    reads until the server closes, a response to each request arrived and the server is quiet,
    or `timeout` is up. Once a response says `Connection: close`, the client half-closes: a
    server that lingers on reading (nginx) then sees the end at once and closes."""
    client = connect()
    deadline = time.monotonic() + timeout
    half_closed = False
    data, closed = b"", False
    try:
        try:
            client.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused early and closed: what it sent is still to be read
        while time.monotonic() < deadline:
            client.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = client.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            except socket.timeout:
                break
            if not chunk:
                closed = True
                break
            data += chunk
            statuses, _, rest = split_responses(data, methods)
            if not half_closed and re.search(rb"(?im)^connection:\s*close\s*$", data):
                client.shutdown(socket.SHUT_WR)
                half_closed = True
            if len(statuses) >= len(methods) and not rest:
                # Everything asked for is here; a server that goes on has its 0.2 s to show it.
                deadline = min(deadline, time.monotonic() + 0.2)
    finally:
        client.close()
    statuses, bodies, leftover = split_responses(data, methods)
    return Answer(statuses, bodies, closed, leftover)


def is_refusal(status: int) -> bool:
    return status in REFUSALS or (400 <= status < 500 and status != 404)


