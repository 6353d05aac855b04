"""What every app in this folder answers, whichever server runs it.

    GET /        {"server": "uvicorn", "app": "fastapi_app"}: who answered
    GET /whoami  {"server", "client", "scheme", "forwarded_for", "pid"}: the client's address
                 as the server reported it to the app (over a Unix socket there is no IP
                 address to report), the scheme it believed, the X-Forwarded-For header the
                 app received, and the pid of the process that answered (a worker's)
    GET /pid     the pid alone, as text: `kill $(curl -s --unix-socket S http://app/pid)`

The apps only turn a request into these answers: the frameworks differ in how they name
the client and the scheme, not in what is asked of them.
"""
import os
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
