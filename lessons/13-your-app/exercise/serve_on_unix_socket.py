"""Chapter 13's exercise: the core of a test fixture for your own app, a context manager that
runs a server on a Unix socket for the length of a `with` block.

    with serve_on_unix_socket(["uvicorn", "app:app", "--uds", "{path}"]) as path:
        ...  # the server accepts connections on `path` here

Write it here; `scripts/exercise 13` runs chapter 13's fixture tests on it. They start a toy
server that is slow to listen, exits at once, never listens, never accepts, prints a lot,
ignores SIGTERM, forks a worker or leaves its socket file, and check what your function does
about each.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional, Sequence

READY_TIMEOUT = 10.0  # seconds for the server to accept its first connection
STOP_TIMEOUT = 10.0  # seconds for it to exit after SIGTERM


@contextlib.contextmanager
def serve_on_unix_socket(command: Sequence[str], directory: Optional[str] = None, *,
                         leaves_socket_file: bool = False,
                         ready_timeout: float = READY_TIMEOUT,
                         stop_timeout: float = STOP_TIMEOUT) -> Iterator[str]:
    """Runs `command`, every `{path}` in it replaced by the path of a socket file
    `app.sock` in `directory`, and yields that path once the server accepts connections.

    - `{path}` may be a whole argument or part of one (`--bind`, `unix:{path}`).
    - `directory`: None means a new directory with a short path, removed afterwards (also
      when the server fails to start). A path too long for a Unix socket is refused, before
      anything is started, with an exception whose message names the limit: 107 bytes, of
      sun_path's 108 (the NUL is the last). Bytes, not characters.
    - Ready means a connection to the socket succeeded; no try may block past the deadline
      (a server whose listen queue is full makes connect() wait). If the server exits
      first, raise at once, saying it "exited" and with what it printed; if it is not
      ready after `ready_timeout` seconds, raise, saying "within {ready_timeout} s" and
      with what it printed. Either way, nothing you started may keep running. The server
      may print a lot before it listens: that must not stop it.
    - At the end (also when the `with` block raised: that exception goes on unchanged) the
      server is asked to stop with SIGTERM and given `stop_timeout` seconds ("did not exit
      within {stop_timeout} s" if it did not); then nothing of it may be left: not its
      workers, and not a zombie. A server that had ended before it was asked to stop is
      an error ("ended before it was asked to stop").
    - A server that exits but leaves its socket file behind is an error ("left its socket
      file"), unless `leaves_socket_file`; the file is removed either way.
    - Any exception type will do; the tests read its message. Close whatever you open
      (sockets, files): the tests look for ResourceWarning.
    """
    raise NotImplementedError(
        "TODO(lesson13): write serve_on_unix_socket() in "
        "lessons/13-your-app/exercise/serve_on_unix_socket.py (its docstring says what it "
        "must do; `scripts/exercise 13 --hint` helps)")
    yield ""  # a generator, as contextlib.contextmanager needs
