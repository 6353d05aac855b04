"""Chapter 10: the request-smuggling corpus through the pair the course recommends, nginx on
TCP in front of http_min on a Unix socket (nginx/examples/unix-backend.conf, the chapter's
snippets). A desync lives exactly at such a pair: the front end and the back end frame one
request differently, and what the front end took for a body reaches the back end as a
request of its own, or the reverse.

Each corpus request (course_support/desync_corpus.py) goes to nginx, with the body RFC 9112
gives it (none for a Severe one), then `GET /healthz` on the same connection. What matters
for the pair: the request behind it is either answered as itself (`/healthz`, 200 `ok`) or
never answered, because the connection was refused and closed. It is never answered as
something else, never reaches http_min inside another request's body (then the client would
wait for an answer that never comes, and the test fails on the hang), and the connection is
never left hanging.

nginx's own habits are not failures of the pair, and the test allows for them:
- it answers an HTTP/0.9 request (no version on the request line, or a line that a bare LF
  ends early) with the body alone, no status line, then closes;
- after a refusal it keeps reading for a while before it closes (lingering close,
  `lingering_timeout`, 5 s by default). The client half-closes once a response says
  `Connection: close`, which ends the lingering at once, and waits long enough otherwise.
"""

from __future__ import annotations

import os
import socket

import pytest

from course_support.desync import (FOLLOW_UP, Answer, body_rfc9112_frames, exchange,
                                   is_refusal, request_head)
from course_support.desync_corpus import CASES, SEVERE
from course_support.nginx import behind_nginx

# nginx's lingering close (5 s) plus a margin: past this, the connection is hanging.
PAIR_TIMEOUT = 8.0


def over_tcp(port: int):
    """A connect function for exchange(): a new TCP connection to nginx on 127.0.0.1."""
    def connect() -> socket.socket:
        return socket.create_connection(("127.0.0.1", port), timeout=PAIR_TIMEOUT)
    return connect


def answered_as_http09(answer: Answer) -> bool:
    """nginx answers a request line without a version as HTTP/0.9: a body, no status line,
    then it closes. That line may be the corpus' own (no version), or what nginx reads up to
    a bare LF, which it takes for a line end (`GET /endpoint_a\nHTTP/1.1 ...`)."""
    return (not answer.statuses and answer.closed and bool(answer.leftover)
            and not answer.leftover.startswith(b"HTTP/"))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_corpus_request_never_desynchronises_nginx_in_front_of_http_min(start_server, nginx,
                                                                       short_dir, case):
    server, proxy = behind_nginx(start_server, nginx, short_dir, "unix")
    head = request_head(case)
    body = b"" if case.kind == SEVERE else (body_rfc9112_frames(case) or b"")
    answer = exchange(over_tcp(proxy.port), head + body + FOLLOW_UP, [case.method, b"GET"],
                      timeout=PAIR_TIMEOUT)
    what = f"{case.kind} request {head!r} then GET /healthz, through nginx: {answer.describe()}"

    # One answer with no status line, then closed, is nginx's HTTP/0.9: nothing else was
    # read as a request.
    if not answered_as_http09(answer):
        assert answer.closed or len(answer.statuses) == 2, f"the connection was left hanging: {what}"
        assert answer.statuses, f"no answer at all: {what}"
        assert len(answer.statuses) <= 2 and not answer.leftover, f"more than was asked: {what}"
        if len(answer.statuses) == 2:
            assert answer.statuses[1] == 200 and answer.bodies[1] == b"ok", \
                f"the request behind it was answered as something else: {what}"
        else:
            # Never answered: that is right only if the connection was refused and closed.
            assert answer.closed and is_refusal(answer.statuses[0]), \
                f"the request behind it was lost without a refusal: {what}"

    # The pair keeps serving everyone else.
    after = exchange(over_tcp(proxy.port), FOLLOW_UP, [b"GET"], timeout=PAIR_TIMEOUT)
    assert after.statuses[:1] == [200], f"the pair stopped serving after {case.id}: {after.describe()}"


def test_nginx_refuses_two_content_lengths_itself_before_http_min_sees_them(start_server, nginx,
                                                                            short_dir):
    # Chapter 08's example: nginx answers its own 400 page (not http_min's text/plain one) and
    # closes, and http_min serves no request at all.
    access_log = os.path.join(short_dir, "access.log")
    server, proxy = behind_nginx(start_server, nginx, short_dir, "unix", "--access-log", access_log)
    case = next(case for case in CASES if case.id == "two-different-cls")
    answer = exchange(over_tcp(proxy.port), request_head(case) + FOLLOW_UP, [case.method, b"GET"],
                      timeout=PAIR_TIMEOUT)
    assert answer.statuses == [400] and answer.closed, answer.describe()
    assert b"<center>nginx" in answer.bodies[0], f"not nginx's own page: {answer.bodies[0]!r}"
    assert proxy.get("/healthz").body == b"ok"  # the pair serves, and http_min logs it
    assert server.stop() == 0
    with open(access_log, encoding="utf-8") as log:
        served = log.read().splitlines()
    assert len(served) == 1 and "/healthz" in served[0], f"http_min served more: {served}"
