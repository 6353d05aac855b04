#!/usr/bin/python3
"""socket_guard.py: look at a socket path before a server binds it, as chapter 05's probe does.

Every server in this chapter removes a socket it finds at its path, even one another server
still listens on, and takes the path over. Run this first, and a second instance refuses to
start instead:

    python3 socket_guard.py /run/app/app.sock                     # a check: ExecStartPre=
    python3 socket_guard.py /run/app/app.sock -- uvicorn --uds /run/app/app.sock app:app

What it finds at the path, and what it does:
    nothing               exit 0
    a stale socket        removes it (connect() was refused: nobody listens), exit 0
    a live socket         exit 1: "another instance is serving"; the file stays
    anything else         exit 1, the file stays: a regular file, a directory or a symbolic
                          link is never deleted (the path may be a typo for /etc/passwd)
With `-- COMMAND...` it then replaces itself with COMMAND (exec: same pid, so a process
manager's signals reach the server). Only connect()'s ECONNREFUSED proves a socket stale:
any other error (EACCES, EAGAIN for a full queue) leaves it alone.
The test: tests/integration/test_lesson13_cleanup.py.
"""
import errno
import os
import socket
import stat
import sys


# [guard]
def guard(path):
    """None if the server may bind `path` (a stale socket there was removed), else why not."""
    try:
        mode = os.lstat(path).st_mode  # lstat: a symbolic link is judged as a link
    except FileNotFoundError:
        return None
    if not stat.S_ISSOCK(mode):
        return f"{path} exists and is not a socket: not touching it"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.setblocking(False)  # a live server with a full queue answers EAGAIN at once
        try:
            probe.connect(path)
        except OSError as error:
            if error.errno != errno.ECONNREFUSED:
                return f"{path}: connect() failed with {errno.errorcode[error.errno]}: leaving it"
        else:
            return f"{path}: another instance is serving on it"
    os.unlink(path)  # refused: nobody listens, the file is stale
    print(f"socket_guard: removed the stale socket {path}", file=sys.stderr)
    return None
# [guard]


def main(argv):
    if len(argv) < 2 or (len(argv) > 2 and argv[2] != "--") or len(argv) == 3:
        sys.exit("usage: socket_guard.py PATH [-- COMMAND [ARGUMENT...]]")
    problem = guard(argv[1])
    if problem is not None:
        sys.exit(f"socket_guard: {problem}")
    if len(argv) > 3:
        os.execvp(argv[3], argv[3:])


if __name__ == "__main__":
    main(sys.argv)
