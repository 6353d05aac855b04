"""Chapter 08, before http_min's parser: bare_http_head frames one request in plain C++ over a
byte buffer. It finds the empty line that ends the head, reads Content-Length strictly (digits
only, one field, limits), and waits for the whole body however the bytes arrive.

Each test pipes bytes into the program and checks what it says, the way the chapter runs it
with printf."""

from __future__ import annotations

import fcntl
import subprocess
import termios

import pytest

from course_support.polling import poll_until
from course_support.programs import program_path
from course_support.timeouts import RUN_TIMEOUT

HEAD = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"


def frame(run_program, data: bytes) -> subprocess.CompletedProcess:
    return run_program("bare_http_head", input=data, text=False)


def said(result: subprocess.CompletedProcess) -> str:
    return (result.stdout + result.stderr).decode()


def test_bare_http_head_finds_the_empty_line_and_reads_the_body(run_program):
    result = frame(run_program, HEAD + b"hello" + b"GET / HTTP/1.1\r\n")
    assert result.returncode == 0, said(result)
    assert said(result).splitlines() == [
        f"head: {len(HEAD)} bytes, up to and including the empty line",
        "body: 5 bytes, as Content-Length says",
        "after it: 16 bytes, the next request's",
    ]


def test_bare_http_head_without_content_length_has_no_body(run_program):
    result = frame(run_program, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert result.returncode == 0, said(result)
    assert "head: 27 bytes" in said(result) and "body: 0 bytes" in said(result)


@pytest.mark.parametrize("data, where", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n", "inside the head"),
    (b"GET / HTTP/1.1\nHost: x\n\n", "inside the head"),  # a bare LF ends nothing here
    (HEAD + b"hell", "inside the body"),
])
def test_bare_http_head_waits_for_the_whole_request(run_program, data, where):
    result = frame(run_program, data)
    assert result.returncode == 1
    assert f"the input ended {where}" in said(result)


@pytest.mark.parametrize("field, reason", [
    (b"Content-Length: 5\r\nContent-Length: 5", "400: more than one Content-Length"),
    (b"Content-Length: +5", "400: Content-Length not digits"),
    (b"Content-Length: 5, 5", "400: Content-Length not digits"),
    (b"Content-Length: 0x5", "400: Content-Length not digits"),
    (b"Content-Length: -1", "400: Content-Length not digits"),
    (b"Content-Length:", "400: empty Content-Length"),
    (b"Content-Length: 1048577", "413: body too large"),
    (b"Content-Length: 99999999999999999999999", "413: body too large"),
    (b"Transfer-Encoding: chunked", "501: Transfer-Encoding is not read here"),
    (b"No colon here", "400: no colon"),
])
def test_bare_http_head_refuses_what_it_cannot_frame_for_sure(run_program, field, reason):
    result = frame(run_program, b"POST / HTTP/1.1\r\nHost: x\r\n" + field + b"\r\n\r\nhello")
    assert result.returncode == 1
    assert said(result).strip() == f"bare_http_head: refused: {reason}"


def test_bare_http_head_takes_the_name_in_any_case_and_spaces_around_the_value(run_program):
    result = frame(run_program, b"POST / HTTP/1.1\r\ncontent-LENGTH: \t2 \r\n\r\nhi")
    assert result.returncode == 0, said(result)
    assert "body: 2 bytes" in said(result)


def test_bare_http_head_refuses_a_head_over_8_kib_before_it_ends(run_program):
    # No empty line at all: it must not keep reading forever.
    result = frame(run_program, b"GET / HTTP/1.1\r\nX: " + b"a" * 9000)
    assert result.returncode == 1
    assert "431: head too large" in said(result)


def unread_bytes(pipe) -> int:
    """How many bytes wait in a pipe, asked through either of its ends (FIONREAD)."""
    count = bytearray(4)
    fcntl.ioctl(pipe.fileno(), termios.FIONREAD, count)
    return int.from_bytes(count, "little")

def test_bare_http_head_gives_the_same_answer_when_the_bytes_trickle_in(run_program):
    whole = said(frame(run_program, HEAD + b"hello"))
    process = subprocess.Popen([program_path("bare_http_head")], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for byte in HEAD + b"hello":  # one read() per byte: the head arrives in pieces
            process.stdin.write(bytes([byte]))
            process.stdin.flush()
            # The next byte goes only once the program has read this one (the pipe is empty
            # again), so each read() really gets one byte.
            assert poll_until(lambda: unread_bytes(process.stdin) == 0, RUN_TIMEOUT), \
                "bare_http_head stopped reading its input"
        process.stdin.close()
        trickled = process.stdout.read().decode()
        assert process.wait(timeout=RUN_TIMEOUT) == 0, trickled
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
    assert trickled == whole
