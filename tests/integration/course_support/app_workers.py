"""Chapter 13's Python servers (uvicorn, gunicorn, hypercorn, aiohttp) serving one tiny app
on a Unix socket, for the tests of workers, socket activation and forwarded headers.

(A stand-in until the shared course_support/app_servers.py and lessons/13-your-app/apps/
exist: the merge unifies them. The apps here are plain ASGI, WSGI and aiohttp callables, so
that a server starts in a fraction of a second.)

Each app answers
    GET /pid     the pid of the process that served the request
    GET /whoami  JSON: "client" and "scheme" as the server reported them to the app, and the
                 X-Forwarded-For / X-Forwarded-Proto headers it received

    server = start_app(start_server, "uvicorn", uvicorn_command("--uds", path), path)
    assert pid_at(path) in {server.process.pid} | children_of(server.process.pid)
"""

from __future__ import annotations

import json
import os
import sys
from typing import Optional, Sequence

from .http import HttpConnection, Response, http_request
from .processes import Server
from .sockets import connect_to
from .timeouts import IO_TIMEOUT

MODULE = "course_support.app_workers"
SUPPORT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Debian's packages: /usr/bin/python3 sees them, a python3 from pyenv may not.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


# --------------------------------------------------------------------------------------
# The apps


def _answer(path: str, client, scheme: str, forwarded_for: Optional[str],
            forwarded_proto: Optional[str]) -> tuple[int, bytes]:
    if path == "/pid":
        return 200, str(os.getpid()).encode()
    if path == "/whoami":
        return 200, json.dumps({"client": client, "scheme": scheme,
                                "x_forwarded_for": forwarded_for,
                                "x_forwarded_proto": forwarded_proto}).encode()
    if path == "/":
        return 200, b"hello from a Python app\n"
    return 404, b"not found\n"


async def asgi_app(scope, receive, send):
    """For uvicorn and hypercorn: scope["client"] and scope["scheme"] are what they
    report (uvicorn rewrites them from X-Forwarded-* when it trusts the peer)."""
    if scope["type"] != "http":
        return
    headers = {name.decode("latin-1").lower(): value.decode("latin-1")
               for name, value in scope["headers"]}
    client = list(scope["client"]) if scope.get("client") else None
    status, body = _answer(scope["path"], client, scope["scheme"],
                           headers.get("x-forwarded-for"), headers.get("x-forwarded-proto"))
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def wsgi_app(environ, start_response):
    """For gunicorn: REMOTE_ADDR and wsgi.url_scheme are what it reports."""
    status, body = _answer(environ.get("PATH_INFO", "/"), environ.get("REMOTE_ADDR"),
                           environ["wsgi.url_scheme"], environ.get("HTTP_X_FORWARDED_FOR"),
                           environ.get("HTTP_X_FORWARDED_PROTO"))
    start_response(f"{status} {'OK' if status == 200 else 'Not Found'}",
                   [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


AIOHTTP_MAIN = f"""
import sys
from aiohttp import web
from {MODULE} import _answer

async def handle(request):
    status, body = _answer(request.path, request.remote, request.scheme,
                           request.headers.get("X-Forwarded-For"),
                           request.headers.get("X-Forwarded-Proto"))
    return web.Response(status=status, body=body)

app = web.Application()
app.router.add_get("/{{tail:.*}}", handle)
web.run_app(app, path=sys.argv[1], print=lambda *args: print(*args, flush=True))
"""


# --------------------------------------------------------------------------------------
# Command lines


def uvicorn_command(*options: str) -> list[str]:
    """uvicorn serving asgi_app, with `options` ("--uds", PATH, "--workers", "2", ...)."""
    return [PYTHON, "-m", "uvicorn", f"{MODULE}:asgi_app", "--no-access-log",
            "--log-level", "warning", *options]


def gunicorn_command(*options: str) -> list[str]:
    """gunicorn serving wsgi_app, with `options` ("--bind", "unix:PATH", ...)."""
    return [PYTHON, "-m", "gunicorn", *options, f"{MODULE}:wsgi_app"]


def hypercorn_command(*options: str) -> list[str]:
    return [PYTHON, "-m", "hypercorn", *options, f"{MODULE}:asgi_app"]


def aiohttp_command(path: str) -> list[str]:
    """aiohttp's web.run_app(app, path=PATH): a UnixSite."""
    return [PYTHON, "-c", AIOHTTP_MAIN, path]


def app_environment() -> dict[str, str]:
    """What the servers need to import this module."""
    return {"PYTHONPATH": SUPPORT_DIR + os.pathsep + os.environ.get("PYTHONPATH", "")}


def start_app(start_server, program: str, command: Sequence[str], path: str, *,
              owns_socket_file: bool = True, env: Optional[dict] = None,
              pass_fds: Sequence[int] = ()) -> Server:
    """Starts `command` (a server listening on the Unix socket at `path`) under the test's
    start_server (stopped, reaped and checked at teardown), once a connection succeeds.
    `owns_socket_file`: False if the server does not remove the file when it stops."""
    server = start_server.keep(Server(program, f"unix:{path}", command,
                                      owns_socket_file=owns_socket_file,
                                      cwd=start_server.directory,
                                      env={**app_environment(), **(env or {})},
                                      pass_fds=pass_fds))
    server.wait_until_accepting()
    return server


# --------------------------------------------------------------------------------------
# Talking to them


def app_request(path: str, target: str, headers: Sequence[tuple[str, str]] = (),
                timeout: float = IO_TIMEOUT) -> Response:
    """GET `target` on a new connection to the Unix socket at `path`."""
    with HttpConnection(connect_to(f"unix:{path}", timeout)) as connection:
        connection.send(http_request("GET", target, headers))
        return connection.read_response()


def pid_at(path: str, timeout: float = IO_TIMEOUT) -> int:
    response = app_request(path, "/pid", timeout=timeout)
    assert response.status == 200, response
    return int(response.body)


def whoami_at(path: str, headers: Sequence[tuple[str, str]] = ()) -> dict:
    response = app_request(path, "/whoami", headers)
    assert response.status == 200, response
    return response.json()
