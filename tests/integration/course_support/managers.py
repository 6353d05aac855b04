"""The managers that run a server for an operator (supervisord; Apache's and others' logs):
helpers shared by chapter 10's and chapter 13's tests of the files under nginx/supervisor/ and
nginx/systemd/, which run the real programs with their paths moved to a test's directory."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from .processes import Server, processes, shorten
from .programs import REPO_ROOT


def rewritten(path: Path, replacements: dict[str, str]) -> str:
    """The text of an operator's file with each key replaced by its value; fails, saying
    so, if the file no longer contains a key (the test would then prove nothing)."""
    text = path.read_text()
    for old, new in replacements.items():
        assert old in text, (f"{path.relative_to(REPO_ROOT)} does not contain {old!r} any "
                             f"more: the test that runs it needs updating")
        text = text.replace(old, new)
    return text


def write_file(path: str, text: str) -> str:
    with open(path, "w") as file:
        file.write(text)
    return path


def processes_mentioning(text: str) -> set[int]:
    """Live processes whose command line contains `text` (a test's directory)."""
    found = set()
    for pid in processes(lambda info: True):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if text.encode() in cmdline.read():
                    found.add(pid)
        except OSError:  # it ended meanwhile
            pass
    return found


class LoggingServer(Server):
    """A Server (stopped and reaped at teardown) for a program that writes its own log file:
    failure reports show that file too."""

    def __init__(self, program: str, address: str, command: list[str], cwd: str,
                 log_file: str) -> None:
        super().__init__(program, address, command, cwd=cwd)
        self.log_file = log_file

    def log(self) -> str:
        try:
            return Path(self.log_file).read_text(errors="replace")
        except OSError:
            return "(no such file)\n"

    def describe(self) -> str:
        return (f"{super().describe()}\n--- {self.log_file} ---\n{shorten(self.log())}"
                f"--- end of {os.path.basename(self.log_file)} ---")


@pytest.fixture
def nothing_left_running(short_dir: str):
    """After the test, and after start_server has stopped everything it knows of: any
    process whose command line still names the test's directory (an Apache child, an
    orphaned http_min) is killed, and the test fails. Request it before start_server, so
    that it is torn down after it."""
    yield
    left = processes_mentioning(short_dir + "/")
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if left:
        pytest.fail(f"processes outlived the test and were killed: {sorted(left)}",
                    pytrace=False)


def supervisord_program() -> str:
    """The supervisord executable (Debian package supervisor, which scripts/setup installs),
    or the test is skipped saying so."""
    found = shutil.which("supervisord")
    if found is None:
        pytest.skip("supervisord is not installed: run ./scripts/setup "
                    "(or sudo apt-get install supervisor)")
    return found


SUPERVISORD_CONFIG = """\
; Written by a test (course_support/managers.py): a supervisord of the test's own.
[supervisord]
nodaemon=true
logfile={dir}/supervisord.log
pidfile={dir}/supervisord.pid
childlogdir={dir}/log

[include]
files = {include}
"""
