"""What every app in this folder answers, whichever server runs it.

    GET /        {"server": "uvicorn", "app": "fastapi_app"}: who answered
    GET /whoami  {"server", "client", "scheme", "forwarded_for", "pid"}: the client's address
                 as the server reported it to the app (over a Unix socket there is no IP
                 address to report), the scheme it believed, the X-Forwarded-For header the
                 app received, and the pid of the process that answered (a worker's)
    GET /pid     the pid alone, as text: `kill $(curl -s --unix-socket S http://app/pid)`

The apps only turn a request into these answers: the frameworks differ in how they name
the client and the scheme, not in what is asked of them. The two apps that are their own
servers (aiohttp_app.py, asyncio_app.py) also share their command line and their stop.
"""
import argparse
import asyncio
import os
import signal
import sys


def server_name(candidates):
    """The server that imported this app: an ASGI app runs under uvicorn or hypercorn, and
    only the one running it is loaded."""
    return next((name for name in candidates if name in sys.modules), "unknown")


def hello(server, app):
    return {"server": server, "app": app}


def whoami(server, client, scheme, forwarded_for):
    return {"server": server, "client": client, "scheme": scheme,
            "forwarded_for": forwarded_for, "pid": os.getpid()}


def pid_text():
    return str(os.getpid())


def listen_arguments(description):
    """--uds PATH and/or --port PORT, from the command line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--uds", help="a Unix socket path to listen on")
    parser.add_argument("--port", type=int, help="a TCP port on 127.0.0.1 (0: any free one)")
    args = parser.parse_args()
    if not args.uds and args.port is None:
        parser.error("give --uds PATH, --port PORT or both")
    return args


async def until_stopped():
    """Returns at the first SIGTERM or SIGINT (Ctrl-C), so the caller can close its
    listeners and exit 0."""
    stop = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signal_number, stop.set)
    await stop.wait()
