"""Chapter 11: the floor of the HTTP table. canned_http answers every read with one fixed
response, and the chapter says what that costs the kernel per request: one read(), one
write() and at most one epoll_wait(). Counted here with strace on requests sent one at a
time over one keep-alive connection, the case where every request needs its own wake-up.
The counts include the program's start-up and exit (loading its libraries reads a few
files), so they are asserted as "per request, plus a small constant"."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
from typing import Optional

import pytest

from course_support.polling import poll_until
from course_support.programs import program_path
from course_support.timeouts import IO_TIMEOUT, READY_TIMEOUT, STOP_TIMEOUT

REQUESTS = 300
# Start-up, the connection's end and exit: far fewer than this, however the libc loads.
CONSTANT = 40
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


def syscall_counts(summary: str) -> dict[str, int]:
    """strace -c's table as {syscall: calls}."""
    counts = {}
    for line in summary.splitlines():
        fields = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(fields) >= 5 and re.fullmatch(r"[\d.]+", fields[0]) and fields[3].isdigit():
            counts[fields[-1]] = int(fields[3])
    return counts


def connect_when_ready(path: str) -> Optional[socket.socket]:
    """A connection to `path` once something listens there; None after READY_TIMEOUT."""
    def attempt() -> Optional[socket.socket]:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(IO_TIMEOUT)
        try:
            client.connect(path)
            return client
        except (FileNotFoundError, ConnectionRefusedError):
            client.close()
            return None
    return poll_until(attempt, READY_TIMEOUT)


def test_canned_http_makes_one_read_and_one_write_per_request_and_at_most_one_epoll_wait(
        short_dir):
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("needs strace (apt-get install strace)")
    path = os.path.join(short_dir, "canned.sock")
    summary = os.path.join(short_dir, "strace.txt")
    traced = subprocess.Popen(
        [strace, "-f", "-c", "-o", summary, "-e", "trace=read,write,epoll_wait,epoll_pwait",
         program_path("canned_http"), f"unix:{path}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = connect_when_ready(path)
        if client is None:
            traced.kill()
            error = traced.communicate(timeout=STOP_TIMEOUT)[1].decode(errors="replace")
            if "ptrace" in error or "Operation not permitted" in error:
                pytest.skip(f"strace cannot trace here: {error.strip()}")
            pytest.fail(f"canned_http under strace did not listen: {error}")
        with client:
            for _ in range(REQUESTS):
                client.sendall(REQUEST)
                answer = client.recv(4096)  # one whole response: canned_http writes it at once
                assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
        # canned_http is strace's child: a SIGTERM to it is a clean stop, and strace writes
        # its summary once the program has exited.
        children = open(f"/proc/{traced.pid}/task/{traced.pid}/children").read().split()
        assert children, "strace has no child"
        os.kill(int(children[0]), signal.SIGTERM)
        traced.wait(STOP_TIMEOUT)
    finally:
        if traced.poll() is None:
            traced.kill()
            traced.wait()
    with open(summary) as file:
        counts = syscall_counts(file.read())

    print(counts)
    waits = counts.get("epoll_wait", 0) + counts.get("epoll_pwait", 0)
    assert REQUESTS <= counts.get("read", 0) <= REQUESTS + CONSTANT, counts
    assert REQUESTS <= counts.get("write", 0) <= REQUESTS + CONSTANT, counts
    assert waits <= REQUESTS + CONSTANT, counts
