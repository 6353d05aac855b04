"""A toy server on a Unix socket that misbehaves on request, for chapter 13's tests of the
fixture (serve_on_unix_socket): each way a server can be slow, broken or untidy, so that
the fixture is seen to cope with it.

    python3 toy_app_server.py [unix:]PATH [--listen-after S] [--bind-early] [--never-listen]
        [--full-queue] [--exit-at-once] [--leave-socket] [--ignore-sigterm] [--fork-worker]
        [--print-first BYTES] [--pid-file F] [--signal-file F]

It answers every connection with a fixed HTTP response. On SIGTERM it removes its socket
file (unless --leave-socket) and exits 0; --signal-file records the signal's name first.
--pid-file gets one line per process: the server's pid, then its worker's (--fork-worker).
--bind-early binds before the --listen-after wait (the file exists, connect() is refused);
--full-queue listens with a backlog of 0, fills it with a connection of its own and never
accepts (connect() then blocks); --print-first prints that many bytes before anything else.
"""

import argparse
import os
import signal
import socket
import sys
import threading

RESPONSE = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--listen-after", type=float, default=0.0)
    parser.add_argument("--bind-early", action="store_true")
    parser.add_argument("--full-queue", action="store_true")
    parser.add_argument("--print-first", type=int, default=0)
    parser.add_argument("--never-listen", action="store_true")
    parser.add_argument("--exit-at-once", action="store_true")
    parser.add_argument("--leave-socket", action="store_true")
    parser.add_argument("--ignore-sigterm", action="store_true")
    parser.add_argument("--fork-worker", action="store_true")
    parser.add_argument("--pid-file")
    parser.add_argument("--signal-file")
    options = parser.parse_args()
    options.path = options.path.removeprefix("unix:")  # as gunicorn's --bind takes it
    if "{path}" in options.path:  # fail at once, rather than make a file called {path}
        print(f"toy_app_server: cannot start: {options.path}: the placeholder was not replaced",
              flush=True)
        return 2

    def record_pid() -> None:
        if options.pid_file:
            with open(options.pid_file, "a") as pid_file:
                pid_file.write(f"{os.getpid()}\n")

    record_pid()
    if options.print_first:  # a chatty start: more than a pipe nobody reads can hold
        sys.stdout.write("." * options.print_first + "\n")
        sys.stdout.flush()
    if options.exit_at_once:
        print(f"toy_app_server: cannot start: {options.path}: pretend configuration error",
              flush=True)
        return 3

    def stop(number, frame) -> None:
        if options.signal_file:
            with open(options.signal_file, "w") as signal_file:
                signal_file.write(signal.Signals(number).name)
        if not options.leave_socket and not options.never_listen:
            os.unlink(options.path)
        os._exit(0)

    signal.signal(signal.SIGTERM, signal.SIG_IGN if options.ignore_sigterm else stop)
    if options.fork_worker and os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a worker that outlives its master
        record_pid()
        signal.pause()
        return 0
    if options.never_listen:
        print("toy_app_server: busy, not listening yet", flush=True)
        signal.pause()
        return 0
    # The slow start being shown: a server busy before it listens (importing, migrating).
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if options.bind_early:
        listener.bind(options.path)
    threading.Event().wait(options.listen_after)
    if not options.bind_early:
        listener.bind(options.path)
    if options.full_queue:
        listener.listen(0)
        queued = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        queued.connect(options.path)  # the one connection a backlog of 0 lets wait
        print("toy_app_server: listening, never accepting", flush=True)
        signal.pause()
        return 0
    listener.listen()
    print(f"toy_app_server: listening on {options.path}", flush=True)
    while True:
        connection, _ = listener.accept()
        with connection:
            try:
                connection.sendall(RESPONSE)
            except OSError:  # the readiness probe closes at once
                pass


if __name__ == "__main__":
    sys.exit(main())
