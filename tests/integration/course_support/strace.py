"""Counting a server's system calls with `strace -f -c`: what chapters 08 and 11 say a
request costs the kernel, checked on the running program."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
from typing import Callable, Optional, Sequence

import pytest

from .polling import poll_until
from .timeouts import IO_TIMEOUT, READY_TIMEOUT, STOP_TIMEOUT


def syscall_counts(summary: str) -> dict[str, int]:
    """strace -c's table as {syscall: calls}."""
    counts = {}
    for line in summary.splitlines():
        fields = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(fields) >= 5 and re.fullmatch(r"[\d.]+", fields[0]) and fields[3].isdigit():
            counts[fields[-1]] = int(fields[3])
    return counts


def _connect_when_ready(path: str) -> Optional[socket.socket]:
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


def count_syscalls(command: Sequence[str], path: str, syscalls: Sequence[str],
                   directory: str, talk: Callable[[socket.socket], None]) -> dict[str, int]:
    """Runs the server `command` (listening on the Unix socket `path`) under strace, calls
    `talk` with one connection to it, closes that, stops the server with SIGTERM and returns
    how many times it made each of `syscalls`, start-up and exit included. Skips the test
    when strace is missing or cannot trace here."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("needs strace (apt-get install strace)")
    summary = os.path.join(directory, "strace.txt")
    traced = subprocess.Popen(
        [strace, "-f", "-c", "-o", summary, "-e", "trace=" + ",".join(syscalls), *command],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = _connect_when_ready(path)
        if client is None:
            traced.kill()
            error = traced.communicate(timeout=STOP_TIMEOUT)[1].decode(errors="replace")
            if "ptrace" in error or "Operation not permitted" in error:
                pytest.skip(f"strace cannot trace here: {error.strip()}")
            pytest.fail(f"{command[0]} under strace did not listen on {path}: {error}")
        with client:
            talk(client)
        # The server is strace's child: a SIGTERM to it is the server's clean stop, and
        # strace writes its summary once the server has exited.
        with open(f"/proc/{traced.pid}/task/{traced.pid}/children") as file:
            children = file.read().split()
        assert children, "strace has no child"
        os.kill(int(children[0]), signal.SIGTERM)
        traced.wait(STOP_TIMEOUT)
    finally:
        if traced.poll() is None:
            traced.kill()
            traced.wait()
    with open(summary) as file:
        return syscall_counts(file.read())
