"""Who may connect to a socket file: its mode, and connect() tried as another user.

    mode_of("/run/app/app.sock")                       # 0o660
    connect_as("/run/app/app.sock")                    # as nobody: "EACCES"
    connect_as("/run/app/app.sock", groups=[33])       # nobody in group www-data: "connected"

connect() on a Unix socket needs write permission on the socket file and search permission
on every directory of its path (unix(7)); only root may start a process as another user.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Sequence

from .processes import NOBODY, run
from .sockets import connect_to

PYTHON = "/usr/bin/python3"

# Run as the other user: connect, then print "connected" or the errno's name.
CONNECT_PROGRAM = """
import errno, socket, sys
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
    try:
        client.connect(sys.argv[1])
    except OSError as error:
        print(errno.errorcode[error.errno])
    else:
        print("connected")
"""


def mode_of(path: str) -> int:
    """The permission bits of the file at `path` (lstat: the socket file itself)."""
    return stat.S_IMODE(os.lstat(path).st_mode)


def connect_as(path: str, uid: int = NOBODY, gid: int = NOBODY,
               groups: Sequence[int] = ()) -> str:
    """What connect() to `path` gives a process of user `uid`, group `gid` and supplementary
    `groups` (default: nobody, nogroup, no others): "connected", or "EACCES", "ENOENT"..."""
    result = run([PYTHON, "-c", CONNECT_PROGRAM, path], cwd="/", user=uid, group=gid,
                 extra_groups=list(groups), who=f" (as uid {uid})")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def connect_result(path: str) -> str:
    """What connect() to `path` gives this process: "connected" or the errno's name."""
    try:
        connect_to(f"unix:{path}", timeout=2.0).close()
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error))
    return "connected"
