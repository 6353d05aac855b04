"""Chapter 08: a request-smuggling corpus that nobody here wrote, judged from outside.

Every request of the http-desync-guardian corpus (course_support/desync_corpus.py: 159
requests, each classed Compliant, Acceptable, Ambiguous or Severe) goes to http_min over a
Unix socket, followed on the same connection by `GET /healthz`. http_min is judged as an
origin server that must never desynchronise:

- Severe: refused (400, 411, 413, 431, 501, 505 ...) and the connection closed. The request
  sent right behind it is never answered. No body is sent, so a server that waits for a body
  it should have refused hangs, and fails.
- Any other class: refused and closed; or answered and closed; or framed exactly as RFC 9112
  frames it, which the test shows by sending the body that framing calls for (Content-Length
  bytes, or an empty chunked body, going by the exact field names) and then `GET /healthz`,
  which must then be answered, as itself, on the same connection. A hang, a 5xx other than
  501 and 505, or a lost or misread follow-up fails.

The same corpus through nginx in front of http_min: test_lesson10_smuggling.py. The
requests, their classes and their source: course_support/desync_corpus.py.
"""

from __future__ import annotations

import socket

import pytest

from course_support.desync import (FOLLOW_UP, body_rfc9112_frames, exchange, is_refusal,
                                   request_head)
from course_support.desync_corpus import CASES, COMPLIANT, SEVERE, DesyncCase


def over_unix(path: str):
    """A connect function for exchange(): a new connection to the Unix socket at `path`."""
    def connect() -> socket.socket:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(path)
        return client
    return connect

def compliant_request_is_served(path: str, case: DesyncCase) -> bool:
    """Whether http_min serves (rather than refuses) a Compliant request, body included."""
    payload = request_head(case) + (body_rfc9112_frames(case) or b"")
    answer = exchange(over_unix(path), payload, [case.method])
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
    # 400: its target ends in `#form`, a fragment, which a client never sends (RFC 9112
    # section 3.2 has no place for one; test_lesson08_refusals.py).
    "target-userinfo-like-path": "400, a fragment (#) in the request-target",
}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_corpus_request_never_desynchronises_http_min(uds_server, case: DesyncCase):
    path = uds_server.path
    head = request_head(case)

    if case.kind == SEVERE:
        # No body: a server that waits for one it should have refused hangs here.
        answer = exchange(over_unix(path), head + FOLLOW_UP, [case.method, b"GET"])
        assert len(answer.statuses) == 1 and is_refusal(answer.statuses[0]) and answer.closed \
            and not answer.leftover, \
            f"{case.kind} request {head!r} must be refused and closed; got {answer.describe()}"
    else:
        body = body_rfc9112_frames(case)
        answer = exchange(over_unix(path), head + (body or b"") + FOLLOW_UP, [case.method, b"GET"])
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
    after = exchange(over_unix(path), FOLLOW_UP, [b"GET"])
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
