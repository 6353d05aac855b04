"""Chapter 08: a request-smuggling corpus that nobody here wrote, judged from outside.

Every request of the http-desync-guardian corpus (desync_corpus.py: 159 requests, each
classed Compliant, Acceptable, Ambiguous or Severe) goes to http_min over a Unix socket,
followed on the same connection by `GET /healthz`. http_min is judged as an origin server
that must never desynchronise:

- Severe: refused (400, 411, 413, 431, 501, 505 ...) and the connection closed. The request
  sent right behind it is never answered. No body is sent, so a server that waits for a body
  it should have refused hangs, and fails.
- Any other class: refused and closed; or answered and closed; or framed exactly as RFC 9112
  frames it, which the test shows by sending the body that framing calls for (Content-Length
  bytes, or an empty chunked body, going by the exact field names) and then `GET /healthz`,
  which must then be answered, as itself, on the same connection. A hang, a 5xx other than
  501 and 505, or a lost or misread follow-up fails.

The same corpus through nginx in front of http_min is in test_lesson10_smuggling.py.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass
from typing import Optional

import pytest

from desync_corpus import CASES, COMPLIANT, SEVERE, DesyncCase

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


def exchange(path: str, payload: bytes, methods: list[bytes]) -> Answer:
    """Sends `payload` (requests made with `methods`) on a fresh connection and reads until the
    server closes, a response to each request arrived and the server is quiet, or the time is up."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(ANSWER_TIMEOUT)
    client.connect(path)
    deadline = time.monotonic() + ANSWER_TIMEOUT
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
            if len(statuses) >= len(methods) and not rest:
                # Everything asked for is here; a server that goes on has its 0.2 s to show it.
                deadline = min(deadline, time.monotonic() + 0.2)
    finally:
        client.close()
    statuses, bodies, leftover = split_responses(data, methods)
    return Answer(statuses, bodies, closed, leftover)


def is_refusal(status: int) -> bool:
    return status in REFUSALS or (400 <= status < 500 and status != 404)


def compliant_request_is_served(path: str, case: DesyncCase) -> bool:
    """Whether http_min serves (rather than refuses) a Compliant request, body included."""
    answer = exchange(path, request_head(case) + (body_rfc9112_frames(case) or b""), [case.method])
    return bool(answer.statuses) and not is_refusal(answer.statuses[0])


# The Compliant requests http_min refuses, each with its reason: strictness made visible.
# A change in either direction fails test_corpus_compliant_requests_refused_are_the_known_ones.
REFUSED_COMPLIANT = {
    # 501: http_min decodes only chunked; RFC 9112 section 6.1 lets a server answer 501 to
    # a transfer coding it does not implement.
    "browser-post-te-gzip-chunked": "501, gzip is not implemented",
    "browser-post-te-deflate-identity-chunked": "501, deflate and identity are not implemented",
    "browser-post-te-five-fields-ending-chunked": "501, gzip, deflate, identity, compress",
    "te-five-fields-ending-chunked": "501, gzip, deflate, identity, compress",
    "te-list-with-spaces-ending-chunked": "501, the same codings in one list",
    # 400: `chunked;custom_param` is a parameter with no `=value`, which the transfer-coding
    # grammar (RFC 9112 section 7, RFC 9110 section 10.1.4) does not allow.
    "browser-post-te-chunked-with-param": "400, a transfer parameter without a value",
    "te-three-fields-with-params": "400, a transfer parameter without a value",
    # 413: a 4,000,000-byte body is over http_min's body limit (1 MiB).
    "browser-post-cl-large-te-in-other-value": "413, over the body limit",
    # 400: `GET  HTTP/1.1` has no request-target at all (RFC 9112 section 3.2).
    "target-empty": "400, no request-target",
    # 400: raw UTF-8 is not allowed in a URI (RFC 3986 section 2); percent-encode it.
    "target-raw-utf8": "400, raw bytes above 0x7F in the request-target",
}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_corpus_request_never_desynchronises_http_min(uds_server, case: DesyncCase):
    path = uds_server.path
    head = request_head(case)

    if case.kind == SEVERE:
        # No body: a server that waits for one it should have refused hangs here.
        answer = exchange(path, head + FOLLOW_UP, [case.method, b"GET"])
        assert len(answer.statuses) == 1 and is_refusal(answer.statuses[0]) and answer.closed \
            and not answer.leftover, \
            f"{case.kind} request {head!r} must be refused and closed; got {answer.describe()}"
    else:
        body = body_rfc9112_frames(case)
        answer = exchange(path, head + (body or b"") + FOLLOW_UP, [case.method, b"GET"])
        assert answer.statuses, f"no answer to {head!r}: {answer.describe()}"
        first = answer.statuses[0]
        assert first < 500 or first in (501, 505), \
            f"{head!r} got a server error: {answer.describe()}"
        if len(answer.statuses) == 1:
            assert answer.closed and not answer.leftover, \
                f"{head!r} was answered, then the connection neither closed nor served the " \
                f"request behind it: {answer.describe()}"
        else:
            assert body is not None and not is_refusal(first), \
                f"{head!r} was refused ({first}) but the connection stayed open: {answer.describe()}"
            assert answer.statuses[1:] == [200] and answer.bodies[1] == b"ok", \
                f"{head!r} framed as RFC 9112 frames it (body {body[:20]!r}...), the request " \
                f"behind it must be answered as GET /healthz: got {answer.describe()}"

    # Whatever the request, the server keeps serving everyone else.
    after = exchange(path, FOLLOW_UP, [b"GET"])
    assert after.statuses[:1] == [200], f"http_min stopped serving after {case.id}: {after.describe()}"


def test_corpus_compliant_requests_refused_are_the_known_ones(uds_server, capsys):
    """How many of the corpus' Compliant requests http_min serves rather than refuses, and
    which it refuses: printed (the ctest log shows it), and checked against REFUSED_COMPLIANT."""
    compliant = [case for case in CASES if case.kind == COMPLIANT]
    refused = [case.id for case in compliant if not compliant_request_is_served(uds_server.path, case)]
    with capsys.disabled():
        print(f"\nhttp_min serves {len(compliant) - len(refused)} of the corpus' {len(compliant)} "
              f"Compliant requests and refuses {len(refused)}: {', '.join(refused)}")
    assert sorted(refused) == sorted(REFUSED_COMPLIANT), \
        "the Compliant requests http_min refuses changed; update REFUSED_COMPLIANT with the reason"
