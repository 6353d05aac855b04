"""Checking how a course program refuses a bad command line (issue 11): exit status 2,
nothing on stdout, and on stderr exactly one line that says what is wrong, followed by
the usage line (raw_sockets::run_program's contract for a UsageError)."""

from __future__ import annotations

import subprocess


def assert_refused_usage(result: subprocess.CompletedProcess, program: str,
                         *fragments: str) -> str:
    """Asserts that `program` refused its command line as the course's programs do, and
    that its one line of error contains every one of `fragments` (the option, the bad
    text). Returns that line."""
    described = (f"exit status {result.returncode}\n--- stdout ---\n{result.stdout}"
                 f"--- stderr ---\n{result.stderr}")
    assert result.returncode == 2, described
    assert result.stdout == "", described
    lines = result.stderr.splitlines()
    assert len(lines) == 2, f"expected an error line and a usage line\n{described}"
    error, usage = lines
    assert error.startswith(f"{program}: "), described
    assert usage.startswith(f"usage: {program} "), described
    for fragment in fragments:
        assert fragment in error, f"{fragment!r} is not named in the error line\n{described}"
    return error
