"""Chapter 08: http_min's access log never stops serving.

The log goes to stdout by default, and many test fixtures and supervisors start a server
with stdout on a pipe that nobody reads. A pipe holds 64 KiB; a server that writes its log
with blocking writes stops in the middle of a write once the pipe is full, and with it stop
its event loop, every client and its response to SIGTERM. http_min keeps each worker's log
lines in a bounded buffer that it writes without blocking: when the reader does not keep
up, lines are dropped and counted, the log says how many once writing resumes, and the
total is reported on stderr at exit. Nothing is lost silently, nothing blocks.

Client-supplied text in a log line (the method, the target) is escaped as nginx does, so a
client can neither forge a field or a line nor send terminal escapes to whoever reads it.

Each test demonstrates one claim of lessons/08-http-over-a-socket/README.md against the real
program. The server's stdout is a pipe whose read end the test holds (`LogPipe`): read by a
thread, or deliberately never read.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from typing import Optional

import pytest

from course_support.http import (SHORT_TIMEOUT, HttpConnection, connect, get, http_request,
                                 start_http_min)
from course_support.polling import poll_until
from course_support.processes import Server
from course_support.programs import program_path
from course_support.timeouts import IO_TIMEOUT, READY_TIMEOUT, STOP_TIMEOUT

# Far more log lines than an unread pipe (64 KiB) and the server's own buffer (64 KiB) hold
# together: about 55 bytes a line, so some 2,400 lines at most.
MANY_REQUESTS = 5000
REQUEST_LINE = re.compile(rb'^unix pid=\d+ uid=\d+ gid=\d+ "GET /healthz\?n=(\d+) HTTP/1\.1" 200$',
                          re.MULTILINE)
DROPPED_NOTE = re.compile(rb"dropped (\d+) access log lines", re.MULTILINE)


class LogPipe:
    """The read end of the pipe that is the server's stdout. Nothing reads it until
    `start_reading()`; then a thread collects everything until the end of the stream."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        self.received = bytearray()
        self._lock = threading.Lock()
        self._reader: Optional[threading.Thread] = None

    def server_has_the_write_end(self) -> None:
        """Once the server started: the end of the stream then comes when it exits."""
        os.close(self.write_end)
        self.write_end = -1

    def start_reading(self) -> None:
        self._reader = threading.Thread(target=self._read_to_the_end, daemon=True)
        self._reader.start()

    def _read_to_the_end(self) -> None:
        while chunk := os.read(self.read_end, 65536):
            with self._lock:
                self.received += chunk

    def text(self) -> bytes:
        """What arrived so far (once reading started)."""
        with self._lock:
            return bytes(self.received)

    def read_to_the_end(self, timeout: float = STOP_TIMEOUT) -> bytes:
        """Everything the server wrote, once it has exited (every write end is closed)."""
        if self._reader is None:
            self.start_reading()
        self._reader.join(timeout)
        assert not self._reader.is_alive(), "the log pipe did not end: is a server still running?"
        return self.text()

    def close(self) -> None:
        for fd in (self.read_end, self.write_end):
            if fd >= 0:
                os.close(fd)
        self.read_end = self.write_end = -1


@pytest.fixture
def log_pipe():
    pipe = LogPipe()
    yield pipe
    pipe.close()


def start_logging_to(pipe: LogPipe, start_server, short_dir: str, *args: str) -> Server:
    """http_min on a Unix socket in short_dir, its stdout (the access log, by default) on
    `pipe`, its stderr in the server's output as usual. A shell puts the pipe on descriptor 1
    and execs http_min (subprocess could only give it a pipe that subprocess reads); bash,
    because dash takes only descriptors 0 to 9 in a redirection."""
    path = os.path.join(short_dir, "http_min.sock")
    command = ["/bin/bash", "-c", f'exec "$0" "$@" >&{pipe.write_end} {pipe.write_end}>&-',
               program_path("http_min"), "--uds", path, *args]
    server = start_server.keep(Server("http_min", f"unix:{path}", command, cwd=short_dir,
                                      pass_fds=(pipe.write_end,)))
    pipe.server_has_the_write_end()
    server.wait_until_accepting()
    return server


def send_requests(server: Server, first: int, count: int,
                  deadline: float = SHORT_TIMEOUT) -> None:
    """GET /healthz?n=first ... on one keep-alive connection, one at a time; fails the test
    at the first response that takes longer than `deadline`: the server has stalled."""
    with connect(server, timeout=deadline) as connection:
        for number in range(first, first + count):
            connection.send(http_request("GET", f"/healthz?n={number}"))
            try:
                response = connection.read_response()
            except TimeoutError:
                pytest.fail(f"request {number} got no answer within {deadline} s: the server "
                            f"stalled\n{server.describe()}", pytrace=False)
            assert response.status == 200


def stop_within(server: Server, seconds: float = STOP_TIMEOUT) -> float:
    """Sends SIGTERM, checks the exit status 0 and the socket file removed; returns how long
    the stop took. (server.stop() fails the test if it takes longer than `seconds`.)"""
    started = time.monotonic()
    status = server.stop(timeout=seconds)
    took = time.monotonic() - started
    assert status == 0, server.describe()
    assert not os.path.lexists(server.path), "the socket file was left behind"
    return took


def dropped_reported_at_exit(server: Server) -> int:
    """The count of dropped lines the server reported on stderr at exit (0 if none)."""
    counts = DROPPED_NOTE.findall(server.output().encode())
    assert len(counts) <= 1, f"more than one report on stderr:\n{server.describe()}"
    return int(counts[0]) if counts else 0


# --------------------------------------------------------------------------------------
# Nobody reads the log


@pytest.mark.parametrize("workers", [1, 2])
def test_an_unread_stdout_pipe_neither_stalls_serving_nor_sigterm(start_server, short_dir,
                                                                   log_pipe, workers):
    server = start_logging_to(log_pipe, start_server, short_dir, "--workers", str(workers))

    send_requests(server, 0, MANY_REQUESTS)

    # The worker waits a moment for the log's reader at exit, then gives up: well within
    # the stop deadline (STOP_TIMEOUT, 10 s), where a blocked write never returns.
    took = stop_within(server)
    assert took < STOP_TIMEOUT


def test_dropped_lines_are_counted_and_reported_on_stderr_at_exit(start_server, short_dir,
                                                                  log_pipe):
    server = start_logging_to(log_pipe, start_server, short_dir)
    send_requests(server, 0, MANY_REQUESTS)
    stop_within(server)

    logged = REQUEST_LINE.findall(log_pipe.read_to_the_end())
    dropped = dropped_reported_at_exit(server)
    assert dropped > 0, server.describe()
    # Every request is accounted for: in the log, or in the count of dropped lines.
    assert len(logged) + dropped == MANY_REQUESTS, server.describe()
    # What did arrive are whole lines, in order (none torn in half by a partial write).
    assert [int(n) for n in logged] == sorted(int(n) for n in logged)


def test_a_reader_that_catches_up_reads_how_many_lines_were_dropped(start_server, short_dir,
                                                                    log_pipe):
    server = start_logging_to(log_pipe, start_server, short_dir)
    send_requests(server, 0, MANY_REQUESTS)
    log_pipe.start_reading()

    # The log is written once per turn of the event loop: a few more requests get it going
    # again, and the note of what was dropped follows.
    sent = [MANY_REQUESTS]

    def note_arrived() -> bool:
        send_requests(server, sent[0], 1)
        sent[0] += 1
        return DROPPED_NOTE.search(log_pipe.text()) is not None

    if not poll_until(note_arrived, READY_TIMEOUT, interval=0.05):
        pytest.fail(f"no note of dropped lines arrived once the log was read:\n"
                    f"{log_pipe.text()[-2000:]!r}\n{server.describe()}", pytrace=False)
    send_requests(server, sent[0], 10)  # logged as usual from here on
    sent[0] += 10
    stop_within(server)

    text = log_pipe.read_to_the_end()
    logged = [int(n) for n in REQUEST_LINE.findall(text)]
    noted = sum(int(count) for count in DROPPED_NOTE.findall(text))
    assert noted == dropped_reported_at_exit(server) > 0
    assert len(logged) + noted == sent[0]
    assert logged[-10:] == list(range(sent[0] - 10, sent[0]))


# --------------------------------------------------------------------------------------
# A log that is read


def test_with_a_reader_every_line_arrives_and_none_is_dropped(start_server, short_dir,
                                                             log_pipe):
    server = start_logging_to(log_pipe, start_server, short_dir)
    log_pipe.start_reading()
    requests = 2000
    for connection in range(4):
        send_requests(server, connection * requests // 4, requests // 4, deadline=IO_TIMEOUT)
    stop_within(server)

    text = log_pipe.read_to_the_end()
    assert sorted(int(n) for n in REQUEST_LINE.findall(text)) == list(range(requests))
    assert not DROPPED_NOTE.search(text)
    assert dropped_reported_at_exit(server) == 0


def test_access_log_escapes_quote_and_backslash_in_the_target(start_server, short_dir):
    # The request-target may hold '"' and '\' (http_min refuses control bytes and bytes
    # above 0x7F there, so those reach the log only through the unit tests): unescaped, the
    # quote would end the request field early and let a client write the rest of the line.
    log_path = os.path.join(short_dir, "access.log")
    server = start_http_min(start_server, "unix", "--access-log", log_path)
    with connect(server) as connection:
        connection.send(b'GET /a"b\\c HTTP/1.1\r\nHost: x\r\n\r\n')
        assert connection.read_response().status == 404
    assert get(server, "/healthz?after").status == 200

    def logged() -> Optional[str]:
        with open(log_path, encoding="ascii") as log:
            text = log.read()
        return text if "GET /healthz?after" in text else None

    text = poll_until(logged, READY_TIMEOUT)
    assert text is not None, server.describe()
    assert re.search(r'^unix pid=\d+ uid=\d+ gid=\d+ "GET /a\\x22b\\x5Cc HTTP/1\.1" 404$', text,
                     re.MULTILINE), text


def test_a_log_file_gets_every_line(start_server, short_dir):
    # A regular file never blocks on a reader: the log to a file loses nothing.
    log_path = os.path.join(short_dir, "access.log")
    server = start_http_min(start_server, "unix", "--access-log", log_path)
    send_requests(server, 0, MANY_REQUESTS, deadline=IO_TIMEOUT)
    stop_within(server)
    with open(log_path, "rb") as log:
        text = log.read()
    assert [int(n) for n in REQUEST_LINE.findall(text)] == list(range(MANY_REQUESTS))
    assert dropped_reported_at_exit(server) == 0


def test_a_fifo_log_without_a_reader_fails_at_start_up_and_leaves_no_socket_file(short_dir):
    # Opening a FIFO for writing waits for a reader, unless O_NONBLOCK: then it fails at once
    # (ENXIO). The log is opened before the socket is bound, so nothing is left behind.
    fifo = os.path.join(short_dir, "log.fifo")
    os.mkfifo(fifo)
    path = os.path.join(short_dir, "http_min.sock")
    try:
        done = subprocess.run([program_path("http_min"), "--uds", path, "--access-log", fifo],
                              capture_output=True, text=True, timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("http_min did not start up nor fail: it waits for a reader of the FIFO",
                    pytrace=False)
    finally:
        if os.path.lexists(path):
            os.unlink(path)
            pytest.fail("the socket file was created (and left behind)", pytrace=False)
    assert done.returncode != 0
    assert "FIFO with no reader" in done.stderr, done.stderr


def test_a_log_file_gets_every_line_of_a_pipelined_burst(start_server, short_dir):
    # One client pipelining thousands of requests makes thousands of lines between two
    # flushes of the worker's log; a regular file never waits for a reader, so none is lost.
    log_path = os.path.join(short_dir, "access.log")
    server = start_http_min(start_server, "unix", "--access-log", log_path)
    burst = b"".join(http_request("GET", f"/healthz?n={number}")
                     for number in range(MANY_REQUESTS))
    with connect(server, timeout=IO_TIMEOUT) as connection:
        sender = threading.Thread(target=connection.send, args=(burst,), daemon=True)
        sender.start()
        for _ in range(MANY_REQUESTS):
            assert connection.read_response().status == 200
        sender.join(IO_TIMEOUT)
    stop_within(server)
    with open(log_path, "rb") as log:
        text = log.read()
    assert [int(n) for n in REQUEST_LINE.findall(text)] == list(range(MANY_REQUESTS))
    assert dropped_reported_at_exit(server) == 0
