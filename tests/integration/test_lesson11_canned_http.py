"""Chapter 11: the floor of the HTTP table. canned_http answers every read with one fixed
response, and the chapter says what that costs the kernel per request: one read(), one
write() and at most one epoll_wait(). Counted here with strace on requests sent one at a
time over one keep-alive connection, the case where every request needs its own wake-up.
The counts include the program's start-up and exit (loading its libraries reads a few
files), so they are asserted as "per request, plus a small constant"."""

from __future__ import annotations

import os

from course_support.programs import program_path
from course_support.strace import count_syscalls

REQUESTS = 300
# Start-up, the connection's end and exit: far fewer than this, however the libc loads.
CONSTANT = 40
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


def one_request_at_a_time(client):
    for _ in range(REQUESTS):
        client.sendall(REQUEST)
        answer = client.recv(4096)  # one whole response: canned_http writes it at once
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer


def test_canned_http_makes_one_read_and_one_write_per_request_and_at_most_one_epoll_wait(
        short_dir):
    path = os.path.join(short_dir, "canned.sock")
    counts = count_syscalls([program_path("canned_http"), f"unix:{path}"], path,
                            ["read", "write", "epoll_wait", "epoll_pwait"], short_dir,
                            one_request_at_a_time)
    print(counts)
    waits = counts.get("epoll_wait", 0) + counts.get("epoll_pwait", 0)
    assert REQUESTS <= counts.get("read", 0) <= REQUESTS + CONSTANT, counts
    assert REQUESTS <= counts.get("write", 0) <= REQUESTS + CONSTANT, counts
    assert waits <= REQUESTS + CONSTANT, counts
